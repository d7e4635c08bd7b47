#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root) and runs the main
# job: builds endpointd, finds a Docker Engine (the host's if one answers on
# /var/run/docker.sock, else a private dockerd of its own), builds the demo
# model image, starts endpointd on the example config, creates an endpoint
# through the API with the AWS CLI and shows it reach InService.
#
# It then keeps the daemon running until Ctrl-C; QUICKSTART_EXIT=1 deletes the
# endpoint and stops everything as soon as it is InService instead.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_ROOT:-$src/build}/main
url=http://127.0.0.1:8780
endpoint=${QUICKSTART_ENDPOINT:-demo}

"$src/contrib/install-deps.sh" run

echo "== building endpointd"
cd "$src"
[ -x configure ] && [ configure -nt configure.ac ] || ./autogen.sh >/dev/null
mkdir -p "$build"
(cd "$build" && { [ -f Makefile ] || "$src/configure" --disable-tests >/dev/null; } && make -j"$(nproc)" >/dev/null)

private=""
daemon_pid=""
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
	if [ -n "$private" ]; then
		echo "== stopping the private dockerd"
		"$src/contrib/private-dockerd.sh" stop "$private" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

if curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
	sock=/var/run/docker.sock
	echo "== using the host's Docker Engine at $sock"
else
	private=$(mktemp -d /tmp/edk.XXXXXX)
	echo "== no Docker Engine answers on /var/run/docker.sock: starting a private one in $private"
	sock=$("$src/contrib/private-dockerd.sh" start "$private")
fi
export DOCKER_HOST=unix://$sock

echo "== building the demo model image (FROM scratch)"
"$src/contrib/demo-model/build-image.sh" --docker-host "$DOCKER_HOST" >/dev/null

echo "== starting endpointd on conf/endpointd.yaml"
"$build/daemon/endpointd" --config "$src/conf/endpointd.yaml" &
daemon_pid=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "$url/" && break
	kill -0 "$daemon_pid" 2>/dev/null || { echo "endpointd exited" >&2; exit 1; }
	sleep 0.1
done

export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
aws() { /usr/bin/aws --endpoint-url "$url" "$@"; }

if aws sagemaker describe-endpoint --endpoint-name "$endpoint" >/dev/null 2>&1; then
	# A run stopped with Ctrl-C leaves it in the state dir: endpointd restored it.
	echo "== endpoint $endpoint exists already (restored from /var/lib/endpointd)"
else
	echo "== aws sagemaker create-endpoint --endpoint-name $endpoint --endpoint-config-name demo-config"
	aws sagemaker create-endpoint --endpoint-name "$endpoint" --endpoint-config-name demo-config
fi
start=$(date +%s.%N)
status=""
while :; do
	status=$(aws sagemaker describe-endpoint --endpoint-name "$endpoint" --query EndpointStatus --output text)
	printf '   %-10s after %s s\n' "$status" "$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')"
	case $status in InService | Failed) break ;; esac
	sleep 0.2
done
aws sagemaker describe-endpoint --endpoint-name "$endpoint"
[ "$status" = InService ] || exit 1

if [ "${QUICKSTART_EXIT:-0}" = 1 ]; then
	aws sagemaker delete-endpoint --endpoint-name "$endpoint"
	aws sagemaker wait endpoint-deleted --endpoint-name "$endpoint"
	echo "== endpoint $endpoint deleted; stopping"
	exit 0
fi
cat <<EOT

endpointd is serving on $url with endpoint "$endpoint" InService. Try:
  aws --endpoint-url $url sagemaker list-endpoints
  aws --endpoint-url $url sagemaker delete-endpoint --endpoint-name $endpoint
Ctrl-C stops endpointd (the model containers keep running${private:+; the private dockerd is stopped with them}).
EOT
wait "$daemon_pid"
