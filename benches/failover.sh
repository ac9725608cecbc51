#!/usr/bin/env bash
# Failover benchmark: keepalived-rs against Debian's keepalived in the same namespace topology
# and the same run.
#
#   sudo benches/failover.sh [RUNS]        (default 3 runs per measurement; median printed)
#
# For each implementation (both routers run it) and each timing (VRRPv2 advert_int 1,
# VRRPv3 advert_int 0.1), it measures, from a client namespace probing the VIP every 1 ms:
#   kill  - SIGKILL of the master (and its link taken down, as when a router dies) to the
#           first echo reply from the VIP, now served by the backup. The protocol floor is
#           Master_Down_Interval = 3 x advert_int + Skew_Time (backup priority 100), less the
#           time since the last advert (0..advert_int), hence a range.
#   term  - SIGTERM of the master (priority-0 advert) to the first reply after the VIP moved.
#           The floor is Skew_Time.
# and prints both, the protocol floor, and the ratio ours/keepalived.
#
# The prober (PROBE=icmp, the default) is a small raw-socket ICMP sender that keeps sending
# every 1 ms whether or not replies come back. iputils ping (PROBE=ping, -i 0.002) does not:
# while a probe is unanswered it sleeps its 10 ms minimum between probes, so during the
# outage it probes only every 10 ms, and every result carries 0-10 ms of prober phase
# (e.g. a 62 ms handover reads as 63..72 ms). Its numbers are kept for comparison.
#
# Needs root, iproute2, python3 (or iputils-ping with PROBE=ping) and /usr/sbin/keepalived; only namespaces created here
# are touched (198.51.100.0/24); everything is removed at exit.
#
# Selection (optional): TIMINGS="3/0.1" MODES=TERM IMPLS=ours limit the matrix (defaults: all
# of "2/1 3/0.1", "KILL TERM", "ours keepalived").
#
# Optional soak (opt-in, bounded): SOAK_SECONDS=600 benches/failover.sh runs both daemons at
# advert_int 0.05 with two CPU hogs in the routers' namespaces and counts state transitions
# (any transition after the initial election is spurious).
set -euo pipefail

runs=${1:-3}
timings=${TIMINGS:-2/1 3/0.1}
modes=${MODES:-KILL TERM}
impls=${IMPLS:-ours keepalived}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[[ $(id -u) -eq 0 ]] || { echo "failover.sh: must run as root" >&2; exit 1; }
probe=${PROBE:-icmp}
case $probe in
icmp) command -v python3 >/dev/null || { echo "failover.sh: needs python3 (or PROBE=ping)" >&2; exit 1; } ;;
ping) command -v ping >/dev/null || { echo "failover.sh: needs ping (apt-get install iputils-ping)" >&2; exit 1; } ;;
*) echo "failover.sh: PROBE is icmp or ping" >&2; exit 1 ;;
esac
[[ -x /usr/sbin/keepalived ]] || { echo "failover.sh: needs /usr/sbin/keepalived" >&2; exit 1; }
(cd "$root" && cargo build --release --quiet)
ours="${CARGO_TARGET_DIR:-$root/target}/release/keepalived"
theirs=/usr/sbin/keepalived

