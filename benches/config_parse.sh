#!/usr/bin/env bash
# Config-parse benchmark: `keepalived -t -f FILE` of keepalived-rs against
# Debian's keepalived on one large generated configuration.
#
#   sudo benches/config_parse.sh
#
# The configuration (benches/gen_config.awk) has 1,000 vrrp_instances and
# 10,000 virtual_servers with 10 real_servers each, every real_server with a
# TCP_CHECK (about 470k lines, 9 MB).  Both programs check the same file inside
# a private network namespace holding the interfaces it names (eth0..eth3),
# because `keepalived -t` rejects unknown interfaces.
#
# Reported per program: median wall time and median peak RSS over the runs.
# Final lines:
#   speed: ours X.XXs vs keepalived Y.YYs -> Z.ZZx faster   (keepalived / ours)
#   peak RSS: ours A MB vs keepalived B MB -> R.RRx          (ours / keepalived)
#
# Environment:
#   BENCH_RUNS=3            runs per program
#   BENCH_INSTANCES=1000    vrrp_instances in the generated file
#   BENCH_SERVICES=10000    virtual_servers in the generated file
#   BENCH_REALS=10          real_servers per virtual_server
#   OURS=target/release/keepalived   keepalived-rs binary (built if missing)
#   THEIRS=/usr/sbin/keepalived      reference keepalived binary
#   BENCH_KEEP=1            keep the temporary directory (config, outputs)
#
# Needs root (network namespaces), iproute2, GNU time (package `time`, installed
# if missing) and coreutils `timeout`.  Each run is limited to 120 s.
set -euo pipefail
export LC_ALL=C

# Internal mode, run inside the namespace: time one run, print "wall rss rc".
if [[ ${1:-} == --measure ]]; then
    bin=$2 file=$3 out=$4 tf=$5
    start=$EPOCHREALTIME
    rc=0
    timeout 120 /usr/bin/time -f '%e %M' -o "$tf" "$bin" -t -f "$file" >"$out" 2>&1 || rc=$?
    end=$EPOCHREALTIME
    rss=$(awk 'END { print $2 }' "$tf" 2>/dev/null)
    awk -v s="$start" -v e="$end" -v r="${rss:-0}" -v rc="$rc" \
        'BEGIN { printf "%.3f %d %d\n", e - s, r, rc }'
    exit 0
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_RUNS:-3}
ours=${OURS:-${CARGO_TARGET_DIR:-$root/target}/release/keepalived}
theirs=${THEIRS:-/usr/sbin/keepalived}

die() { echo "config_parse.sh: $*" >&2; exit 1; }

[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $(id -u) -eq 0 ]] || die "must run as root (it creates a network namespace)"
command -v ip >/dev/null || die "ip (iproute2) not found"
command -v timeout >/dev/null || die "timeout (coreutils) not found"
if [[ ! -x /usr/bin/time ]]; then
    echo "installing GNU time ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
fi
[[ -x $theirs ]] || die "$theirs not found (apt-get install keepalived)"
if [[ ! -x $ours ]]; then
    echo "building keepalived-rs (cargo build --release) ..." >&2
    (cd "$root" && cargo build --release)
    [[ -x $ours ]] || die "$ours not found after build"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kars-bench.XXXXXX")
ns="kars-bench-$$"
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
for i in 0 1 2 3; do
    ip -n "$ns" link add "eth$i" type veth peer name "p$i"
    ip -n "$ns" link set "eth$i" up
    ip -n "$ns" link set "p$i" up
done

conf=$tmp/keepalived.conf
awk -v instances="${BENCH_INSTANCES:-1000}" -v services="${BENCH_SERVICES:-10000}" \
    -v reals="${BENCH_REALS:-10}" -f "$root/benches/gen_config.awk" >"$conf"
bytes=$(wc -c <"$conf")
lines=$(wc -l <"$conf")
awk -v b="$bytes" -v l="$lines" 'BEGIN {
    printf "config: %d lines, %d bytes (%.1f MB)\n", l, b, b / 1e6 }'
echo "runs: $runs per program, each under timeout 120"

# bench NAME BIN: runs BIN N times, leaves "median_wall median_rss_kb rc" in $result.
bench() {
    local name=$1 bin=$2 i line walls=() rsss=() rc=0
    echo "$name: $bin"
    for ((i = 1; i <= runs; i++)); do
        line=$(ip netns exec "$ns" bash "$root/benches/config_parse.sh" --measure "$bin" "$conf" \
            "$tmp/$name.out" "$tmp/$name.time")
        read -r w r rc <<<"$line"
        [[ $rc -eq 124 ]] && die "$name timed out after 120 s"
        printf '  run %d: %.3f s, %.1f MB peak RSS, exit %d\n' "$i" "$w" \
            "$(awk -v k="$r" 'BEGIN { print k / 1024 }')" "$rc"
        walls+=("$w")
        rsss+=("$r")
    done
    local n msgs
    n=$(wc -l <"$tmp/$name.out")
    msgs=$(head -n 3 "$tmp/$name.out")
    echo "  exit status $rc, $n line(s) of diagnostics${msgs:+:}"
    if [[ -n $msgs ]]; then
        while IFS= read -r line; do echo "    | $line"; done <<<"$msgs"
    fi
    result="$(median "${walls[@]}") $(median "${rsss[@]}") $rc"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bench keepalived "$theirs"
read -r k_wall k_rss k_rc <<<"$result"
bench ours "$ours"
read -r o_wall o_rss o_rc <<<"$result"

echo
if [[ $o_rc -ne $k_rc ]]; then
    echo "note: exit status differs (ours $o_rc, keepalived $k_rc)"
fi
awk -v ow="$o_wall" -v kw="$k_wall" -v orss="$o_rss" -v krss="$k_rss" 'BEGIN {
    f = (ow > 0.0005) ? kw / ow : kw / 0.0005
    if (f >= 1)
        printf "speed: ours %.2fs vs keepalived %.2fs -> %.2fx faster\n", ow, kw, f
    else
        printf "speed: ours %.2fs vs keepalived %.2fs -> %.2fx slower\n", ow, kw, 1 / f
    printf "peak RSS: ours %.1f MB vs keepalived %.1f MB -> %.2fx\n",
        orss / 1024, krss / 1024, (krss > 0) ? orss / krss : 0
}'
