#!/bin/sh
# IPVS programming speed, measured in the test VM (tests/vm/): 10,000 services x 10
# destinations from a cold start, then a reload changing one destination's weight; for
# keepalived-rs, for Debian's keepalived 2.2.7, and `ipvsadm -R` of the same table as the floor.
#
#   benches/ipvs.sh [SERVICES] [DESTS]      (defaults 10000 10)
#   ONLY=ipvsadm|ours|keepalived benches/ipvs.sh   (one contender)
#
# Needs what tests/ipvs_vm.rs needs (qemu-system-x86, linux-image-amd64, busybox-static,
# ipvsadm, keepalived). Builds the test binary (release) that carries the guest tool.
# Prints one line per measurement; all times are wall-clock inside the VM (TCG, 1 vCPU).
set -eu
N=${1:-10000}
D=${2:-10}
cd "$(dirname "$0")/.."

cargo test --release --test ipvs_vm --no-run 2>/dev/null
BIN=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/ipvs_vm-* | grep -v '\.d$' | head -1)
BASE=target/ipvs-vm
if [ ! -e "$BASE/base.cpio.gz" ]; then
    sh tests/vm/build-base.sh "$BASE"
fi

G=$(mktemp -d)
trap 'rm -rf "$G"' EXIT
mkdir -p "$G/guest" "$G/cfg" "$G/bin"
objcopy --strip-debug "$BIN" "$G/bin/ipvs-guest"

# The configuration: services 10.a.b.c:80, destinations 172.16.x.y:8080, all NAT, wlc.
gen() { # $1 = weight of the first destination of the first service
    awk -v n="$N" -v d="$D" -v w0="$1" 'BEGIN {
        print "global_defs {\n    router_id BENCH\n}"
        for (i = 0; i < n; i++) {
            printf "virtual_server 10.%d.%d.%d 80 {\n    lvs_sched wlc\n    lvs_method NAT\n    protocol TCP\n", int(i/62500), int(i/250)%250, i%250+1
            for (j = 0; j < d; j++) {
                k = i*d + j
                w = (i == 0 && j == 0) ? w0 : 1
                printf "    real_server 172.%d.%d.%d 8080 {\n        weight %d\n    }\n", 16+int(k/62500), int(k/250)%250, k%250+1, w
            }
            print "}"
        }
    }'
}
gen 1 > "$G/cfg/a.conf"
gen 5 > "$G/cfg/b.conf"
# The same table as an ipvsadm -R script.
awk -v n="$N" -v d="$D" 'BEGIN {
    for (i = 0; i < n; i++) {
        s = sprintf("10.%d.%d.%d:80", int(i/62500), int(i/250)%250, i%250+1)
        print "-A -t " s " -s wlc"
        for (j = 0; j < d; j++) {
            k = i*d + j
            printf "-a -t %s -r 172.%d.%d.%d:8080 -m -w 1\n", s, 16+int(k/62500), int(k/250)%250, k%250+1
        }
    }
}' > "$G/cfg/restore.txt"

# One boot per contender: a kernel that has just deleted many destinations keeps them in its
# trash list for minutes and every later add walks it, so runs in one boot would not be fair.
prelude='
ip() { /usr/sbin/ip "$@"; }
now() { cut -d" " -f1 /proc/uptime; }
ms() { awk -v a="$1" -v b="$2" "BEGIN { printf \"%d\", (b - a) * 1000 }"; }
count() { ipvsadm -Ln | grep -c "^  -> [0-9]"; }
tool() { IPVS_GUEST="$1" /bin/ipvs-guest guest_tool --exact --nocapture --quiet --test-threads=1 2>&1 | grep "^@@"; }
modprobe ip_vs
'
boot() {
    case "${ONLY:-all}" in all|"$2") ;; *) return 0 ;; esac
    printf '%s\n%s\n' "$prelude" "$1" > "$G/guest/run.sh"
    VM_MEM=2048 sh tests/vm/run-guest.sh "$BASE" "$G" 3000 | grep '^@@\(BENCH\|APPLY\|FAILED\)'
}

# Floor: ipvsadm -R of the same table.
boot 't0=$(now); ipvsadm -R < /cfg/restore.txt; t1=$(now)
echo "@@BENCH ipvsadm-R cold_ms=$(ms $t0 $t1) dests=$(count)@@"' ipvsadm

# keepalived-rs: cold apply, a one-destination reload (verifying only changed services), and
# the same reload verified in full. The tool times parsing (parse_us), building the desired
# table (build_us) and programming (apply_us) separately.
boot 'tool "start /cfg/a.conf; apply /cfg/a.conf full; apply /cfg/b.conf changed; apply /cfg/a.conf full"
echo "@@BENCH ours dests=$(count)@@"' ours

# keepalived: wall clock from start until the table is complete, then from SIGHUP until the
# weight changed (includes its config re-read). The config has no checkers: all real servers up.
boot 'want=$(grep -c real_server /cfg/a.conf)
t0=$(now)
keepalived -C -n -f /cfg/a.conf -p /run/ka.pid -c /run/ka-c.pid >/dev/null 2>&1 &
k=$!
while [ "$(count)" -lt "$want" ]; do sleep 0.05; done
t1=$(now)
echo "@@BENCH keepalived cold_ms=$(ms $t0 $t1) dests=$(count)@@"
cp /cfg/b.conf /cfg/a.conf
t0=$(now)
kill -HUP $k
while ! ipvsadm -Ln -t 10.0.0.1:80 | grep -q "Masq    5"; do sleep 0.01; done
t1=$(now)
echo "@@BENCH keepalived reload_ms=$(ms $t0 $t1)@@"
kill -TERM $k; wait $k' keepalived
