#!/usr/bin/env bash
# nat-rig.sh — the internet in network namespaces, with real kernel NAT
# (issue 18). One "internet" namespace holds a bridge, the only link between
# the others; on it are a "public" host (for `peerwiki relay`) and the wan
# side of four home routers. Homes 1–3 each have a member behind their
# router; router 4 is spare, for a member that moves house.
#
#   public    10.213.0.2          on the internet bridge
#   routerN   wan 10.213.0.1N     (N = 1..4; the home's public address)
#             lan 10.213.N.1/24   ip_forward=1, MASQUERADE out of wan
#   memberN   10.213.N.2/24       default route via 10.213.N.1 (N = 1..3)
#
# Nothing forwards inbound connections to a member, and routers know no
# route to another home's LAN: members reach each other only through what
# their NATs let back in. Routers MASQUERADE (Linux keeps the source port
# where it can, which hole punching can beat) or, with --random-fully, pick
# a random port for every connection (which it is not expected to beat).
# Like a home router's firewall (and as RFC 5382 REQ-4 asks of a NAT),
# routers drop unsolicited packets from the wan side; with --bare they
# answer them as a bare Linux host does (TCP RST, ICMP port unreachable),
# which kills a TCP simultaneous open unless both SYNs cross in flight.
# Only 10.213.0.0/24 is "public"; give peerwiki --public-net 10.213.0.0/24.
#
#   scripts/nat-rig.sh up [--name NAME] [--random-fully] [--bare]
#   scripts/nat-rig.sh down [--name NAME]
#   scripts/nat-rig.sh exec [--name NAME] NODE CMD...   (NODE: internet,
#                      public, router1..4, member1..3)
#   scripts/nat-rig.sh renumber [--name NAME] ROUTER ADDR   new wan address
#                      for a router (its home's public address changes)
#   scripts/nat-rig.sh move [--name NAME] MEMBER ROUTER     re-cable a member
#                      to another router (it keeps its own address)
#   scripts/nat-rig.sh check [--name NAME]   the rig's own sanity checks
#
# NAME (default "nat", or $NATRIG_NAME) keeps parallel rigs apart: every
# namespace is called nr-NAME-NODE. Needs root, iproute2 and iptables
# (Debian's nf_tables variant works). `up` removes a rig of the same name
# first, and removes what it made if it fails half-way.
set -Eeuo pipefail

prog=$(basename "$0")
die() { echo "$prog: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -Eeuo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

name=${NATRIG_NAME:-nat}
random_fully=
bare=

ns() { echo "nr-$name-$1"; }
nodes() { echo internet public router1 router2 router3 router4 member1 member2 member3; }
wan_addr() { echo "10.213.0.1$1"; }
member_addr() { echo "10.213.$1.2"; }

need_tools() {
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
	command -v ip >/dev/null || die "needs the ip command (iproute2)"
	command -v iptables >/dev/null || die "needs iptables (apt-get install iptables)"
}

at() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

# link NODE IFNAME: a veth from NODE (named IFNAME there) to a port on the
# internet bridge.
link_to_internet() {
	local node=$1 ifname=$2 port="p-$1"
	ip link add "$port" netns "$(ns internet)" type veth peer name "$ifname" netns "$(ns "$node")"
	at internet ip link set "$port" master br0
	at internet ip link set "$port" up
	at "$node" ip link set "$ifname" up
}

# cable MEMBER N ROUTER: a veth from the member (eth0) to the router (lan),
# the member at 10.213.N.2 and the router's lan at 10.213.N.1.
cable() {
	local m=$1 n=$2 r=$3
	ip link add lan netns "$(ns "$r")" type veth peer name eth0 netns "$(ns "$m")"
	at "$r" ip addr add "10.213.$n.1/24" dev lan
	at "$r" ip link set lan up
	at "$m" ip addr add "10.213.$n.2/24" dev eth0
	at "$m" ip link set eth0 up
	at "$m" ip route add default via "10.213.$n.1"
}

sysctl_set() { at "$1" sh -c "echo $3 > /proc/sys/$2"; }

up() {
	need_tools
	down 2>/dev/null || true
	trap 'echo "$prog: up failed; removing the half-made rig" >&2; down' ERR
	for n in $(nodes); do ip netns add "$(ns "$n")"; done
	for n in $(nodes); do
		at "$n" ip link set lo up
		# New namespaces may inherit forwarding from the host's
		# (net.core.devconf_inherit_init_net); only routers forward.
		case $n in router*) sysctl_set "$n" net/ipv4/ip_forward 1 ;; *) sysctl_set "$n" net/ipv4/ip_forward 0 ;; esac
	done
	at internet ip link add br0 type bridge
	at internet ip link set br0 up
	link_to_internet public eth0
	at public ip addr add 10.213.0.2/24 dev eth0
	local masq=(-j MASQUERADE)
	[ -n "$random_fully" ] && masq+=(--random-fully)
	for i in 1 2 3 4; do
		link_to_internet "router$i" wan
		at "router$i" ip addr add "$(wan_addr "$i")/24" dev wan
		at "router$i" iptables -t nat -A POSTROUTING -o wan "${masq[@]}"
		if [ -z "$bare" ]; then
			at "router$i" iptables -A INPUT -i wan -m conntrack --ctstate NEW,INVALID -j DROP
			at "router$i" iptables -A FORWARD -i wan -m conntrack --ctstate NEW,INVALID -j DROP
		fi
	done
	for i in 1 2 3; do cable "member$i" "$i" "router$i"; done
	trap - ERR
	local fw="unsolicited packets from the wan dropped"
	[ -n "$bare" ] && fw="no firewall (routers answer unsolicited packets)"
	echo "rig $name up: MASQUERADE${random_fully:+ --random-fully}, $fw"
	echo "public-net 10.213.0.0/24"
	echo "public 10.213.0.2 ns $(ns public)"
	for i in 1 2 3 4; do echo "router$i $(wan_addr "$i") ns $(ns "router$i")"; done
	for i in 1 2 3; do echo "member$i 10.213.$i.2 ns $(ns "member$i")"; done
}

