#!/usr/bin/env bash
# Installs what endpointd needs to build, run and test, from Debian's packages.
# Usage: install-deps.sh [run|test]   (default: test, which is a superset)
set -euo pipefail

what=${1:-test}
pkgs=(build-essential autoconf automake libtool pkg-config
      libevent-dev libjansson-dev libyaml-dev libcurl4-openssl-dev libsystemd-dev zlib1g-dev libssl-dev
      docker.io awscli curl tar ca-certificates iproute2)
if [ "$what" = test ]; then
	# systemd: systemd-analyze, systemd-socket-activate and systemd-sysusers
	# for tests/systemd (the tests need no running systemd).
	# clang and its sanitizer runtimes: the libFuzzer harnesses (tests/fuzz).
	# debootstrap and systemd-container: tests/boot boots a minimal Debian
	# with endpointd installed under a real systemd (systemd-nspawn); it finds
	# the container's init with pgrep (procps, not on every minimal system).
	# faketime: tests/e2e/test_auth.py runs the AWS CLI with its clock off.
	# openssl: tests/integration/test_tls.py makes its test CA with it.
	pkgs+=(libcriterion-dev python3 python3-boto3 python3-pytest systemd clang libclang-rt-14-dev
	       debootstrap systemd-container procps faketime openssl)
	# tests/js (the AWS SDK for JavaScript): Debian's node and npm, unless a node is there.
	{ [ -x /usr/bin/node ] && [ -x /usr/bin/npm ]; } || pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
