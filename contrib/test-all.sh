#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root) and runs the whole
# test suite: unit tests, integration tests against a private dockerd, e2e
# tests with the AWS CLI and boto3, the service booted under systemd
# (tests/boot), `make distcheck`, and the unit and integration tests once more
# under AddressSanitizer + UBSan (tests/boot, which checks the installed unit
# and not the code, only in the first build).  The first build also runs the
# multi-node Swarm suite, and the integration and e2e suites again in docker
# mode swarm.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_ROOT:-$src/build}
jobs=$(nproc)

"$src/contrib/install-deps.sh" test

cd "$src"
[ -x configure ] && [ configure -nt configure.ac ] || ./autogen.sh >/dev/null

summary=()
count_results() {
	# Counts test cases, not programs: Criterion's synthesis lines and
	# pytest's closing line, from one build's logs.
	local dir=$1 label=$2 pass fail
	read -r pass fail < <(
		{
			grep -h 'Synthesis:' "$dir"/tests/unit/*.log 2>/dev/null |
				sed -E 's/.*Passing: ([0-9]+) \| Failing: ([0-9]+) \| Crashing: ([0-9]+).*/\1 \2 \3/'
			# Each pytest run's closing line ("3 failed, 160 passed, 2 skipped in …").
			grep -hE '^(=+ )?[0-9]+ (passed|failed|errors?)|[0-9]+ failed, [0-9]+ passed' \
				"$dir"/tests/run-*-tests.log 2>/dev/null |
				awk '{ p = 0; f = 0
				       for (i = 2; i <= NF; i++) {
					       if ($i ~ /^passed/) p = $(i - 1)
					       if ($i ~ /^(failed|errors?)/) f += $(i - 1)
				       }
				       print p, f, 0 }'
		} | awk '{ p += $1; f += $2 + $3 } END { print p + 0, f + 0 }'
	)
	summary+=("$label: $pass passed, $fail failed")
}

echo "== build and test (warnings are errors)"
mkdir -p "$build/main"
(cd "$build/main" && "$src/configure" --enable-werror >/dev/null &&
	make -j"$jobs" >/dev/null &&
	make -j"$jobs" check VERBOSE=1) || { cat "$build/main/tests/test-suite.log" 2>/dev/null | tail -200; exit 1; }

echo "== multi-node Swarm cluster (tests/swarm)"
swarm_rc=0
(cd "$build/main" && ENDPOINTD_SWARM_TIMEOUT=300 timeout 420 make -C tests check-swarm) \
	>"$build/main/tests/run-swarm-tests.log" 2>&1 || swarm_rc=$?
tail -n 30 "$build/main/tests/run-swarm-tests.log"
if [ "$swarm_rc" -ne 0 ] && ! grep -q '^run-swarm-tests: SKIP' "$build/main/tests/run-swarm-tests.log"; then
	exit 1
fi

echo "== integration and e2e suites again in docker mode swarm, on a single-node swarm"
swarm_e2e_rc=0
(cd "$build/main" && timeout 900 make -C tests check-swarm-e2e) \
	>"$build/main/tests/run-swarm-e2e-tests.log" 2>&1 || swarm_e2e_rc=$?
tail -n 30 "$build/main/tests/run-swarm-e2e-tests.log"
if [ "$swarm_e2e_rc" -ne 0 ] && ! grep -q '^run-swarm-e2e-tests: SKIP' "$build/main/tests/run-swarm-e2e-tests.log"; then
	exit 1
fi
count_results "$build/main" "default build"

echo "== distcheck (Docker suites run in the builds above)"
(cd "$build/main" && ENDPOINTD_SKIP_DOCKER_TESTS=1 make -j"$jobs" distcheck >/dev/null)

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
mkdir -p "$build/asan"
(cd "$build/asan" && "$src/configure" --enable-werror CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" >/dev/null &&
	make -j"$jobs" >/dev/null &&
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ENDPOINTD_SKIP_BOOT_TESTS=1 make -j"$jobs" check VERBOSE=1) || { cat "$build/asan/tests/test-suite.log" 2>/dev/null | tail -200; exit 1; }
count_results "$build/asan" "sanitizer build"

echo "== fuzzing: every seed corpus replayed, each harness ${FUZZ_CI_SECONDS:-10} s"
(cd "$build/main" && make -j"$jobs" fuzz-ci FUZZ_CI_SECONDS="${FUZZ_CI_SECONDS:-10}") || exit 1

printf '%s\n' "${summary[@]}"
total_pass=0 total_fail=0
for line in "${summary[@]}"; do
	p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
