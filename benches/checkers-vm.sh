#!/usr/bin/env bash
# Health checkers side by side with keepalived 2.2.7's, inside the IPVS test VM (issue 5).
# keepalived's checker needs ip_vs, which only the VM has; the host-only figures of ours are
# benches/checkers.sh.
#
#   benches/checkers-vm.sh [REAL_SERVERS=1000] [WINDOW_SECONDS=20]
#
# One boot of the VM (tests/vm: qemu TCG, one vCPU, Debian's kernel, keepalived 2.2.7 from
# the base image). Inside it, a listener (`checkers_bench serve`, benches/checkers/driver.rs)
# binds REAL_SERVERS addresses on 127.0.0.0/8 (127.0.0.2.. × ports 8000..) and counts the
# connections it accepts and the HTTP requests it answers. Then, on the same generated
# configuration (half TCP_CHECK, half HTTP_GET, delay_loop 1 s, virtual servers on
# 203.0.113.0/24 inside the VM only):
#   1. keepalived -C -n -f CONF runs; after a WARMUP, for WINDOW seconds, we count the
#      connections reaching the listeners and the CPU time of keepalived's processes;
#   2. the same with our keepalived -C -n.
# For each: checks/s achieved vs configured (REAL_SERVERS per second), CPU seconds per 1,000
# checks (utime+stime from /proc/PID/stat of the daemon's process tree), peak RSS (sum of
# VmHWM over the tree), and the ratios ours/keepalived. TCG is slow: the absolute figures are
# those of an emulated CPU; the ratios are the point.
#
# Needs what tests/vm needs (qemu-system-x86, busybox-static, ipvsadm, keepalived, cpio,
# linux-image-amd64). The VM has no network device: all traffic stays on its loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-1000}
WINDOW=${2:-20}
WARMUP=${WARMUP:-4}
HOSTS=50
PORTS=$(( (N + HOSTS - 1) / HOSTS ))
FIRST_PORT=8000
TARGET=${CARGO_TARGET_DIR:-target}
BASE=target/ipvs-vm

echo "building release binaries..." >&2
cargo build --release --bin keepalived --example checkers_bench >&2
if [ ! -e "$BASE/base.cpio.gz" ] || [ ! -e "$BASE/vmlinuz" ]; then
    sh tests/vm/build-base.sh "$BASE" >&2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
G=$WORK/guest
mkdir -p "$G/guest" "$G/usr/local/sbin"
# Debug info stripped: the initramfs must fit the VM's memory.
objcopy --strip-debug "$TARGET/release/keepalived" "$G/usr/local/sbin/keepalived-rs"
objcopy --strip-debug "$TARGET/release/examples/checkers_bench" "$G/usr/local/sbin/checkers_bench"
# Libraries the binaries load that the base may lack.
for b in "$TARGET/release/keepalived" "$TARGET/release/examples/checkers_bench"; do
    ldd "$b" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
        mkdir -p "$G$(dirname "$lib")"
        [ -e "$G$lib" ] || cp -L "$lib" "$G$lib"
    done
done

# 20 virtual servers of N/20 real servers each, alternating TCP_CHECK and HTTP_GET.
awk -v n="$N" -v hosts="$HOSTS" -v fp="$FIRST_PORT" 'BEGIN {
    nvs = 20; per = int((n + nvs - 1) / nvs); i = 0
    for (v = 0; v < nvs && i < n; v++) {
        printf "virtual_server 203.0.113.%d 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n", v + 1
        for (k = 0; k < per && i < n; k++) {
            h = i % hosts; p = int(i / hosts)
            printf "  real_server 127.0.0.%d %d {\n    weight 1\n", h + 2, fp + p
            if (i % 2 == 0)
                printf "    TCP_CHECK {\n      connect_timeout 3\n    }\n"
            else
                printf "    HTTP_GET {\n      url {\n        path /health\n        status_code 200\n      }\n      connect_timeout 3\n    }\n"
            printf "  }\n"
            i++
        }
        printf "}\n"
    }
}' > "$G/guest/keepalived.conf"

printf 'N=%s WINDOW=%s WARMUP=%s HOSTS=%s FIRST_PORT=%s PORTS=%s\n' \
    "$N" "$WINDOW" "$WARMUP" "$HOSTS" "$FIRST_PORT" "$PORTS" > "$G/guest/vars.sh"
cat > "$G/guest/run.sh" <<'EOF'
#!/bin/sh
# Runs inside the VM (busybox sh).
. /guest/vars.sh
modprobe ip_vs || { echo "no ip_vs"; exit 3; }
ulimit -n 65536
BENCH_THREADS=1 BENCH_COUNT_FILE=/tmp/counts /usr/local/sbin/checkers_bench serve 2 "$HOSTS" "$FIRST_PORT" "$PORTS" > /tmp/serve.log 2>&1 &
SERVE=$!
i=0
while ! grep -q listening /tmp/serve.log 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "listener did not start"; cat /tmp/serve.log; exit 4; }
    sleep 0.2
