#!/bin/bash
# Prints the path of a minimal Debian 12 tree that boots under
# systemd-nspawn and runs endpointd (debootstrap --variant=minbase, systemd,
# and endpointd's runtime libraries), building it first when the cache has
# none.  Usage: make-tree.sh CACHE_DIR
#
# The tree is made once and reused (tests copy it before booting it); its
# name carries a hash of what goes into it, so that a change here makes a
# new one.  The mirror is the one apt uses here (deb.debian.org otherwise);
# ENDPOINTD_BOOT_MIRROR overrides it.
set -euo pipefail

cache=${1:?usage: make-tree.sh CACHE_DIR}
suite=bookworm

# The first Debian archive in apt's sources (deb822 or one-line style) that
# serves the suite itself, not -security or -updates.
apt_mirror() {
	{
		awk '/^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "'$suite'") print uri }' \
			/etc/apt/sources.list.d/*.sources 2>/dev/null
		sed -E 's/\[[^]]*\]//' /etc/apt/sources.list 2>/dev/null |
			awk '$1 == "deb" && $3 == "'$suite'" { print $2 }'
	} | grep -v -- '-security' | head -n 1 || true
}
mirror=${ENDPOINTD_BOOT_MIRROR:-$(apt_mirror)}
mirror=${mirror:-http://deb.debian.org/debian}
# systemd to boot, dbus for systemctl and systemd-analyze, the libraries
# endpointd and endpointctl link.
pkgs=systemd,systemd-sysv,dbus,libevent-2.1-7,libevent-openssl-2.1-7,libjansson4,libyaml-0-2,libcurl4,zlib1g

key=$(printf '%s %s %s' "$suite" "$pkgs" 1 | sha256sum | cut -c1-12)
tree=$cache/$suite-minbase-$key
if [ -e "$tree/.complete" ]; then
	echo "$tree"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -e "$tree/.complete" ]; then
	rm -rf "$tree.tmp"
	echo "make-tree: debootstrap $suite into $tree (once; cached)" >&2
	if ! debootstrap --variant=minbase --include="$pkgs" "$suite" "$tree.tmp" "$mirror" \
		>"$cache/debootstrap.log" 2>&1; then
		tail -20 "$cache/debootstrap.log" >&2
		rm -rf "$tree.tmp"
		exit 1
	fi
	# Nothing to fetch later, nothing left of the download.
	rm -rf "$tree.tmp"/var/cache/apt/archives/*.deb
	touch "$tree.tmp/.complete"
	rm -rf "$tree"
	mv "$tree.tmp" "$tree"
fi
echo "$tree"
