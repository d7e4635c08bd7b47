#!/bin/bash
# swarm-cluster.sh: a throwaway multi-node Docker Swarm on one machine, for
# tests.  Each node is a dockerd (contrib/private-dockerd.sh --netns) in a
# network namespace of its own; the nodes and the host meet on one private
# /24 and nothing else.
#
#   swarm-cluster.sh start DIR N  start N (1-9) nodes, make node 1 the
#                                 manager (swarm init), join the others, wait
#                                 (bounded) until every node is Ready, and
#                                 print the cluster as key=value lines (also
#                                 kept in DIR/cluster.env)
#   swarm-cluster.sh kill DIR K   SIGKILL node K's dockerd (a crash: its
#                                 containers keep running), nothing else
#   swarm-cluster.sh restart DIR K start node K's dockerd again (after kill);
#                                 it rejoins the swarm on its own
#   swarm-cluster.sh stop DIR     remove the services, leave the swarm, stop
#                                 every dockerd, delete the namespaces and
#                                 links, remove DIR; idempotent, and safe
#                                 after a partial start
#
# Network: namespaces P-hub (a bridge, br0) and P-n1 … P-nN, where P is
# "esc" and 7 hex digits of DIR's hash, so clusters in different DIRs never
# share a name.  Node K's eth0 has 10.214.S.(10+K)/24; the host reaches the
# subnet through its link P (10.214.S.1/24), whose other end is on the bridge.
# No namespace has a default route: from a node, only the /24 is reachable.
# S is picked from DIR's hash among the /24s in which the host has no address
# and no route (10.213.0.0/16 is left to private-dockerd.sh's own bridges).
#
# Layout: DIR/nK is node K's private-dockerd.sh directory (DIR/nK/docker.sock);
# DIR/cluster.env the printed lines.  Keep DIR short (<= 40 bytes): containerd's
# sockets go under DIR/nK/exec and must fit in 108 bytes.
#
# Printed keys: dir, prefix, subnet, host_address, host_link, nodes,
# managers (node numbers), manager_socket (node 1's), join_address,
# heartbeat, and per node K: nodeK_socket, nodeK_address, nodeK_netns,
# nodeK_id (the Swarm node ID), nodeK_role, nodeK_gpus (its NVIDIA-GPU IDs,
# comma-separated).
#
# Environment:
#   SWARM_CLUSTER_GPUS     "K=COUNT ..." fake NVIDIA-GPU generic resources
#                          per node (default: "2=2 3=1": node 2 two, node 3
#                          one, node 1 none); IDs are gpu-K-I
#   SWARM_CLUSTER_MANAGERS how many of the first nodes are managers (default 1)
#   SWARM_CLUSTER_HEARTBEAT the dispatcher heartbeat period (swarm init
#                          --dispatcher-heartbeat, default 5s as Docker's)
#   DOCKER                 docker CLI (default /usr/bin/docker)
#
# Node labels (docker node update): endpointd.test.node=K and
# endpointd.test.gpu=true|false, for placement constraints.
set -euo pipefail

docker=${DOCKER:-/usr/bin/docker}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pdockerd=$here/private-dockerd.sh
ready_timeout_s=60
call_timeout_s=30

usage() {
	echo "usage: $0 start DIR N | kill DIR K | restart DIR K | stop DIR" >&2
	exit 2
}

die() {
	echo "$0: $*" >&2
	exit 1
}

# The docker CLI on node $1's socket, bounded.
dk() {
	local k=$1
	shift
	timeout "$call_timeout_s" "$docker" -H "unix://$dir/n$k/docker.sock" "$@"
}

# Sets the globals every command needs from directory $1.
setup_names() {
	dir=$(realpath -m -- "$1")
	prefix=esc$(printf '%s' "$dir" | md5sum | cut -c1-7)
	hub=$prefix-hub
}

# Is 10.214.$1.0/24 free on the host (no address, no route in it)?
subnet_free() {
	! ip -4 addr show | grep -q "inet 10\.214\.$1\." &&
		! ip -4 route show table all | grep -qE "(^|[^0-9])10\.214\.$1\."
}