down() {
	local rc=0
	for n in $(nodes); do
		if ip netns list | grep -qw "^$(ns "$n")"; then
			ip netns del "$(ns "$n")" || rc=1
		fi
	done
	return $rc
}

renumber() {
	local r=${1:-} addr=${2:-}
	[[ $r =~ ^router[1-4]$ ]] || die "renumber: name a router (router1..4), not '$r'"
	[[ $addr =~ ^10\.213\.0\.[0-9]+$ ]] || die "renumber: the new address must be in 10.213.0.0/24, not '$addr'"
	# Removing the old address makes MASQUERADE drop the connections it
	# mapped to it, as a home router does when its ISP hands it a new one.
	at "$r" ip addr flush dev wan
	at "$r" ip addr add "$addr/24" dev wan
}

move() {
	local m=${1:-} r=${2:-}
	[[ $m =~ ^member[1-3]$ ]] || die "move: name a member (member1..3), not '$m'"
	[[ $r =~ ^router[1-4]$ ]] || die "move: name a router (router1..4), not '$r'"
	local n=${m#member}
	# Deleting the member's end deletes the pair, and the old router's lan.
	at "$m" ip link del eth0
	at "$r" ip link del lan 2>/dev/null || true
	cable "$m" "$n" "$r"
}

# router_of MEMBER: the router the member is cabled to now.
router_of() {
	local r n=${1#member}
	for r in router1 router2 router3 router4; do
		if at "$r" ip -4 -o addr show dev lan 2>/dev/null | grep -q " 10\.213\.$n\.1/"; then
			echo "$r"; return
		fi
	done
	die "$1 is cabled to no router"
}

# wan_of MEMBER: the public address the member's traffic leaves with.
wan_of() {
	local a
	a=$(at "$(router_of "$1")" ip -4 -o addr show dev wan | awk '{print $4}')
	echo "${a%/*}"
}

# expect_tcp NODE ADDR PORT yes|no: whether NODE can open a TCP connection.
expect_tcp() {
	local node=$1 addr=$2 port=$3 want=$4 got=no
	if at "$node" timeout 1 bash -c "exec 3<>/dev/tcp/$addr/$port" 2>/dev/null; then got=yes; fi
	[ "$got" = "$want" ] || die "check: $node to $addr:$port connected=$got, want $want"
}

check() {
	need_tools
	command -v python3 >/dev/null || die "check needs python3 (a listener that reports its peer)"
	# check is the script's last act: its listeners go when the script exits.
	dir=$(mktemp -d) pids=()
	trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
	# A listener on the public host and on member 2 that writes who connected.
	for spec in "public 10.213.0.2" "member2 10.213.2.2"; do
		set -- $spec
		# ip netns exec, not the function at: $! must be the listener.
		ip netns exec "$(ns "$1")" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 9999)); s.listen(8); s.settimeout(20)
while True:
    c, a = s.accept()
    open(sys.argv[2], "a").write("%s %d\n" % a); c.close()
' "$2" "$dir/$1.log" &
		pids+=($!)
	done
	local i
	for i in $(seq 50); do
		[ -n "$(at public ss -Htln 'sport = :9999')" ] && [ -n "$(at member2 ss -Htln 'sport = :9999')" ] && break
		sleep 0.1
	done
	# From a fixed source port: plain MASQUERADE keeps it, --random-fully
	# does not.
	local port=$((40000 + RANDOM % 10000))
	at member1 python3 -c 'import socket, sys; socket.create_connection(("10.213.0.2", 9999), 2, (sys.argv[1], int(sys.argv[2]))).close()' "$(member_addr 1)" "$port" ||
		die "check: member1 cannot reach the public host"
	local seen i r wan
	r=$(router_of member1) wan=$(wan_of member1)
	for i in $(seq 20); do [ -s "$dir/public.log" ] && break; sleep 0.1; done
	seen=$(head -1 "$dir/public.log")
	[ "${seen% *}" = "$wan" ] || die "check: the public host saw '$seen', not the address of member1's $r, $wan"
	echo "ok: member1 reaches the public host through NAT, seen as $r's $wan"
	if [ "$(at "$r" iptables -t nat -S POSTROUTING | grep -c -- --random-fully)" = 0 ]; then
		[ "${seen#* }" = $port ] || die "check: MASQUERADE changed source port $port to ${seen#* } (expected it kept)"
		echo "ok: MASQUERADE kept the source port ($port)"
	else
		[ "${seen#* }" != $port ] || die "check: MASQUERADE --random-fully kept source port $port"
		echo "ok: MASQUERADE --random-fully mapped source port $port to ${seen#* }"
	fi
	expect_tcp member1 10.213.2.2 9999 no
	expect_tcp router1 10.213.2.2 9999 no
	expect_tcp public 10.213.2.2 9999 no
	expect_tcp public "$(wan_addr 2)" 9999 no
	echo "ok: member2 is unreachable at its own address and at router2's (nothing forwards in)"
	expect_tcp member2 10.213.0.2 9999 yes
	echo "ok: member2 reaches the public host too"
	# A TCP hole punch by hand: members 1 and 2 open a connection to each
	# other's public address at the same time, from the port they name,
	# 50 ms apart (as if by a rendezvous that knew both mappings).
	local punch='
import socket, sys, time
time.sleep(float(sys.argv[4]))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[3]))); s.settimeout(2)
try:
    s.connect((sys.argv[2], int(sys.argv[3]))); print("yes")
