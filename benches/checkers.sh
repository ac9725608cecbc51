#!/usr/bin/env bash
# Health-checker scale benchmark (issue 5): N real servers (TCP_CHECK and HTTP_GET
# alternating, delay_loop 1 s) against listeners on 127.0.0.0/8, bounded run.
#
#   benches/checkers.sh [REAL_SERVERS=10000] [SECONDS=30]
#
# A listener process (`checkers_bench serve`, benches/checkers/driver.rs) binds 127.0.0.2.. × ports 8000.. (50 hosts ×
# N/50 ports); the checker engine (`checkers_bench run`, the library's check::run_with on a
# generated keepalived.conf, one tokio worker thread) runs for SECONDS and reports:
#   checks_per_s vs configured_per_s (after the first 2 s of warmup),
#   cpu_s_per_1000_checks and cpu_cores (CPU of the checker process only),
#   max_late_ms / late_over_10pct (probes started >10% of delay_loop after their deadline),
#   peak_rss_mib (VmHWM of the checker process).
# Only loopback addresses are used; everything is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-10000}
SECS=${2:-30}
HOSTS=50
PORTS=$(( (N + HOSTS - 1) / HOSTS ))
FIRST_PORT=8000

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release --example checkers_bench >/dev/null 2>&1 || cargo build --release --example checkers_bench
BIN=${CARGO_TARGET_DIR:-target}/release/examples/checkers_bench
WORK=$(mktemp -d)
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; }; rm -rf "$WORK"' EXIT

# The configuration: 100 virtual servers of N/100 real servers each.
awk -v n="$N" -v hosts="$HOSTS" -v ports="$PORTS" -v fp="$FIRST_PORT" 'BEGIN {
    per = int((n + 99) / 100); i = 0
    for (v = 0; v < 100 && i < n; v++) {
        printf "virtual_server 10.200.%d.%d 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n", int(v / 250), v % 250 + 1
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
}' > "$WORK/keepalived.conf"

BENCH_THREADS=1 "$BIN" serve 2 "$HOSTS" "$FIRST_PORT" "$PORTS" > "$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    grep -q listening "$WORK/serve.log" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log"; exit 1; }
    sleep 0.1
done
grep -q listening "$WORK/serve.log" || { echo "listener did not start"; exit 1; }

echo "checkers bench: $N real servers, delay_loop 1 s, ${SECS} s run"
BENCH_THREADS=1 RUST_LOG=warn timeout $((SECS + 60)) "$BIN" run "$WORK/keepalived.conf" "$SECS" | tr ' ' '\n'