tag="kabench$$"
lan="$tag-lan" r0="$tag-r0" r1="$tag-r1" cl="$tag-c"
work=$(mktemp -d)
vip=198.51.100.250
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for f in "$work"/*.pid; do [[ -f $f ]] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
    for ns in "$r0" "$r1" "$cl" "$lan"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$lan"
ip -n "$lan" link add br0 type bridge
ip -n "$lan" link set br0 up
i=0
for ns in "$r0" "$r1" "$cl"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$lan" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$lan" link set "p$i" master br0 up
    ip -n "$ns" link set eth0 up
    i=$((i + 1))
done
ip -n "$r0" addr add 198.51.100.1/24 dev eth0
ip -n "$r1" addr add 198.51.100.2/24 dev eth0
ip -n "$cl" addr add 198.51.100.100/24 dev eth0

conf() { # version advert_int priority
    cat <<CONF
global_defs {
    router_id bench
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $3
    version $1
    advert_int $2
    virtual_ipaddress {
        $vip/24
    }
}
CONF
}

now() { date +%s.%N; }
ns_of() { if [[ $1 == 0 ]]; then echo "$r0"; else echo "$r1"; fi; }
holds() { ip -n "$(ns_of "$1")" -o addr show dev eth0 | grep -q " $vip/"; }
wait_for() { # seconds command...
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do ((SECONDS < deadline)) || return 1; sleep 0.02; done
}

start() { # bin router version advert prio
    local name="r$2"
    conf "$3" "$4" "$5" >"$work/$name.conf"
    rm -f "$work/$name.pid" "$work/$name.vrrp.pid"
    ip netns exec "$(ns_of "$2")" "$1" -n -l -P -f "$work/$name.conf" \
        -p "$work/$name.pid" -r "$work/$name.vrrp.pid" >>"$work/$name.log" 2>&1 &
    pids+=($!)
    wait_for 10 test -s "$work/$name.vrrp.pid"
}
stop_router() { # router signal
    local name="r$1"
    if [[ $2 == KILL ]]; then
        kill -9 "$(cat "$work/$name.vrrp.pid" 2>/dev/null)" 2>/dev/null || true
        kill -9 "$(cat "$work/$name.pid" 2>/dev/null)" 2>/dev/null || true
    else
        kill -TERM "$(cat "$work/$name.pid" 2>/dev/null)" 2>/dev/null || true
    fi
}
wait_gone() { # router
    local name="r$1"
    wait_for 10 bash -c "! kill -0 $(cat "$work/$name.pid") 2>/dev/null"
}

# An echo request to $1 every $2 seconds, sent on schedule whatever comes back; each reply is
# logged as ping -D logs it ("[wall clock] ... icmp_seq=N"), so both probers share the parser.
icmp_prober() { # dst interval
    exec python3 -u - "$1" "$2" <<'PY'
import os, select, socket, struct, sys, time

dst, interval = sys.argv[1], float(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.setblocking(False)
ident = os.getpid() & 0xFFFF


def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


seq = 0
due = time.monotonic()
while True:
    now = time.monotonic()
    if now >= due:
        body = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xFFFF) + bytes(56)
        body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
        try:
            sock.sendto(body, (dst, 0))
        except OSError:
            pass
        seq += 1
        # Never catch up in a burst after a stall: probe on the grid from now on.
        due = max(due + interval, now)
    ready, _, _ = select.select([sock], [], [], max(0.0, due - time.monotonic()))
    while ready:
        try:
            pkt = sock.recv(2048)
        except BlockingIOError:
            break
        ihl = (pkt[0] & 0x0F) * 4
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", pkt[ihl:ihl + 8])
        if typ == 0 and rid == ident:
            full = seq - 1 - ((seq - 1 - rseq) & 0xFFFF)
            print("[%.6f] reply from %s: icmp_seq=%d" % (time.time(), dst, full))
PY
}

# First echo reply after the outage that follows t0: the first reply after the first gap in
# the sequence numbers seen after t0 (the old master may still answer for a moment).
first_reply_after() { # pinglog t0
    sed -n 's/^\[\([0-9.]*\)\].*icmp_seq=\([0-9]*\).*/\1 \2/p' "$1" |
        awk -v t0="$2" '
            { ts = $1 + 0; seq = $2 + 0 }
            ts < t0 { last = seq; next }
            !gap && seq != last + 1 { gap = 1 }
            gap { printf "%.3f\n", ts - t0; exit }
            { last = seq }'
}