except OSError as e:
    print("no")
'
	local w1 w2 p1 p2 punched
	w1=$(wan_of member1) w2=$(wan_of member2)
	port=$((50000 + RANDOM % 10000))
	at member1 python3 -c "$punch" "$(member_addr 1)" "$w2" "$port" 0 >"$dir/punch1" &
	p1=$!
	at member2 python3 -c "$punch" "$(member_addr 2)" "$w1" "$port" 0.05 >"$dir/punch2" &
	p2=$!
	wait "$p1" "$p2" || true
	punched="$(cat "$dir/punch1")/$(cat "$dir/punch2")"
	if [ "$(at "$r" iptables -t nat -S POSTROUTING | grep -c -- --random-fully)" != 0 ]; then
		[ "$punched" = no/no ] || die "check: a TCP hole punch got through MASQUERADE --random-fully ($punched)"
		echo "ok: a TCP hole punch between members 1 and 2 fails, as it should behind --random-fully"
	elif [ -n "$(at "$r" iptables -S INPUT | grep DROP)" ]; then
		[ "$punched" = yes/yes ] || die "check: a TCP hole punch between members 1 and 2 failed ($punched, want yes/yes)"
		echo "ok: a TCP hole punch between members 1 and 2 works (simultaneous open through both NATs)"
	else
		echo "note: a TCP hole punch between members 1 and 2 connected: $punched (member1/member2; routers answer unsolicited SYNs with RST)"
	fi
}

cmd=${1:-}; [ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
	case $1 in
	--name) [[ ${2:-} =~ ^[a-z0-9]{1,12}$ ]] || die "--name takes 1 to 12 lowercase letters or digits"; name=$2; shift 2 ;;
	--random-fully) random_fully=1; shift ;;
	--bare) bare=1; shift ;;
	*) break ;;
	esac
done
case $cmd in
up) [ $# -eq 0 ] || usage; up ;;
down) [ $# -eq 0 ] || usage; down ;;
exec)
	[ $# -ge 2 ] || usage
	node=$1; shift
	[[ " $(nodes) " == *" $node "* ]] || die "no node '$node' (nodes: $(nodes))"
	exec ip netns exec "$(ns "$node")" "$@" ;;
renumber) renumber "$@" ;;
move) move "$@" ;;
check) check ;;
*) usage ;;
esac
