#!/bin/bash
# build-image.sh: compile demo-model statically and build its FROM scratch
# image with the legacy builder (no registry is reachable, nothing is pulled).
#
#   build-image.sh [--docker-host unix:///path/docker.sock]
#                  [--tag endpointd-demo-model:latest]
#
# The binary and build context go to $BUILD_DIR when set, else to a temporary
# directory removed on exit, so the source tree may be read-only (distcheck).
# Rebuilding an unchanged binary reuses the cached layer and is a no-op.
# Environment: CC (default gcc), DOCKER (default /usr/bin/docker).
set -euo pipefail

usage() {
	echo "usage: $0 [--docker-host unix:///path/docker.sock] [--tag NAME:TAG]" >&2
	exit 2
}

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tag=endpointd-demo-model:latest
docker_host=${DOCKER_HOST:-}
cc=${CC:-gcc}
docker=${DOCKER:-/usr/bin/docker}

while [ $# -gt 0 ]; do
	case $1 in
	--docker-host) [ $# -ge 2 ] || usage; docker_host=$2; shift 2 ;;
	--docker-host=*) docker_host=${1#*=}; shift ;;
	--tag) [ $# -ge 2 ] || usage; tag=$2; shift 2 ;;
	--tag=*) tag=${1#*=}; shift ;;
	-h|--help) usage ;;
	*) echo "$0: unknown argument: $1" >&2; usage ;;
	esac
done

command -v "$cc" >/dev/null 2>&1 ||
	{ echo "$0: C compiler '$cc' not found (set CC or install gcc)" >&2; exit 1; }
[ -x "$docker" ] ||
	{ echo "$0: docker client '$docker' not found (set DOCKER or install docker.io)" >&2; exit 1; }

if [ -n "${BUILD_DIR:-}" ]; then
	out=$BUILD_DIR
	mkdir -p "$out"
else
	out=$(mktemp -d "${TMPDIR:-/tmp}/demo-model.XXXXXX")
	trap 'rm -rf -- "$out"' EXIT
fi

"$cc" -std=gnu11 -O2 -static -pthread \
	-Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes \
	-Wstrict-prototypes -Wwrite-strings -Werror \
	-o "$out/demo-model" "$src_dir/demo-model.c" ||
	{ echo "$0: compiling demo-model failed (is static glibc, libc6-dev, installed?)" >&2; exit 1; }
# gcc output is deterministic, so an unchanged source hits the COPY cache.
strip "$out/demo-model" 2>/dev/null || true
cp "$src_dir/Dockerfile" "$out/Dockerfile"
chmod 0644 "$out/Dockerfile"
chmod 0755 "$out/demo-model"

host_args=()
[ -z "$docker_host" ] || host_args=(-H "$docker_host")
DOCKER_BUILDKIT=0 "$docker" "${host_args[@]}" build -q -t "$tag" \
	-f "$out/Dockerfile" "$out" >/dev/null
echo "$tag"
