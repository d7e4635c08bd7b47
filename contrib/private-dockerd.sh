#!/bin/bash
# private-dockerd.sh: run a throwaway Docker Engine for tests, all of its state
# under one directory.
#
#   private-dockerd.sh start DIR   start dockerd on unix://DIR/docker.sock,
#                                  wait (<= 60 s) for GET /_ping, print the
#                                  socket path (DIR/docker.sock)
#   private-dockerd.sh stop DIR    remove its containers, stop it (SIGTERM,
#                                  <= 20 s, then SIGKILL), unmount what is left
#                                  under DIR and remove DIR
#   private-dockerd.sh kill DIR    stop the dockerd of DIR (SIGTERM, <= 20 s,
#                                  then SIGKILL) and nothing else: DIR, its
#                                  data and containers stay (the engine stops
#                                  running containers as it goes down)
#   private-dockerd.sh restart DIR kill it if it runs, then start it again on
#                                  the same DIR and print the socket path
#
# Options, before the command:
#   --netns NAME   (start, restart) run dockerd inside the existing network
#                  namespace NAME (/run/netns/NAME, as `ip netns add` makes);
#                  restart and a later start reuse the one recorded in
#                  DIR/netns.  The engine then keeps its default bridge and
#                  iptables rules: both belong to the namespace, so engines
#                  in different namespaces never meet.  Only the network
#                  namespace changes (nsenter --net, not `ip netns exec`,
#                  which remounts /sys and so hides the cgroup mounts dockerd
#                  needs); its mounts stay visible for stop to undo.  /sys
#                  still shows the host's links, so the engine cannot tune
#                  bridges of its own through it (overlay networks log
#                  "enabling default vlan on bridge br0 failed"; bridge and
#                  host-mode ports are unaffected).
#   --sigkill      (kill) SIGKILL the dockerd at once, as a crash would, and
#                  leave its containers (and their ports) running; a later
#                  restart or stop sweeps what is left.  It returns once the
#                  pid is gone (reaped), so that a start right after it does
#                  not find dockerd's pid file still claimed.
#
# Layout: DIR/data (data root), DIR/exec (exec root, containerd's socket),
# DIR/docker.sock, DIR/dockerd.pid, DIR/dockerd.log.
#
# Keep DIR short, e.g. $(mktemp -d /tmp/edk.XXXXXX): containerd puts its
# sockets under DIR/exec and a Unix socket path must fit in 108 bytes.
#
# With iproute2 each engine gets a bridge and subnet of its own and no
# iptables rules, so several can run side by side.  Without it they fall back
# to docker0, and only one dockerd should run per host: every dockerd manages the same docker0
# bridge and the same DOCKER iptables chains, so two of them undo each other's
# set-up (and the one stopping last may tear down what the other still uses).
# Tests should share one private dockerd, not start one each; `start` warns
# when another dockerd is already running.
#
# Environment: DOCKERD (default /usr/sbin/dockerd), DOCKER (default
# /usr/bin/docker), PRIVATE_DOCKERD_ARGS (extra dockerd arguments, split on
# whitespace).
set -euo pipefail

dockerd=${DOCKERD:-/usr/sbin/dockerd}
docker=${DOCKER:-/usr/bin/docker}
start_timeout_s=60
stop_timeout_s=20

usage() {
	echo "usage: $0 [--netns NAME] [--sigkill] start|stop|kill|restart DIR" >&2
	exit 2
}

die() {
	echo "$0: $*" >&2
	exit 1
}

# Does the engine on socket $1 answer GET /_ping?
engine_pings() {
	if command -v curl >/dev/null 2>&1; then
		[ "$(curl -s --max-time 2 --unix-socket "$1" \
			http://localhost/_ping 2>/dev/null)" = OK ]
	else
		timeout 5 "$docker" -H "unix://$1" version >/dev/null 2>&1
	fi
}

# Is pid $1 alive and a dockerd using directory $2?
is_our_dockerd() {
	local cmdline
	[ -r "/proc/$1/cmdline" ] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	case $cmdline in
	*dockerd*"--pidfile $2/dockerd.pid"*) return 0 ;;
	*) return 1 ;;
	esac
}

# Pids of processes whose command line names directory $1 (its containerd and
# shims, should dockerd have died without stopping them).
pids_using_dir() {
	local p comm
	for p in /proc/[0-9]*; do
		comm=$(cat "$p/comm" 2>/dev/null) || continue
		case $comm in
		dockerd | containerd*) ;;
		*) continue ;;
		esac
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- " $1/" &&
			echo "${p#/proc/}"
	done
	return 0
}