done

# The pids of $1 and all its descendants.
tree() {
    ids=" $1 "
    more=1
    while [ $more = 1 ]; do
        more=0
        for s in /proc/[0-9]*/stat; do
            p=${s#/proc/}; p=${p%/stat}
            case "$ids" in *" $p "*) continue ;; esac
            pp=$(sed 's/.*) //' "$s" 2>/dev/null | awk '{print $2}')
            case "$ids" in *" $pp "*) ids="$ids$p "; more=1 ;; esac
        done
    done
    echo $ids
}
# utime+stime (clock ticks) summed over the given pids.
ticks() {
    t=0
    for p in "$@"; do
        v=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | awk '{print $12 + $13}')
        t=$((t + ${v:-0}))
    done
    echo $t
}
# VmHWM (KiB) summed over the given pids.
hwm() {
    t=0
    for p in "$@"; do
        v=$(awk '/^VmHWM/ {print $2}' /proc/$p/status 2>/dev/null)
        t=$((t + ${v:-0}))
    done
    echo $t
}
measure() {
    name=$1; shift
    "$@" > /tmp/$name.log 2>&1 &
    pid=$!
    sleep $WARMUP
    pids=$(tree $pid)
    c0=$(cat /tmp/counts); t0=$(ticks $pids); s0=$(cut -d' ' -f1 /proc/uptime)
    sleep $WINDOW
    c1=$(cat /tmp/counts); t1=$(ticks $pids); s1=$(cut -d' ' -f1 /proc/uptime)
    h=$(hwm $pids)
    n=$(echo $pids | wc -w)
    kill -TERM $pid
    i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    kill -KILL $pid 2>/dev/null
    ipvsadm -C
    echo "@@RESULT $name conns=$((${c1% *} - ${c0% *})) http=$((${c1#* } - ${c0#* })) ticks=$((t1 - t0)) secs=$(awk "BEGIN{print $s1 - $s0}") hwm_kib=$h procs=$n"
    tail -3 /tmp/$name.log
}
measure keepalived /usr/sbin/keepalived -C -n -l -f /guest/keepalived.conf -p /run/ka.pid -c /run/ka-c.pid
sleep 2
measure ours /usr/local/sbin/keepalived-rs -C -n -l -f /guest/keepalived.conf -p /run/kr.pid -c /run/kr-c.pid
kill $SERVE
exit 0
EOF
chmod 755 "$G/guest/run.sh"

LIMIT=$(( 120 + 2 * (WARMUP + WINDOW + 15) ))
echo "checkers side by side in the VM: $N real servers, delay_loop 1 s, window ${WINDOW} s each" >&2
set +e
VM_MEM=${VM_MEM:-2048} sh tests/vm/run-guest.sh "$BASE" "$G" "$LIMIT" > "$WORK/console"
rc=$?
set -e
grep -v '^@@RESULT' "$WORK/console" | tail -20 >&2
[ $rc -eq 0 ] || { echo "guest failed (rc $rc)" >&2; exit 1; }

awk -v n="$N" '
/^@@RESULT/ {
    name = $2
    for (i = 3; i <= NF; i++) { split($i, kv, "="); v[name, kv[1]] = kv[2] }
    names[++k] = name
}
END {
    printf "%-11s %12s %12s %10s %16s %12s %6s\n", "daemon", "checks/s", "configured", "achieved", "cpu_s/1000chk", "peak_rss_MiB", "procs"
    for (j = 1; j <= k; j++) {
        d = names[j]
        rate[d] = v[d, "conns"] / v[d, "secs"]
        cpu[d] = (v[d, "ticks"] / 100) / (v[d, "conns"] / 1000)
        rss[d] = v[d, "hwm_kib"] / 1024
        printf "%-11s %12.1f %12d %9.1f%% %16.4f %12.1f %6d\n", d, rate[d], n, 100 * rate[d] / n, cpu[d], rss[d], v[d, "procs"]
        printf "            (window %.1f s: %d connections, %d HTTP answers, %.2f CPU s)\n", v[d, "secs"], v[d, "conns"], v[d, "http"], v[d, "ticks"] / 100
    }
    if (("ours", "conns") in v && ("keepalived", "conns") in v)
        printf "ratio ours/keepalived: checks/s %.2f, cpu per check %.2f, peak RSS %.2f\n", rate["ours"] / rate["keepalived"], cpu["ours"] / cpu["keepalived"], rss["ours"] / rss["keepalived"]
}' "$WORK/console"