measure() { # bin version advert mode(KILL|TERM)
    local bin=$1 v=$2 adv=$3 mode=$4
    ip -n "$r0" link set eth0 up
    ip -n "$r0" addr del "$vip/24" dev eth0 2>/dev/null || true
    ip -n "$r1" addr del "$vip/24" dev eth0 2>/dev/null || true
    start "$bin" 1 "$v" "$adv" 100
    start "$bin" 0 "$v" "$adv" 150
    wait_for 20 holds 0 || { echo "no master" >&2; return 1; }
    wait_for 5 bash -c "! ip -n $r1 -o addr show dev eth0 | grep -q ' $vip/'"
    sleep 1
    if [[ $probe == icmp ]]; then
        ip netns exec "$cl" bash -c "$(declare -f icmp_prober); icmp_prober $vip 0.001" \
            >"$work/ping.log" 2>&1 &
    else
        ip netns exec "$cl" ping -D -n -i 0.002 -W 1 "$vip" >"$work/ping.log" 2>&1 &
    fi
    local pinger=$!
    sleep 0.5
    local t0
    t0=$(now)
    stop_router 0 "$mode"
    if [[ $mode == KILL ]]; then ip -n "$r0" link set eth0 down; fi
    wait_for 15 holds 1 || true
    sleep 0.5
    kill "$pinger" 2>/dev/null || true
    wait "$pinger" 2>/dev/null || true
    first_reply_after "$work/ping.log" "$t0"
    stop_router 0 KILL
    stop_router 1 TERM
    wait_gone 1 || stop_router 1 KILL
    sleep 0.3
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "nan" }'; }

declare -A result
for timing in $timings; do
    IFS=/ read -r v adv <<<"$timing"
    for impl in $impls; do
        bin=$ours; [[ $impl == keepalived ]] && bin=$theirs
        for mode in $modes; do
            samples=()
            for ((n = 0; n < runs; n++)); do
                s=$(measure "$bin" "$v" "$adv" "$mode" || echo nan)
                samples+=("${s:-nan}")
            done
            result["$v/$adv/$impl/$mode"]=$(printf '%s\n' "${samples[@]}" | grep -v nan | median)
            echo "v$v advert_int $adv $impl $mode: ${samples[*]}" >&2
        done
    done
done

printf '\n%-22s %-6s %10s %12s %13s %8s\n' "timing" "event" "ours (s)" "keepalived" "floor (s)" "ratio"
for timing in $timings; do
    IFS=/ read -r v adv <<<"$timing"
    skew=$(awk -v v="$v" -v a="$adv" 'BEGIN { printf "%.3f", v == 2 ? 156 / 256 : 156 * a / 256 }')
    for mode in $modes; do
        o=${result["$v/$adv/ours/$mode"]:-nan}
        k=${result["$v/$adv/keepalived/$mode"]:-nan}
        # After SIGKILL the backup's timer started at the last advert it received, which is up
        # to one advert_int before the kill: the floor is a range.
        floor=$(awk -v a="$adv" -v s="$skew" -v m="$mode" \
            'BEGIN { if (m == "KILL") printf "%.3f-%.3f", 2 * a + s, 3 * a + s; else printf "%.3f", s }')
        ratio=$(awk -v o="$o" -v k="$k" 'BEGIN { if (k > 0) printf "%.2f", o / k; else print "-" }')
        printf '%-22s %-6s %10s %12s %13s %8s\n' "VRRPv$v advert_int $adv" "$mode" "$o" "$k" "$floor" "$ratio"
    done
done

if [[ -n ${SOAK_SECONDS:-} ]]; then
    secs=$SOAK_SECONDS
    echo
    echo "soak: ${secs}s at advert_int 0.05 with CPU hogs (bounded)"
    for impl in ours keepalived; do
        bin=$ours; [[ $impl == keepalived ]] && bin=$theirs
        ip -n "$r0" link set eth0 up
        : >"$work/r0.log"; : >"$work/r1.log"
        start "$bin" 1 3 0.05 100
        start "$bin" 0 3 0.05 150
        wait_for 20 holds 0 || true
        sleep 1
        before=$(cat "$work/r0.log" "$work/r1.log" | grep -c 'Entering' || true)
        hogs=()
        for h in 1 2; do timeout "$secs" sh -c 'while :; do :; done' & hogs+=($!); done
        sleep "$secs"
        for h in "${hogs[@]}"; do kill "$h" 2>/dev/null || true; done
        after=$(cat "$work/r0.log" "$work/r1.log" | grep -c 'Entering' || true)
        echo "$impl: $((after - before)) state transitions during the soak (0 expected)"
        stop_router 0 TERM; stop_router 1 TERM; wait_gone 0 || true; wait_gone 1 || true
    done
fi