# Prints the third octet of a free 10.214.S.0/24 derived from DIR.
choose_subnet() {
	local n i s
	n=$((16#$(printf '%s' "$dir" | md5sum | cut -c9-12) % 250))
	for ((i = 0; i < 250; i++)); do
		s=$(((n + i) % 250 + 1))
		if subnet_free "$s"; then
			echo "$s"
			return 0
		fi
	done
	return 1
}

# Prints node $1's NVIDIA-GPU count from SWARM_CLUSTER_GPUS.
gpu_count() {
	local spec
	for spec in ${SWARM_CLUSTER_GPUS-2=2 3=1}; do
		case $spec in
		"$1="[0-9]*) echo "${spec#*=}"; return 0 ;;
		esac
	done
	echo 0
}

# Creates the hub, the host's link and node namespaces 1..$1.
make_network() {
	local n=$1 s=$2 k
	ip netns add "$hub"
	ip -n "$hub" link set lo up
	ip -n "$hub" link add br0 type bridge
	ip -n "$hub" link set br0 up
	ip link add "$prefix" type veth peer name host netns "$hub"
	ip -n "$hub" link set host master br0 up
	ip addr add "10.214.$s.1/24" dev "$prefix"
	ip link set "$prefix" up
	for ((k = 1; k <= n; k++)); do
		ip netns add "$prefix-n$k"
		ip -n "$prefix-n$k" link set lo up
		ip -n "$hub" link add "n$k" type veth peer name eth0 netns "$prefix-n$k"
		ip -n "$hub" link set "n$k" master br0 up
		ip -n "$prefix-n$k" addr add "10.214.$s.$((10 + k))/24" dev eth0
		ip -n "$prefix-n$k" link set eth0 up
	done
}

# Waits until the manager lists $1 nodes, all Ready; prints what it saw last.
wait_ready() {
	local n=$1 i states
	for ((i = 0; i < ready_timeout_s; i++)); do
		states=$(dk 1 node ls --format '{{.Hostname}} {{.Status}}' 2>/dev/null || true)
		if [ "$(grep -c ' Ready$' <<<"$states")" -ge "$n" ]; then
			return 0
		fi
		sleep 1
	done
	die "the swarm did not have $n Ready nodes within ${ready_timeout_s} s; the manager lists: ${states:-nothing}"
}

cmd_start() {
	local n=$1 s k g i managers token_mgr token_wkr gpus args id role out
	[[ $n =~ ^[1-9]$ ]] || die "N must be 1-9, not '$n'"
	[ "$(id -u)" -eq 0 ] || die "network namespaces and dockerd need root"
	command -v ip >/dev/null 2>&1 || die "ip (iproute2) not found"
	[ -x "$docker" ] || die "docker CLI not found at $docker (set DOCKER)"
	[ -x "$pdockerd" ] || die "$pdockerd is missing"
	[ ${#dir} -le 40 ] || die "$dir is too long (keep it under 40 bytes, e.g. mktemp -d /tmp/esc.XXXXXX)"
	managers=${SWARM_CLUSTER_MANAGERS:-1}
	if ! [[ $managers =~ ^[1-9]$ ]] || [ "$managers" -gt "$n" ]; then
		die "SWARM_CLUSTER_MANAGERS must be 1-$n, not '$managers'"
	fi
	if [ -e "$dir/cluster.env" ]; then
		cat "$dir/cluster.env"
		return 0
	fi
	ip netns list | grep -q "^$hub\( \|$\)" &&
		die "namespace $hub exists: a cluster of $dir is half started; run stop first"
	mkdir -p -- "$dir"
	s=$(choose_subnet) || die "no free /24 under 10.214.0.0/16"
	echo "$s" >"$dir/subnet"
	# From here on a failure leaves a partial cluster for `stop` to remove.
	make_network "$n" "$s" || die "could not make the namespaces and links"

	for ((k = 1; k <= n; k++)); do
		g=$(gpu_count "$k")
		args="--label endpointd.test.node=$k"
		gpus=
		for ((i = 0; i < g; i++)); do
			args="$args --node-generic-resource NVIDIA-GPU=gpu-$k-$i"
			gpus=${gpus:+$gpus,}gpu-$k-$i
		done
		echo "$gpus" >"$dir/gpus$k"
		args="$args ${PRIVATE_DOCKERD_ARGS:-}"
		echo "$args" >"$dir/args$k"
		PRIVATE_DOCKERD_ARGS=$args \
			"$pdockerd" --netns "$prefix-n$k" start "$dir/n$k" >/dev/null ||
			die "node $k's dockerd did not start (see $dir/n$k/dockerd.log)"
	done

	dk 1 swarm init --advertise-addr "10.214.$s.11" --listen-addr "10.214.$s.11:2377" \
		--dispatcher-heartbeat "${SWARM_CLUSTER_HEARTBEAT:-5s}" >/dev/null ||
		die "swarm init on node 1 failed"
	token_mgr=$(dk 1 swarm join-token -q manager) || die "no manager join token"
	token_wkr=$(dk 1 swarm join-token -q worker) || die "no worker join token"
	for ((k = 2; k <= n; k++)); do
		if [ "$k" -le "$managers" ]; then token=$token_mgr; else token=$token_wkr; fi
		dk "$k" swarm join --token "$token" --advertise-addr "10.214.$s.$((10 + k))" \
			--listen-addr "10.214.$s.$((10 + k)):2377" "10.214.$s.11:2377" >/dev/null ||
			die "node $k could not join the swarm at 10.214.$s.11:2377"
	done
	wait_ready "$n"

	out="dir=$dir
prefix=$prefix
subnet=10.214.$s.0/24
host_address=10.214.$s.1
host_link=$prefix
nodes=$n
managers=$(seq -s, 1 "$managers")
manager_socket=$dir/n1/docker.sock
join_address=10.214.$s.11:2377
heartbeat=${SWARM_CLUSTER_HEARTBEAT:-5s}"
	for ((k = 1; k <= n; k++)); do
		id=$(dk "$k" info --format '{{.Swarm.NodeID}}') || die "node $k has no Swarm node ID"
		[ -n "$id" ] || die "node $k has no Swarm node ID"
		g=false
		[ -z "$(cat "$dir/gpus$k")" ] || g=true
		dk 1 node update --label-add "endpointd.test.node=$k" \
			--label-add "endpointd.test.gpu=$g" "$id" >/dev/null ||
			die "could not label node $k ($id)"
		role=worker
		[ "$k" -gt "$managers" ] || role=manager
		out="$out
node${k}_socket=$dir/n$k/docker.sock
node${k}_address=10.214.$s.$((10 + k))
node${k}_netns=$prefix-n$k
node${k}_id=$id
node${k}_role=$role
node${k}_gpus=$(cat "$dir/gpus$k")"
	done
	echo "$out" >"$dir/cluster.env.tmp"
	mv "$dir/cluster.env.tmp" "$dir/cluster.env"
	echo "$out"
}

cmd_kill() {
	local k=$1
	[[ $k =~ ^[1-9]$ ]] || die "K must be 1-9, not '$k'"
	[ -d "$dir/n$k" ] || die "$dir has no node $k"
	"$pdockerd" --sigkill kill "$dir/n$k"
}

cmd_restart() {
	local k=$1
	[[ $k =~ ^[1-9]$ ]] || die "K must be 1-9, not '$k'"
	[ -d "$dir/n$k" ] || die "$dir has no node $k"
	# start, not restart: the containers a crash left are the engine's to
	# clean up as it comes back, as after a real crash.
	PRIVATE_DOCKERD_ARGS=$(cat "$dir/args$k") "$pdockerd" start "$dir/n$k" >/dev/null ||
		die "node $k's dockerd did not start again (see $dir/n$k/dockerd.log)"
}

cmd_stop() {
	local nd k ids ns pids
	case $dir in
	/ | /tmp | /var | /var/* | /usr | /usr/* | /etc | /etc/* | /home | /root)
		die "refusing to stop and remove $dir" ;;
	esac
	if [ -d "$dir" ]; then
		[ -e "$dir/subnet" ] || [ -z "$(ls -A "$dir")" ] ||
			die "$dir has no subnet file: not a swarm-cluster.sh directory, leaving it alone"
		# Services first, so that no task is started again while nodes go.
		if [ -S "$dir/n1/docker.sock" ]; then
			ids=$(dk 1 service ls -q 2>/dev/null || true)
			# shellcheck disable=SC2086 # one id per word
			[ -z "$ids" ] || dk 1 service rm $ids >/dev/null 2>&1 || true
		fi
		# Workers, then managers (node 1 last): each leaves while the
		# others still answer.
		for ((k = 9; k >= 1; k--)); do
			nd=$dir/n$k
			[ -d "$nd" ] || continue
			if [ -S "$nd/docker.sock" ]; then
				timeout 20 "$docker" -H "unix://$nd/docker.sock" swarm leave --force \
					>/dev/null 2>&1 || true
			fi
			[ ! -e "$nd/dockerd.log" ] || "$pdockerd" stop "$nd" ||
				echo "$0: warning: stopping node $k in $nd failed" >&2
		done
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep "^$prefix-" || true); do
		# Whatever still runs there (a crashed node's containers) would
		# keep the namespace alive, unnamed, after `ip netns del`.
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		# shellcheck disable=SC2086 # one pid per word
		[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || echo "$0: warning: cannot delete namespace $ns" >&2
	done
	if ip link show "$prefix" >/dev/null 2>&1; then
		ip link del "$prefix" 2>/dev/null || echo "$0: warning: cannot delete link $prefix" >&2
	fi
	[ ! -d "$dir" ] || rm -rf --one-file-system -- "$dir"
}

{ [ $# -ge 2 ] && [ -n "$2" ]; } || usage
setup_names "$2"
case $1 in
start) [ $# -eq 3 ] || usage; cmd_start "$3" ;;
kill) [ $# -eq 3 ] || usage; cmd_kill "$3" ;;
restart) [ $# -eq 3 ] || usage; cmd_restart "$3" ;;
stop) [ $# -eq 2 ] || usage; cmd_stop ;;
*) usage ;;
esac
