#!/usr/bin/env bash
# Runnable failover demo: two keepalived-rs routers and a client on a bridged LAN of network
# namespaces, a VIP that moves when the master is killed, and everything torn down at exit.
#
#   sudo samples/demo-failover.sh [path/to/keepalived]
#
# Topology (all inside namespaces created here; the host namespace is not touched):
#
#   kademo-r1 (eth0 198.51.100.1) ─┐
#   kademo-r2 (eth0 198.51.100.2) ─┼─ br0 in kademo-lan
#   kademo-c  (eth0 198.51.100.100)┘       VIP 198.51.100.250 (VRID 51)
#
# Both routers run samples/16-demo-failover.conf; `-i r1` / `-i r2` select their priorities.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
conf="$here/16-demo-failover.conf"
bin=${1:-}
if [[ -z $bin ]]; then
    (cd "$root" && cargo build --release --quiet)
    bin="$root/target/release/keepalived"
fi
[[ $(id -u) -eq 0 ]] || { echo "demo-failover: must run as root (network namespaces)" >&2; exit 1; }

tag="kademo$$"
lan="$tag-lan" r1="$tag-r1" r2="$tag-r2" cl="$tag-c"
work=$(mktemp -d)
vip=198.51.100.250

cleanup() {
    for r in r1 r2; do
        if [[ -f $work/$r.pid ]]; then kill -9 "$(cat "$work/$r.pid")" 2>/dev/null || true; fi
    done
    for ns in "$r1" "$r2" "$cl" "$lan"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# --- topology -----------------------------------------------------------------------------
ip netns add "$lan"
ip -n "$lan" link add br0 type bridge
ip -n "$lan" link set br0 up
i=0
for ns in "$r1" "$r2" "$cl"; do
    i=$((i + 1))
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$lan" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$lan" link set "p$i" master br0 up
    ip -n "$ns" link set eth0 up
done
ip -n "$r1" addr add 198.51.100.1/24 dev eth0
ip -n "$r2" addr add 198.51.100.2/24 dev eth0
ip -n "$cl" addr add 198.51.100.100/24 dev eth0

start() { # router-name namespace
    ip netns exec "$2" "$bin" -n -l -P -f "$conf" -i "$1" \
        -p "$work/$1.main.pid" -r "$work/$1.vrrp.pid" >>"$work/$1.log" 2>&1 &
    echo $! >"$work/$1.pid"
    disown
}
holder() {
    for r in r1 r2; do
        ns=$r1; [[ $r == r2 ]] && ns=$r2
        if ip -n "$ns" -o addr show dev eth0 | grep -q " $vip/"; then printf '%s ' "$r"; fi
    done
}
ping_vip() {
    if ! command -v ping >/dev/null; then echo "(install iputils-ping to check)"; return; fi
    ip netns exec "$cl" ping -c1 -W1 "$vip" >/dev/null 2>&1 && echo reachable || echo unreachable
}
wait_for() { # description, seconds, command...
    local what=$1 secs=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@"; do
        if ((SECONDS >= deadline)); then echo "timed out waiting for $what" >&2; return 1; fi
        sleep 0.1
    done
}
holds() { [[ $(holder) == "$1 " ]]; }

# --- the demo ---------------------------------------------------------------------------------
say "starting r1 (priority 150) and r2 (priority 100) from $(basename "$conf")"
start r1 "$r1"
start r2 "$r2"
wait_for "r1 to become master" 10 holds r1
echo "VIP $vip is on: $(holder)"
echo "client -> VIP: $(ping_vip)"

say "SIGKILL r1 (no goodbye advert): r2 takes over after Master_Down_Interval (~3.6 s)"
t0=$(date +%s.%N)
kill -9 "$(cat "$work/r1.pid")"
wait_for "r2 to become master" 10 bash -c "ip -n $r2 -o addr show dev eth0 | grep -q ' $vip/'"
t1=$(date +%s.%N)
printf 'r2 holds the VIP after %.2f s (r1 still has it configured: a killed daemon cleans nothing up)\n' \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
echo "client -> VIP: $(ping_vip)"

say "restart r1: it preempts r2 (higher priority)"
ip -n "$r1" addr del "$vip/24" dev eth0 2>/dev/null || true
start r1 "$r1"
wait_for "r1 to preempt" 10 holds r1
echo "VIP $vip is on: $(holder)"
echo "client -> VIP: $(ping_vip)"

say "SIGTERM r1: it sends a priority-0 advert, r2 takes over after Skew_Time (~0.6 s)"
t0=$(date +%s.%N)
kill -TERM "$(cat "$work/r1.pid")"
wait_for "r2 to take over" 10 holds r2
t1=$(date +%s.%N)
printf 'r2 holds the VIP after %.2f s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
echo "client -> VIP: $(ping_vip)"

say "logs"
for r in r1 r2; do echo "--- $r"; grep -E 'Entering|priority|Stopping' "$work/$r.log" || true; done
kill -TERM "$(cat "$work/r2.pid")" 2>/dev/null || true
sleep 0.5
say "done; namespaces removed"