# Print the last lines of the log and fail.
fail_with_log() {
	echo "$0: $1; last lines of $2:" >&2
	tail -n 30 "$2" >&2 2>/dev/null || true
	exit 1
}

# Creates (or finds) the bridge of directory $1 with a /24 of its own under
# 10.213.0.0/16 and prints its name; fails when iproute2 is missing.
make_bridge() {
	local dir=$1 br n i subnet
	command -v ip >/dev/null 2>&1 || return 1
	br=edk$(printf '%s' "$dir" | md5sum | cut -c1-8)
	if ! ip link show "$br" >/dev/null 2>&1; then
		n=$((16#$(printf '%s' "$dir" | md5sum | cut -c9-12) % 250 + 1))
		for ((i = 0; i < 250; i++)); do
			subnet=10.213.$(((n + i) % 250 + 1))
			ip -4 addr show | grep -q "inet $subnet\." || break
		done
		ip link add name "$br" type bridge || return 1
		ip addr add "$subnet.1/24" dev "$br" || { ip link del "$br"; return 1; }
	fi
	ip link set "$br" up || return 1
	echo "$br" >"$dir/bridge"
	echo "$br"
}

# Deletes the bridge make_bridge made for directory $1, if any.
drop_bridge() {
	local dir=$1 br
	[ -s "$dir/bridge" ] || return 0
	br=$(cat "$dir/bridge")
	case $br in edk*) ip link del "$br" 2>/dev/null || true ;; esac
}

cmd_start() {
	local dir=$1 sock pid other i
	local netns_cmd=()

	dir=$(realpath -m -- "$dir")
	sock=$dir/docker.sock
	[ ${#dir} -le 60 ] ||
		die "$dir is too long for containerd's socket paths (keep it under 60 bytes, e.g. mktemp -d /tmp/edk.XXXXXX)"
	mkdir -p -- "$dir"
	[ -x "$dockerd" ] || die "dockerd not found at $dockerd (install docker.io or set DOCKERD)"
	[ "$(id -u)" -eq 0 ] || die "dockerd needs root"
	if [ -s "$dir/dockerd.pid" ] && is_our_dockerd "$(cat "$dir/dockerd.pid")" "$dir"; then
		engine_pings "$sock" || die "a dockerd for $dir is running but does not answer"
		echo "$sock"
		return 0
	fi
	mkdir -p -- "$dir/data" "$dir/exec"
	local net_args=()
	if [ -z "$netns" ] && [ -s "$dir/netns" ]; then
		netns=$(cat "$dir/netns")
	fi
	if [ -n "$netns" ]; then
		[ -e "/run/netns/$netns" ] ||
			die "network namespace $netns does not exist (ip netns add $netns)"
		echo "$netns" >"$dir/netns"
		netns_cmd=(nsenter "--net=/run/netns/$netns" --)
	elif bridge=$(make_bridge "$dir"); then
		# Its own bridge and subnet, and no iptables rules: several private
		# engines can run side by side without giving two containers one IP.
		net_args=(--bridge="$bridge" --iptables=false)
	else
		other=$(pgrep -x dockerd | paste -sd ' ' - || true)
		[ -z "$other" ] ||
			echo "$0: warning: another dockerd is running (pid $other); they share docker0 and its iptables chains" >&2
	fi
	# shellcheck disable=SC2086 # PRIVATE_DOCKERD_ARGS is a word list
	"${netns_cmd[@]}" setsid "$dockerd" --data-root "$dir/data" --exec-root "$dir/exec" \
		--pidfile "$dir/dockerd.pid" -H "unix://$sock" \
		"${net_args[@]}" ${PRIVATE_DOCKERD_ARGS:-} \
		</dev/null >>"$dir/dockerd.log" 2>&1 &
	pid=$!

	for ((i = 0; i < start_timeout_s * 10; i++)); do
		if [ -S "$sock" ] && engine_pings "$sock"; then
			echo "$sock"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null ||
			fail_with_log "dockerd exited during start-up" "$dir/dockerd.log"
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null || true
	fail_with_log "dockerd did not answer /_ping on $sock within ${start_timeout_s} s" \
		"$dir/dockerd.log"
}

# Stop the dockerd of directory $1 by its pid, leaving everything under $1.
cmd_kill() {
	local dir=$1 pid i left

	[ -d "$dir" ] || die "$dir does not exist"
	dir=$(cd -- "$dir" && pwd -P)
	[ -e "$dir/dockerd.log" ] ||
		die "$dir has no dockerd.log: not a private-dockerd.sh directory"
	pid=
	if [ -s "$dir/dockerd.pid" ] && is_our_dockerd "$(cat "$dir/dockerd.pid")" "$dir"; then
		pid=$(cat "$dir/dockerd.pid")
	fi
	[ -n "$pid" ] || [ "$sigkill" = 0 ] || return 0
	if [ -n "$pid" ] && [ "$sigkill" = 1 ]; then
		# A crash: no SIGTERM, no sweep of containerd or the containers.
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || return 0
			sleep 0.1
		done
		die "dockerd $pid is still there 5 s after SIGKILL"
	fi
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < stop_timeout_s * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "$0: dockerd $pid ignored SIGTERM for ${stop_timeout_s} s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
		fi
	fi
	# Its containerd, should dockerd have died without stopping it: the next
	# start must not find a stale one on DIR/exec.
	left=$(pids_using_dir "$dir")
	if [ -n "$left" ]; then
		# shellcheck disable=SC2086 # one pid per word
		kill -KILL $left 2>/dev/null || true
		sleep 0.2
	fi
	return 0
}

cmd_restart() {
	sigkill=0
	cmd_kill "$1"
	cmd_start "$1"
}

cmd_stop() {
	local dir=$1 sock pid ids i mnt left

	[ -d "$dir" ] || return 0 # already gone
	dir=$(cd -- "$dir" && pwd -P)
	case $dir in
	/ | /tmp | /var | /var/* | /usr | /usr/* | /etc | /etc/* | /home | /root)
		die "refusing to stop and remove $dir" ;;
	esac
	[ -e "$dir/dockerd.log" ] ||
		die "$dir has no dockerd.log: not a private-dockerd.sh directory, leaving it alone"
	sock=$dir/docker.sock

	pid=
	if [ -s "$dir/dockerd.pid" ] && is_our_dockerd "$(cat "$dir/dockerd.pid")" "$dir"; then
		pid=$(cat "$dir/dockerd.pid")
	fi
	if [ -n "$pid" ] && [ -S "$sock" ] && engine_pings "$sock"; then
		ids=$(timeout 30 "$docker" -H "unix://$sock" ps -aq 2>/dev/null || true)
		if [ -n "$ids" ]; then
			# shellcheck disable=SC2086 # one id per word
			timeout 60 "$docker" -H "unix://$sock" rm -f $ids >/dev/null 2>&1 ||
				echo "$0: warning: could not remove every container" >&2
		fi
	fi

	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < stop_timeout_s * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "$0: dockerd $pid ignored SIGTERM for ${stop_timeout_s} s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
		fi
	fi
	# Its containerd and shims, if dockerd could not take them down itself.
	left=$(pids_using_dir "$dir")
	if [ -n "$left" ]; then
		# shellcheck disable=SC2086 # one pid per word
		kill -KILL $left 2>/dev/null || true
		sleep 0.2
	fi

	# Deepest mount points first; mountinfo field 5 is the mount point.
	awk -v d="$dir/" 'index($5, d) == 1 { print length($5), $5 }' /proc/self/mountinfo |
		sort -rn | cut -d' ' -f2- |
		while read -r mnt; do
			umount -- "$mnt" 2>/dev/null || umount -l -- "$mnt" 2>/dev/null ||
				echo "$0: warning: cannot unmount $mnt" >&2
		done
	# --one-file-system: never follow into anything still mounted under DIR.
	drop_bridge "$dir"
	rm -rf --one-file-system -- "$dir"
}

netns=
sigkill=0
while [ $# -gt 0 ]; do
	case $1 in
	--netns)
		{ [ $# -ge 2 ] && [ -n "$2" ]; } || usage
		netns=$2
		shift 2
		;;
	--netns=?*) netns=${1#*=}; shift ;;
	--sigkill) sigkill=1; shift ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || usage
[ -n "$2" ] || usage
case $1 in
start) cmd_start "$2" ;;
stop) cmd_stop "$2" ;;
kill) cmd_kill "$2" ;;
restart) cmd_restart "$2" ;;
*) usage ;;
esac
