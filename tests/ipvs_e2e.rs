//! End to end in the IPVS VM (issue 6, test 3): the product daemon (`keepalived`, this crate's
//! binary, with `-n -l -D`) as an LVS router, in network namespaces inside one VM per scenario
//! (IPVS tables are per namespace, so each router has its own), with busybox `httpd` real
//! servers and a client fetching pages through the VIP with busybox `wget`.
//!
//! 1. [`vm_e2e_nat`], like the RHEL NAT example: client and the routers' public sides on a
//!    bridge in 198.51.100.0/24 (VIP 198.51.100.100), the routers' private sides and the real
//!    servers on a bridge in 203.0.113.0/24 (NAT-router VIP 203.0.113.254, the real servers'
//!    default gateway); both VIPs in two instances of one `vrrp_sync_group`. lvs1 runs our
//!    daemon as MASTER (priority 150), lvs2 Debian's keepalived 2.2.7 as BACKUP (priority 100),
//!    both with the same `lb_kind NAT` rr virtual server and HTTP_GET checkers.
//! 2. [`vm_e2e_dr`], like the RHEL DR example: one bridge, the VIP on each real server's `lo`
//!    with `arp_ignore=1`/`arp_announce=2`; lvs1 and lvs2 both run our daemon; TCP_CHECK with
//!    `inhibit_on_failure`.
//! 3. [`vm_e2e_reload`] (issues 6 and 7): one router running our daemon alone (one VRRP
//!    instance, NAT services A = VIP:80, C = VIP:81 with TCP_CHECK), reloaded with SIGHUP after
//!    its configuration file is edited. Checked through `ipvsadm -Ln`, `--stats`, `-Lnc`, the
//!    daemon's log (`IPVS: N command(s), M service(s) unchanged`) and client traffic:
//!    - good reload (A: one weight changes, B = VIP:8080 appears, C untouched): the table
//!      changes exactly so, in one apply of 4 commands; a slow download through C (the client
//!      stalls its reads, small TCP buffers) stays ESTABLISHED and completes; C's counters
//!      carry on; B serves;
//!    - broken reload (invalid VRID, which `-t` of ours and of keepalived 2.2.7 rejects): the
//!      daemon logs the refusal; table, VIP and the daemon process are unchanged, no IPVS
//!      command is sent; then a good file applies (1 command);
//!    - checker state over an unrelated reload: a real server the checker removed (httpd
//!      stopped) stays out right after it (sampled for 3 s) and comes back only when the
//!      checker sees it up; an up one is not removed and re-added (its Conns counter does not
//!      reset; the reload is 1 command).
//!
//!    Around every reload the VIP is sampled and `ip monitor address` must see no removal of
//!    it, and the daemon logs no VRRP state change. The guest prints the reload-to-table-change
//!    times (`@@FAST …@@`).
//!
//! Each NAT/DR scenario checks, reading the kernel (`ipvsadm -Ln` in each router's namespace)
//! and the client's traffic (pages counted per real server):
//! - a. the client's requests reach both real servers through the VIP, and the MASTER holds
//!   the VIPs;
//! - b. when rs1's httpd stops, the checkers take rs1 out of both routers' tables (NAT:
//!   removed; DR: weight 0 with `inhibit_on_failure`) and all traffic goes to rs2;
//!   - (NAT) lvs1's USR1 dump, `keepalived_check.data` in its `$TMPDIR` (issue 6's counters):
//!     in a, once the kernel's counters have settled (no traffic, 2.5 s unchanged), the
//!     dump's `IPVS counters` section and the `ipvsadm -Ln --stats --exact` read right after
//!     it agree on Conns, InPkts, OutPkts, InBytes and OutBytes for the service and for each
//!     real server (all non-zero), and the live part has both real servers `alive = 1`; in b
//!     rs1 is `alive = 0` and gone from the service's counters;
//! - c. when it starts again it comes back, and traffic reaches both again;
//! - d. when the master dies (SIGKILL of our daemon and lvs1's links down: a dead box; a bare
//!   SIGKILL leaves the VIPs and IPVS entries behind by design, as keepalived's does), lvs2
//!   takes the VIPs and the client's traffic resumes through it;
//! - e. (DR) lvs1 "reboots" (a fresh namespace), takes the VIP back by preemption and serves
//!   the traffic (its service's connection counter); then a SIGTERM: our daemon exits 0 and
//!   removes its VIP, its IPVS service and its sync daemon on the way out, and lvs2 takes over
//!   again.
//!
//! Every wait in the guest script is a poll loop with a count limit (`@@WAIT name ok|timeout@@`);
//! the Rust side asserts with the whole console (which ends with the daemons' logs) in the
//! message, and prints the phase times (`@@T label uptime@@`). The VMs run one after the
//! other (a lock) so that two TCG guests do not starve each other's VRRP timers.
//! `IPVS_VM_CONSOLE=PATH` keeps the consoles in `PATH.nat`, `PATH.dr` and `PATH.reload`.
//!
//! The DR configuration also names `lvs_sync_daemon eth0 VI_1`: `ipvsadm -Ln --daemon` shows
//! the master sync daemon on whichever router is VRRP MASTER and the backup one on the other,
//! through every transition (a, d, e), none on lvs1 after its SIGTERM, and the BACKUP's
//! connection table holds the client's connections the MASTER scheduled.
//!
//! Without qemu or the kernel the tests skip (fail with `KEEPALIVED_RS_PRIVILEGED=1`).

#[path = "vm/mod.rs"]
mod vm;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vm::{Guest, GuestRun};

/// One VM at a time (see the module comment).
static VM: Mutex<()> = Mutex::new(());

/// Requests per count.
const N: usize = 8;

/// Shell helpers shared by both scenarios (busybox sh).
const PRELUDE: &str = r#"
set -u
# busybox runs its own applets before PATH (in sh, and in applets such as timeout): use
# iproute2's ip. A background job calls /usr/sbin/ip itself, so that $! is the pid of the
# program ip execs, not of a subshell running the function.
ip() { /usr/sbin/ip "$@"; }
N=@N@
t() { echo "@@T $1 $(cut -d' ' -f1 /proc/uptime)@@"; }
# wait_for NAME TRIES CMD...: run CMD every 0.5 s until it succeeds, at most TRIES times.
wait_for() {
    local name=$1 tries=$2 n=0
    shift 2
    while [ "$n" -lt "$tries" ]; do
        if "$@" >/dev/null 2>&1; then echo "@@WAIT $name ok $n@@"; return 0; fi
        sleep 0.5; n=$((n+1))
    done
    echo "@@WAIT $name timeout@@"
    return 1
}
mkbridge() { ip link add "$1" type bridge; ip link set "$1" up; }
node() { ip netns add "$1"; ip -n "$1" link set lo up; }
# port NS BRIDGE IFNAME ADDR/LEN HOSTSIDE: a veth from BRIDGE into NS.
port() {
    ip link add "$5" type veth peer name "$3" netns "$1"
    ip link set "$5" master "$2"; ip link set "$5" up
    ip -n "$1" addr add "$4" dev "$3"; ip -n "$1" link set "$3" up
}
httpd_start() {
    mkdir -p "/www/$1"; echo "hello from $1" > "/www/$1/index.html"
    /usr/sbin/ip netns exec "$1" httpd -f -p 80 -h "/www/$1" &
    echo $! > "/run/httpd-$1.pid"
}
httpd_stop() { local p; p=$(cat "/run/httpd-$1.pid"); kill "$p"; wait "$p" 2>/dev/null; }
# ours NS CFG / theirs NS CFG: our daemon or Debian's keepalived in NS, logging to /tmp/NS.log
# (keepalived without -G also logs through syslog, which falls back to the console).
# Our daemon's dumps go to its own $TMPDIR, /run/dump-NS (keepalived's `set_tmp_dir`).
ours() {
    mkdir -p "/run/dump-$1"
    TMPDIR="/run/dump-$1" /usr/sbin/ip netns exec "$1" /bin/keepalived-rs -n -l -D -f "$2" -p "/run/$1.pid" -r "/run/$1-vrrp.pid" \
        -c "/run/$1-checkers.pid" >>"/tmp/$1.log" 2>&1 &
    echo $! > "/run/$1.daemon"
}
theirs() {
    /usr/sbin/ip netns exec "$1" keepalived -n -l -G -D -f "$2" -p "/run/$1.pid" -r "/run/$1-vrrp.pid" \
        -c "/run/$1-checkers.pid" >>"/tmp/$1.log" 2>&1 &
    echo $! > "/run/$1.daemon"
}
# gone PID: the process has exited (a zombie counts: the script has not reaped it yet).
gone() { ! [ -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status"; }
has_dest() { local t; t=$(ip netns exec "$1" ipvsadm -Ln) && echo "$t" | grep -q -- "-> $2 "; }
lacks_dest() { local t; t=$(ip netns exec "$1" ipvsadm -Ln) && ! echo "$t" | grep -q -- "-> $2 "; }
# weight_is NS ADDR:PORT W
weight_is() {
    local w
    w=$(ip netns exec "$1" ipvsadm -Ln | awk -v d="$2" '$1 == "->" && $2 == d {print $4}')
    [ "$w" = "$3" ]
}
has_vip() { ip -n "$1" -o -4 addr show | grep -q " $2/"; }
lacks_vip() { local a; a=$(ip -n "$1" -o -4 addr show) && ! echo "$a" | grep -q " $2/"; }
# (busybox wget -T crashes here: timeout bounds it instead.)
# sync_is NS ROLE…: NS runs exactly these IPVS sync daemons (master, backup), in this order.
sync_is() {
    local ns=$1 d
    shift
    d=$(ip netns exec "$ns" ipvsadm -Ln --daemon | awk '{print $1}' | tr '\n' ' ')
    [ "$d" = "$* " ] || [ "$d" = "$*" ]
}
# served NS MIN: NS's virtual service counted at least MIN connections (the kernel folds its
# per-CPU counters into what it reports every 2 s, so this is polled).
served() {
    local c
    c=$(ip netns exec "$1" ipvsadm -Ln --stats --exact | awk '$1 == "TCP" {print $3; exit}')
    [ "${c:-0}" -ge "$2" ]
}
# synced NS: NS's connection table holds the client's connections (from the sync daemon).
synced() { ip netns exec "$1" ipvsadm -Lnc | grep -q ' 198.51.100.2:'; }
page() { timeout 5 /usr/sbin/ip netns exec client wget -q -O - http://198.51.100.100/ 2>/dev/null; }
reach() { page | grep -q "hello from"; }
# pages LABEL: N requests through the VIP, one connection each; a page (or a failure) a line.
pages() {
    local i=0
    echo "@@BEGIN $1@@"
    while [ $i -lt $N ]; do
        page || echo "request failed"
        i=$((i+1))
    done
    echo "@@END $1@@"
}
# show LABEL NS: NS's IPVS table, sync daemons, counters and IPv4 addresses.
show() {
    echo "@@BEGIN $1@@"
    ip netns exec "$2" ipvsadm -Ln
    echo "== --daemon"; ip netns exec "$2" ipvsadm -Ln --daemon
    echo "== --stats"; ip netns exec "$2" ipvsadm -Ln --stats --exact
    echo "== connections"; ip netns exec "$2" ipvsadm -Lnc
    echo "== links"; ip -n "$2" -o link show | awk '{print $2, $(NF-2)}'
    echo "== addresses"; ip -n "$2" -o -4 addr show | awk '{print $2, $4}'
    echo "@@END $1@@"
}
# counters NS: NS's `ipvsadm -Ln --stats --exact` rows (services and destinations).
counters() {
    ip netns exec "$1" ipvsadm -Ln --stats --exact | awk '$1 != "IP" && $1 != "Prot" && $2 != "RemoteAddress:Port"'
}
# settled NS: NS's IPVS counters stayed the same for 2.5 s (20 reads at most). The kernel folds
# its per-CPU counters into the ones it reports every 2 s, so only then do two reads agree.
settled() {
    local prev cur n=0 same=0
    prev=$(counters "$1")
    while [ $n -lt 20 ]; do
        sleep 0.5; n=$((n+1))
        cur=$(counters "$1")
        if [ "$cur" = "$prev" ]; then
            same=$((same+1)); [ $same -ge 5 ] && return 0
        else
            same=0; prev=$cur
        fi
    done
    return 1
}
# check_dump LABEL NS: USR1 to our daemon in NS; once its keepalived_check.data is written
# (the old one is removed first; the daemon renames a complete file into place), NS's
# `ipvsadm -Ln --stats --exact` at once; both printed, as sections LABEL and LABEL-ipvsadm.
check_dump() {
    local f="/run/dump-$2/keepalived_check.data" k
    rm -f "$f"
    kill -USR1 "$(cat "/run/$2.daemon")"
    wait_for "$1" 20 test -s "$f"
    k=$(ip netns exec "$2" ipvsadm -Ln --stats --exact)
    echo "@@BEGIN $1@@"; cat "$f" 2>/dev/null; echo "@@END $1@@"
    echo "@@BEGIN $1-ipvsadm@@"; echo "$k"; echo "@@END $1-ipvsadm@@"
}
logs() {
    local n
    for n in "$@"; do
        echo "@@BEGIN log $n@@"; tail -n 400 "/tmp/$n.log"; echo "@@END log $n@@"
    done
}
"#;

// ===== the NAT scenario =====

const NAT_CONF: &str = r#"# lvs1/lvs2 of the NAT end-to-end test (tests/ipvs_e2e.rs), after the RHEL NAT example.
global_defs {
    router_id @ROUTER@
}

vrrp_sync_group VG_NAT {
    group {
        VI_PUBLIC
        VI_GATEWAY
    }
}

vrrp_instance VI_PUBLIC {
    state @STATE@
    interface eth0
    virtual_router_id 51
    priority @PRIO@
    advert_int 1
    virtual_ipaddress {
        198.51.100.100/24 dev eth0
    }
}

vrrp_instance VI_GATEWAY {
    state @STATE@
    interface eth1
    virtual_router_id 52
    priority @PRIO@
    advert_int 1
    virtual_ipaddress {
        203.0.113.254/24 dev eth1
    }
}

virtual_server 198.51.100.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP

    real_server 203.0.113.1 80 {
        weight 1
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }

    real_server 203.0.113.2 80 {
        weight 1
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
"#;

const NAT_SCRIPT: &str = r#"
t boot
mkbridge brpub; mkbridge brpriv
for n in client lvs1 lvs2 rs1 rs2; do node $n; done
port client brpub eth0 198.51.100.2/24 pc
port lvs1 brpub eth0 198.51.100.11/24 p1
port lvs1 brpriv eth1 203.0.113.11/24 q1
port lvs2 brpub eth0 198.51.100.12/24 p2
port lvs2 brpriv eth1 203.0.113.12/24 q2
port rs1 brpriv eth0 203.0.113.1/24 r1
port rs2 brpriv eth0 203.0.113.2/24 r2
for n in rs1 rs2; do ip -n $n route add default via 203.0.113.254; httpd_start $n; done
for n in lvs1 lvs2; do ip netns exec $n sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'; done
ours lvs1 /cfg/lvs1.conf
theirs lvs2 /cfg/lvs2.conf
t started

# a. both real servers through the VIP
wait_for a-lvs1-public-vip 60 has_vip lvs1 198.51.100.100
wait_for a-lvs1-gateway-vip 60 has_vip lvs1 203.0.113.254
for n in lvs1 lvs2; do
    wait_for a-$n-rs1 60 has_dest $n 203.0.113.1:80
    wait_for a-$n-rs2 60 has_dest $n 203.0.113.2:80
done
wait_for a-reach 40 reach
t a
pages nat-a
show nat-a-lvs1 lvs1; show nat-a-lvs2 lvs2
# our daemon's USR1 dump: live checker state and the kernel's counters, equal to ipvsadm's
t a-shown
wait_for a-settled 1 settled lvs1
check_dump nat-a-dump lvs1
t a-dump

# b. rs1's httpd stops: the checkers remove it
httpd_stop rs1
t b-stop
wait_for b-lvs1-removed 60 lacks_dest lvs1 203.0.113.1:80
t b-lvs1
check_dump nat-b-dump lvs1
t b-dump
wait_for b-lvs2-removed 60 lacks_dest lvs2 203.0.113.1:80
pages nat-b
show nat-b-lvs1 lvs1; show nat-b-lvs2 lvs2

# c. it comes back
httpd_start rs1
t c-start
wait_for c-lvs1-back 60 has_dest lvs1 203.0.113.1:80
t c-lvs1
wait_for c-lvs2-back 60 has_dest lvs2 203.0.113.1:80
pages nat-c
show nat-c-lvs1 lvs1; show nat-c-lvs2 lvs2

# d. the master dies: SIGKILL and its links down
kill -KILL "$(cat /run/lvs1.daemon)"
ip -n lvs1 link set eth0 down; ip -n lvs1 link set eth1 down
t d-kill
show nat-d-lvs1 lvs1
wait_for d-lvs2-public-vip 60 has_vip lvs2 198.51.100.100
wait_for d-lvs2-gateway-vip 60 has_vip lvs2 203.0.113.254
t d-vips
wait_for d-reach 60 reach
t d-reach
pages nat-d
show nat-d-lvs2 lvs2

kill -TERM "$(cat /run/lvs2.daemon)"
logs lvs1 lvs2
"#;

#[test]
fn vm_e2e_nat() {
    let Some(base) = vm::base() else { return };
    let _one = VM.lock().unwrap_or_else(|e| e.into_inner());
    let g = guest(NAT_SCRIPT);
    let conf = |router: &str, state: &str, prio: &str| {
        NAT_CONF
            .replace("@ROUTER@", router)
            .replace("@STATE@", state)
            .replace("@PRIO@", prio)
    };
    g.file(
        "cfg/lvs1.conf",
        conf("lvs1", "MASTER", "150").as_bytes(),
        0o644,
    );
    g.file(
        "cfg/lvs2.conf",
        conf("lvs2", "BACKUP", "100").as_bytes(),
        0o644,
    );
    let run = boot(&g, &base, "nat");
    let mut c = Checks::new(&run);

    // a.
    for r in ["lvs1", "lvs2"] {
        let s = c.section(&format!("nat-a-{r}"));
        c.expect(
            dests(&s) == [masq("203.0.113.1:80", 1), masq("203.0.113.2:80", 1)],
            format!("a: {r}'s table holds both real servers (Masq, weight 1)"),
        );
    }
    let a1 = c.section("nat-a-lvs1");
    let a2 = c.section("nat-a-lvs2");
    for vip in ["198.51.100.100/24", "203.0.113.254/24"] {
        c.expect(has(&a1, vip), format!("a: lvs1 (MASTER) holds {vip}"));
        c.expect(
            !has(&a2, vip),
            format!("a: lvs2 (BACKUP) does not hold {vip}"),
        );
    }
    c.pages_both("nat-a");
    dump_matches_kernel(&mut c);

    // b.
    for r in ["lvs1", "lvs2"] {
        let s = c.section(&format!("nat-b-{r}"));
        c.expect(
            dests(&s) == [masq("203.0.113.2:80", 1)],
            format!("b: the checker removed rs1 from {r}'s table"),
        );
    }
    c.pages_only_rs2("nat-b");
    let db = c.section("nat-b-dump");
    c.expect(
        dump_alive(&db) == [(RS1.into(), Some(0)), (RS2.into(), Some(1))],
        format!(
            "b: lvs1's USR1 dump shows rs1 alive = 0 and rs2 alive = 1: {:?}",
            dump_alive(&db)
        ),
    );
    let svc = dump_counters(&db).and_then(|v| v.into_iter().find(|s| s.name == DUMP_VS));
    c.expect(
        svc.as_ref()
            .is_some_and(|s| s.dests.iter().map(|d| d.0.as_str()).eq([RS2])),
        format!(
            "b: rs1 is gone from the service in the dump's IPVS counters (NAT removes it): {svc:?}"
        ),
    );

    // c.
    for r in ["lvs1", "lvs2"] {
        let s = c.section(&format!("nat-c-{r}"));
        c.expect(
            dests(&s) == [masq("203.0.113.1:80", 1), masq("203.0.113.2:80", 1)],
            format!("c: rs1 is back in {r}'s table"),
        );
    }
    c.pages_both("nat-c");

    // d.
    let d2 = c.section("nat-d-lvs2");
    for vip in ["198.51.100.100/24", "203.0.113.254/24"] {
        c.expect(has(&d2, vip), format!("d: lvs2 took over {vip}"));
    }
    c.expect(
        dests(&d2) == [masq("203.0.113.1:80", 1), masq("203.0.113.2:80", 1)],
        "d: lvs2's table holds both real servers".into(),
    );
    c.pages_both("nat-d");
    c.finish("NAT");
}

/// The real servers as the dumps name them.
const RS1: &str = "203.0.113.1:80";
const RS2: &str = "203.0.113.2:80";
/// The NAT service's line in the dump's `IPVS counters` section (after ` VS = `).
const DUMP_VS: &str = "[198.51.100.100]:tcp:80, service TCP 198.51.100.100:80";

/// a. lvs1's USR1 dump (`nat-a-dump`, taken once the kernel's counters had settled) against
/// the `ipvsadm -Ln --stats --exact` read right after it (`nat-a-dump-ipvsadm`), with no
/// traffic in between: the same counters for the service and for each real server, all
/// non-zero (both served the client); the live part has both real servers alive.
fn dump_matches_kernel(c: &mut Checks) {
    let dump = c.section("nat-a-dump");
    let kernel = ipvsadm_counters(&c.section("nat-a-dump-ipvsadm"));
    c.expect(
        dump_alive(&dump) == [(RS1.into(), Some(1)), (RS2.into(), Some(1))],
        format!(
            "a: lvs1's USR1 dump shows both real servers alive = 1: {:?}",
            dump_alive(&dump)
        ),
    );
    let Some(ours) = dump_counters(&dump) else {
        c.expect(
            false,
            "a: lvs1's USR1 dump has an IPVS counters section".into(),
        );
        return;
    };
    c.expect(
        ours.iter().map(|s| s.name.as_str()).eq([DUMP_VS]),
        format!("a: the dump's counters name the one service {DUMP_VS}: {ours:?}"),
    );
    c.expect(
        kernel
            .iter()
            .map(|s| s.name.as_str())
            .eq(["TCP 198.51.100.100:80"]),
        format!("a: ipvsadm lists the one service: {kernel:?}"),
    );
    let (Some(o), Some(k)) = (ours.first(), kernel.first()) else {
        return;
    };
    let positive = |x: &Option<Counts>| x.is_some_and(|v| v.iter().all(|&n| n > 0));
    c.expect(
        o.counts.is_some() && o.counts == k.counts && positive(&o.counts),
        format!(
            "a: the service's Conns, InPkts, OutPkts, InBytes, OutBytes in the dump equal ipvsadm's, all > 0: dump {:?}, ipvsadm {:?}",
            o.counts, k.counts
        ),
    );
    c.expect(
        o.dests.iter().map(|d| d.0.as_str()).eq([RS1, RS2])
            && k.dests.iter().map(|d| d.0.as_str()).eq([RS1, RS2]),
        format!(
            "a: the dump and ipvsadm list both real servers: dump {:?}, ipvsadm {:?}",
            o.dests, k.dests
        ),
    );
    for ((name, ours), (_, theirs)) in o.dests.iter().zip(&k.dests) {
        c.expect(
            ours.is_some() && ours == theirs && positive(ours),
            format!(
                "a: {name}'s counters in the dump equal ipvsadm's, all > 0: dump {ours:?}, ipvsadm {theirs:?}"
            ),
        );
    }
}

/// Conns, InPkts, OutPkts, InBytes, OutBytes.
type Counts = [u64; 5];

/// One service's counters and its destinations' (address:port, counters), in listing order.
#[derive(Debug, Default)]
struct SvcCounters {
    name: String,
    counts: Option<Counts>,
    dests: Vec<(String, Option<Counts>)>,
}

/// The `IPVS counters` section of a `keepalived_check.data`, or `None` without one:
///
/// ```text
///  VS = [VIP]:tcp:80, service TCP VIP:80
///    Conns = 9, InPkts = 54, OutPkts = 36, InBytes = 3601, OutBytes = 4318
///    CPS = 0, …
///    RS = RIP:80
///      ActiveConn = 0, InActConn = 5, PersistConn = 0
///      Conns = 5, …
/// ```
fn dump_counters(dump: &str) -> Option<Vec<SvcCounters>> {
    let mut lines = dump
        .lines()
        .skip_while(|l| *l != "------< IPVS counters >------");
    lines.next()?;
    let mut v: Vec<SvcCounters> = Vec::new();
    for l in lines {
        if l.starts_with("------<") {
            break;
        } else if let Some(name) = l.strip_prefix(" VS = ") {
            v.push(SvcCounters {
                name: name.to_string(),
                ..SvcCounters::default()
            });
        } else if let Some(rs) = l.strip_prefix("   RS = ") {
            if let Some(s) = v.last_mut() {
                s.dests.push((rs.to_string(), None));
            }
        } else if l.trim_start().starts_with("Conns = ") {
            // "Conns = 9, InPkts = 54, OutPkts = 36, InBytes = 3601, OutBytes = 4318"
            let fields: Option<Vec<(&str, u64)>> = l
                .split(',')
                .map(|f| {
                    let (k, n) = f.split_once(" = ")?;
                    Some((k.trim(), n.trim().parse().ok()?))
                })
                .collect();
            let counts = fields
                .filter(|f| {
                    f.iter()
                        .map(|x| x.0)
                        .eq(["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"])
                })
                .and_then(|f| f.iter().map(|x| x.1).collect::<Vec<_>>().try_into().ok());
            if let Some(s) = v.last_mut() {
                match s.dests.last_mut() {
                    Some(d) => d.1 = counts,
                    None => s.counts = counts,
                }
            }
        }
    }
    Some(v)
}

/// The counters of `ipvsadm -Ln --stats --exact`: services named `PROTO ADDR:PORT`.
fn ipvsadm_counters(out: &str) -> Vec<SvcCounters> {
    let mut v: Vec<SvcCounters> = Vec::new();
    for l in out.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        let counts = |n: &[&str]| -> Option<Counts> {
            n.iter()
                .map(|x| x.parse().ok())
                .collect::<Option<Vec<u64>>>()?
                .try_into()
                .ok()
        };
        match w[..] {
            [p, addr, ref n @ ..] if n.len() == 5 && ["TCP", "UDP", "SCTP", "FWM"].contains(&p) => {
                v.push(SvcCounters {
                    name: format!("{p} {addr}"),
                    counts: counts(n),
                    dests: Vec::new(),
                })
            }
            ["->", addr, ref n @ ..] if n.len() == 5 => {
                if let Some(s) = v.last_mut() {
                    s.dests.push((addr.to_string(), counts(n)));
                }
            }
            _ => {}
        }
    }
    v
}

/// The live `alive = N` of each real server block (`RIP = A, RPORT = P, …`) of a
/// `keepalived_check.data`: (A:P, N).
fn dump_alive(dump: &str) -> Vec<(String, Option<u8>)> {
    let mut v: Vec<(String, Option<u8>)> = Vec::new();
    let mut inside = false;
    for l in dump.lines() {
        if let Some(rest) = l.strip_prefix("   RIP = ") {
            let Some((addr, rest)) = rest.split_once(", RPORT = ") else {
                continue;
            };
            let port = rest.split(',').next().unwrap_or("");
            v.push((format!("{addr}:{port}"), None));
            inside = true;
        } else if l.contains("------<") {
            inside = false;
        } else if let (true, Some(a), Some(last)) =
            (inside, l.strip_prefix("   alive = "), v.last_mut())
        {
            last.1 = a.trim().parse().ok();
        }
    }
    v
}

// ===== the DR scenario =====

const DR_CONF: &str = r#"# lvs1/lvs2 of the DR end-to-end test (tests/ipvs_e2e.rs), after the RHEL DR example.
global_defs {
    router_id @ROUTER@
    lvs_sync_daemon eth0 VI_1
}

vrrp_instance VI_1 {
    state @STATE@
    interface eth0
    virtual_router_id 61
    priority @PRIO@
    advert_int 1
    virtual_ipaddress {
        198.51.100.100/32 dev eth0
    }
}

virtual_server 198.51.100.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP

    real_server 198.51.100.21 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_port 80
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }

    real_server 198.51.100.22 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_port 80
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
"#;

const DR_SCRIPT: &str = r#"
t boot
mkbridge brpub
for n in client lvs1 lvs2 rs1 rs2; do node $n; done
port client brpub eth0 198.51.100.2/24 pc
port lvs1 brpub eth0 198.51.100.11/24 p1
port lvs2 brpub eth0 198.51.100.12/24 p2
port rs1 brpub eth0 198.51.100.21/24 r1
port rs2 brpub eth0 198.51.100.22/24 r2
for n in rs1 rs2; do
    # The VIP on lo, never answered for in ARP (RHEL DR example, arp_ignore/arp_announce).
    ip netns exec $n sh -c 'for c in all eth0; do
        echo 1 > /proc/sys/net/ipv4/conf/$c/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/$c/arp_announce
    done'
    ip -n $n addr add 198.51.100.100/32 dev lo
    httpd_start $n
done
ours lvs1 /cfg/lvs1.conf
ours lvs2 /cfg/lvs2.conf
t started

# a. both real servers through the VIP
wait_for a-lvs1-vip 60 has_vip lvs1 198.51.100.100
for n in lvs1 lvs2; do
    wait_for a-$n-rs1 60 weight_is $n 198.51.100.21:80 1
    wait_for a-$n-rs2 60 weight_is $n 198.51.100.22:80 1
done
wait_for a-reach 40 reach
t a
pages dr-a
wait_for a-lvs1-sync 20 sync_is lvs1 master
wait_for a-lvs2-sync 20 sync_is lvs2 backup
wait_for a-lvs2-synced 20 synced lvs2
show dr-a-lvs1 lvs1; show dr-a-lvs2 lvs2

# b. rs1's httpd stops: inhibit_on_failure sets its weight to 0
httpd_stop rs1
t b-stop
wait_for b-lvs1-weight0 60 weight_is lvs1 198.51.100.21:80 0
t b-lvs1
wait_for b-lvs2-weight0 60 weight_is lvs2 198.51.100.21:80 0
pages dr-b
show dr-b-lvs1 lvs1; show dr-b-lvs2 lvs2

# c. it comes back
httpd_start rs1
t c-start
wait_for c-lvs1-weight1 60 weight_is lvs1 198.51.100.21:80 1
t c-lvs1
wait_for c-lvs2-weight1 60 weight_is lvs2 198.51.100.21:80 1
pages dr-c
show dr-c-lvs1 lvs1; show dr-c-lvs2 lvs2

# d. the master dies: SIGKILL and its link down
kill -KILL "$(cat /run/lvs1.daemon)"
ip -n lvs1 link set eth0 down
t d-kill
show dr-d-lvs1 lvs1
wait_for d-lvs2-vip 60 has_vip lvs2 198.51.100.100
t d-vip
wait_for d-reach 60 reach
t d-reach
pages dr-d
wait_for d-lvs2-sync 20 sync_is lvs2 master
show dr-d-lvs2 lvs2

# e. lvs1 reboots (a fresh namespace), preempts, serves; then leaves gracefully (SIGTERM)
ip netns del lvs1
node lvs1
port lvs1 brpub eth0 198.51.100.11/24 p1b
ours lvs1 /cfg/lvs1.conf
t e-restart
wait_for e-lvs1-vip 60 has_vip lvs1 198.51.100.100
wait_for e-lvs2-released 60 lacks_vip lvs2 198.51.100.100
wait_for e-lvs1-rs1 60 weight_is lvs1 198.51.100.21:80 1
wait_for e-lvs1-rs2 60 weight_is lvs1 198.51.100.22:80 1
wait_for e-reach 60 reach
t e-preempted
pages dr-e1
wait_for e-lvs1-served 20 served lvs1 $N
wait_for e-lvs1-sync 20 sync_is lvs1 master
wait_for e-lvs2-sync 20 sync_is lvs2 backup
show dr-e1-lvs1 lvs1; show dr-e1-lvs2 lvs2
p=$(cat /run/lvs1.daemon)
kill -TERM "$p"
t e-term
wait_for e-lvs1-exit 40 gone "$p"
wait "$p"; echo "@@EXIT lvs1 $?@@"
show dr-e2-lvs1 lvs1
wait_for e-lvs2-vip 60 has_vip lvs2 198.51.100.100
wait_for e-reach2 60 reach
t e-reach2
pages dr-e2
wait_for e-lvs2-sync-master 20 sync_is lvs2 master
show dr-e2-lvs2 lvs2

kill -TERM "$(cat /run/lvs2.daemon)"
logs lvs1 lvs2
"#;

#[test]
fn vm_e2e_dr() {
    let Some(base) = vm::base() else { return };
    let _one = VM.lock().unwrap_or_else(|e| e.into_inner());
    let g = guest(DR_SCRIPT);
    let conf = |router: &str, state: &str, prio: &str| {
        DR_CONF
            .replace("@ROUTER@", router)
            .replace("@STATE@", state)
            .replace("@PRIO@", prio)
    };
    g.file(
        "cfg/lvs1.conf",
        conf("lvs1", "MASTER", "150").as_bytes(),
        0o644,
    );
    g.file(
        "cfg/lvs2.conf",
        conf("lvs2", "BACKUP", "100").as_bytes(),
        0o644,
    );
    let run = boot(&g, &base, "dr");
    let mut c = Checks::new(&run);
    let both = [route("198.51.100.21:80", 1), route("198.51.100.22:80", 1)];
    let rs1_inhibited = [route("198.51.100.21:80", 0), route("198.51.100.22:80", 1)];
    const VIP: &str = "198.51.100.100/32";

    // a.
    let a1 = c.section("dr-a-lvs1");
    let a2 = c.section("dr-a-lvs2");
    c.expect(
        dests(&a1) == both,
        "a: lvs1's table (Route, weight 1)".into(),
    );
    c.expect(
        dests(&a2) == both,
        "a: lvs2's table (Route, weight 1)".into(),
    );
    c.expect(has(&a1, VIP), "a: lvs1 (MASTER) holds the VIP".into());
    c.expect(!has(&a2, VIP), "a: lvs2 (BACKUP) does not".into());
    // lvs_sync_daemon eth0 VI_1: the MASTER of VI_1 runs the master sync daemon, the BACKUP
    // the backup one, which receives the master's connections.
    c.expect(
        sync_daemons(&a1) == ["master"],
        "a: lvs1 runs the master sync daemon (only)".into(),
    );
    c.expect(
        sync_daemons(&a2) == ["backup"],
        "a: lvs2 runs the backup sync daemon (only)".into(),
    );
    c.expect(
        connections_from_client(&a2) > 0,
        "a: lvs2 holds the client's connections, synced from lvs1".into(),
    );
    c.pages_both("dr-a");

    // b. inhibit_on_failure: weight 0, not removed.
    for r in ["lvs1", "lvs2"] {
        let s = c.section(&format!("dr-b-{r}"));
        c.expect(
            dests(&s) == rs1_inhibited,
            format!("b: inhibit_on_failure set rs1's weight to 0 in {r}'s table"),
        );
    }
    c.pages_only_rs2("dr-b");

    // c.
    for r in ["lvs1", "lvs2"] {
        let s = c.section(&format!("dr-c-{r}"));
        c.expect(
            dests(&s) == both,
            format!("c: rs1's weight is 1 again in {r}"),
        );
    }
    c.pages_both("dr-c");

    // d.
    let d2 = c.section("dr-d-lvs2");
    c.expect(has(&d2, VIP), "d: lvs2 took over the VIP".into());
    c.expect(dests(&d2) == both, "d: lvs2's table".into());
    c.expect(
        sync_daemons(&d2) == ["master"],
        "d: lvs2 runs the master sync daemon after the failover".into(),
    );
    c.pages_both("dr-d");

    // e. Preemption by the rebooted lvs1, then its graceful exit.
    let e1 = c.section("dr-e1-lvs1");
    let e1b = c.section("dr-e1-lvs2");
    c.expect(
        has(&e1, VIP),
        "e: the rebooted lvs1 took the VIP back".into(),
    );
    c.expect(!has(&e1b, VIP), "e: lvs2 released the VIP".into());
    c.expect(dests(&e1) == both, "e: the rebooted lvs1's table".into());
    let served = conns(&e1, "TCP  198.51.100.100:80");
    c.expect(
        served.is_some_and(|n| n >= N as u64),
        format!("e: the client's connections went through the rebooted lvs1 (Conns {served:?})"),
    );
    c.expect(
        sync_daemons(&e1) == ["master"] && sync_daemons(&e1b) == ["backup"],
        "e: after the preemption lvs1 runs the master sync daemon, lvs2 the backup one".into(),
    );
    c.pages_both("dr-e1");
    let e2 = c.section("dr-e2-lvs1");
    c.expect(
        run.values("EXIT lvs1") == ["0"],
        "e: our daemon exits 0 on SIGTERM".into(),
    );
    c.expect(
        !has(&e2, VIP),
        "e: after SIGTERM lvs1 removed its VIP".into(),
    );
    c.expect(
        services(&e2) == 0,
        "e: after SIGTERM lvs1 removed its IPVS service".into(),
    );
    c.expect(
        sync_daemons(&e2).is_empty(),
        "e: after SIGTERM lvs1 stopped its sync daemon".into(),
    );
    let e2b = c.section("dr-e2-lvs2");
    c.expect(has(&e2b, VIP), "e: lvs2 took over after the SIGTERM".into());
    c.expect(
        sync_daemons(&e2b) == ["master"],
        "e: lvs2 runs the master sync daemon after the SIGTERM".into(),
    );
    c.pages_both("dr-e2");
    c.finish("DR");
}

// ===== the reload scenario =====

/// The reload scenario's configuration: `@WA2@` is rs2's weight in service A, `@B@` service B
/// (or nothing), `@VRID@` the instance's VRID (300 makes the file invalid).
const RELOAD_CONF: &str = r#"# lvs1 of the reload end-to-end test (tests/ipvs_e2e.rs).
global_defs {
    router_id lvs1
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id @VRID@
    priority 150
    advert_int 1
    virtual_ipaddress {
        198.51.100.100/24 dev eth0
    }
}

# Service A: a weight changes at the first reload.
virtual_server 198.51.100.100 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 203.0.113.1 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 203.0.113.2 80 {
        weight @WA2@
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}

# Service C: never changes; carries the long-lived connection.
virtual_server 198.51.100.100 81 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 203.0.113.1 81 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 203.0.113.2 81 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
@B@"#;

/// Service B, added at the first reload; `@WB1@` is rs1's weight.
const RELOAD_SERVICE_B: &str = r#"
# Service B: added at the first reload.
virtual_server 198.51.100.100 8080 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 203.0.113.1 8080 {
        weight @WB1@
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 203.0.113.2 8080 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
"#;

/// Size of the file the slow client downloads through service C (KiB).
const BIG_KIB: usize = 2048;

const RELOAD_SCRIPT: &str = r#"
t boot
mkbridge brpub; mkbridge brpriv
for n in client lvs1 rs1 rs2; do node $n; done
port client brpub eth0 198.51.100.2/24 pc
port lvs1 brpub eth0 198.51.100.11/24 p1
port lvs1 brpriv eth1 203.0.113.11/24 q1
port rs1 brpriv eth0 203.0.113.1/24 r1
port rs2 brpriv eth0 203.0.113.2/24 r2
ip netns exec lvs1 sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
# Small TCP buffers at both ends of the slow download, so that a stalled reader stalls the
# connection instead of the whole file sitting in socket buffers.
ip netns exec client sysctl -q -w net.ipv4.tcp_rmem="4096 16384 32768"
# srv NS PORT: busybox httpd on PORT in NS, serving /www/NS.
srv() {
    /usr/sbin/ip netns exec "$1" httpd -f -p "$2" -h "/www/$1" &
    echo $! > "/run/httpd-$1-$2.pid"
}
srv_stop() { local p; p=$(cat "/run/httpd-$1-$2.pid"); kill "$p"; wait "$p" 2>/dev/null; }
for n in rs1 rs2; do
    ip -n $n route add default via 203.0.113.11
    ip netns exec $n sysctl -q -w net.ipv4.tcp_wmem="4096 16384 32768"
    mkdir -p /www/$n; echo "hello from $n" > /www/$n/index.html
    dd if=/dev/zero of=/www/$n/big bs=1024 count=@BIG_KIB@ 2>/dev/null
    for p in 80 81 8080; do srv $n $p; done
done
cp /cfg/v0.conf /cfg/keepalived.conf
ours lvs1 /cfg/keepalived.conf
DAEMON=$(cat /run/lvs1.daemon)
t started

svc_has() { ip netns exec lvs1 ipvsadm -Ln -t "$1" >/dev/null 2>&1; }
# dest_conns ADDR:PORT: the Conns counter of that destination in --stats.
dest_conns() {
    ip netns exec lvs1 ipvsadm -Ln --stats --exact | awk -v d="$1" '$1 == "->" && $2 == d {print $3; exit}'
}
conns_at_least() { local c; c=$(dest_conns "$1"); [ "${c:-0}" -ge "$2" ]; }
# established VIP:PORT: the connection table holds an ESTABLISHED client connection to it.
established() {
    ip netns exec lvs1 ipvsadm -Lnc | awk -v v="$1" '$3 == "ESTABLISHED" && $5 == v && $4 ~ /^198\.51\.100\.2:/ {f=1} END {exit !f}'
}
# identity: the daemon's pid and start time (field 22 of /proc/PID/stat), and its pid file.
identity() { echo "$DAEMON $(cut -d' ' -f22 /proc/$DAEMON/stat 2>/dev/null) $(cat /run/lvs1.pid 2>/dev/null)"; }
# reload LABEL FILE: the daemon's configuration file becomes FILE, then SIGHUP; T0 is the time.
reload() {
    wc -l < /tmp/lvs1.log > "/tmp/mark-$1"
    cat "$2" > /cfg/keepalived.conf
    T0=$(cut -d' ' -f1 /proc/uptime)
    kill -HUP "$DAEMON"
    echo "@@T $1-hup $T0@@"
}
# since LABEL: the daemon's log since `reload LABEL`.
since() {
    echo "@@BEGIN log-$1@@"; tail -n +$(( $(cat "/tmp/mark-$1") + 1 )) /tmp/lvs1.log; echo "@@END log-$1@@"
}
# fast NAME TRIES CMD...: like wait_for without the pause, to time a change: seconds since T0.
fast() {
    local name=$1 tries=$2 n=0
    shift 2
    while [ "$n" -lt "$tries" ]; do
        if "$@" >/dev/null 2>&1; then
            echo "@@FAST $name $(awk -v a="$T0" '{printf "%.2f", $1 - a}' /proc/uptime)@@"
            return 0
        fi
        n=$((n+1))
    done
    echo "@@WAIT $name timeout@@"
    return 1
}
# vip_watch / vip_watch_end LABEL: sample the VIP in lvs1 every 50 ms in the background and
# report the samples and how many lacked it; and record lvs1's address events (`ip monitor`,
# which sees a removal however short).
vip_watch() {
    rm -f /tmp/vipstop /tmp/vipwatch
    /usr/sbin/ip -n lvs1 monitor address > /tmp/addrmon 2>&1 &
    MON=$!
    sleep 0.5
    ( n=0; m=0
      while [ ! -e /tmp/vipstop ] && [ $n -lt 1200 ]; do
          has_vip lvs1 198.51.100.100 || m=$((m+1))
          n=$((n+1)); sleep 0.05
      done
      echo "$n $m" > /tmp/vipwatch ) &
    VIPW=$!
}
vip_watch_end() {
    touch /tmp/vipstop; wait "$VIPW"; echo "@@VIPWATCH $1 $(cat /tmp/vipwatch)@@"
    # A canary: the monitor was listening to the end (it must report this removal).
    ip -n lvs1 addr add 203.0.113.99/32 dev lo; ip -n lvs1 addr del 203.0.113.99/32 dev lo
    wait_for $1-canary 10 grep -q "Deleted.* 203.0.113.99/32" /tmp/addrmon
    kill "$MON"; wait "$MON" 2>/dev/null
    echo "@@BEGIN addrmon-$1@@"; cat /tmp/addrmon; echo "@@END addrmon-$1@@"
}
# svc_conns_at_least VIP:PORT MIN: the service's Conns counter (folded every 2 s: polled).
svc_conns_at_least() {
    local c
    c=$(ip netns exec lvs1 ipvsadm -Ln --stats --exact -t "$1" | awk '$1 == "TCP" {print $3; exit}')
    [ "${c:-0}" -ge "$2" ]
}
# gets LABEL PORT: N requests to VIP:PORT, one connection each.
gets() {
    local i=0
    echo "@@BEGIN $1@@"
    while [ $i -lt $N ]; do
        timeout 5 /usr/sbin/ip netns exec client wget -q -O - "http://198.51.100.100:$2/" 2>/dev/null \
            || echo "request failed"
        i=$((i+1))
    done
    echo "@@END $1@@"
}

# 0. Up: VIP, A and C with both real servers, no B.
wait_for s-vip 60 has_vip lvs1 198.51.100.100
for d in 203.0.113.1:80 203.0.113.2:80 203.0.113.1:81 203.0.113.2:81; do wait_for s-$d 60 has_dest lvs1 $d; done
wait_for s-reach 40 reach
t up
show r0 lvs1

# 1. A good reload with a long-lived connection through C. The client reads 16 KiB of the
# big file, then stalls until /tmp/go (bounded), then reads the rest.
( { timeout 120 /usr/sbin/ip netns exec client wget -q -O - http://198.51.100.100:81/big 2>/dev/null
    echo $? > /tmp/wget.rc; } \
  | { dd bs=1024 count=16 2>/dev/null; i=0
      while [ ! -e /tmp/go ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i+1)); done
      cat; } > /tmp/dl ) &
wait_for g-established 40 established 198.51.100.100:81
wait_for g-counted 20 svc_conns_at_least 198.51.100.100:81 1
echo "@@DL before $(wc -c < /tmp/dl)@@"
show g-before lvs1
vip_watch
reload g /cfg/v1.conf
fast g-b 600 has_dest lvs1 203.0.113.2:8080
fast g-a 600 weight_is lvs1 203.0.113.2:80 3
t g-applied
sleep 2
vip_watch_end g
show g-after lvs1
wait_for g-still-established 4 established 198.51.100.100:81
echo "@@DL after $(wc -c < /tmp/dl)@@"
touch /tmp/go
wait_for g-download 120 test -e /tmp/wget.rc
sleep 0.5
echo "@@DL end $(wc -c < /tmp/dl) rc $(cat /tmp/wget.rc)@@"
gets g-pages-b 8080
since g

# 2. A broken reload is refused (nothing changes), then a good one applies.
echo "@@ID before $(identity)@@"
show x-before lvs1
/bin/keepalived-rs -t -f /cfg/broken.conf >/dev/null 2>&1; echo "@@TEST ours $?@@"
keepalived -t -f /cfg/broken.conf >/dev/null 2>&1; echo "@@TEST keepalived $?@@"
vip_watch
reload x /cfg/broken.conf
wait_for x-refused 40 grep -q "failed validation" /tmp/lvs1.log
sleep 3
vip_watch_end x
echo "@@ID after $(identity)@@"
show x-after lvs1
since x
vip_watch
reload y /cfg/v2.conf
fast y-applied 600 weight_is lvs1 203.0.113.1:8080 2
sleep 2
vip_watch_end y
show y-after lvs1
since y

# 3. Checker state over an unrelated reload: rs2:80 is down, rs1:80 is up and has served.
srv_stop rs2 80
t k-stop
wait_for k-removed 60 lacks_dest lvs1 203.0.113.2:80
gets k-pages 80
wait_for k-counted 20 conns_at_least 203.0.113.1:80 $N
show k-before lvs1
vip_watch
reload k /cfg/v3.conf
fast k-applied 600 weight_is lvs1 203.0.113.1:8080 4
echo "@@CONNS k-right-after $(dest_conns 203.0.113.1:80)@@"
i=0
while [ $i -lt 10 ]; do
    if has_dest lvs1 203.0.113.2:80; then echo "@@FLAP k $i@@"; fi
    i=$((i+1)); sleep 0.3
done
vip_watch_end k
show k-after lvs1
since k
# ... until the checker sees it up again.
srv rs2 80
t k-start
wait_for k-back 60 has_dest lvs1 203.0.113.2:80
t k-back
show k-back lvs1

kill -TERM "$DAEMON"
wait_for exit 40 gone "$DAEMON"
logs lvs1
"#;

#[test]
fn vm_e2e_reload() {
    let Some(base) = vm::base() else { return };
    let _one = VM.lock().unwrap_or_else(|e| e.into_inner());
    let g = guest(&RELOAD_SCRIPT.replace("@BIG_KIB@", &BIG_KIB.to_string()));
    let conf = |wa2: u32, wb1: Option<u32>, vrid: u32| {
        let b = wb1.map_or(String::new(), |w| {
            RELOAD_SERVICE_B.replace("@WB1@", &w.to_string())
        });
        RELOAD_CONF
            .replace("@WA2@", &wa2.to_string())
            .replace("@VRID@", &vrid.to_string())
            .replace("@B@", &b)
    };
    // v0: A (1, 1), C. v1: rs2's weight in A 3, B added. broken: v1 with rs1's weight in B
    // 9 and an invalid VRID. v2: rs1's weight in B 2. v3: 4.
    for (name, text) in [
        ("v0", conf(1, None, 71)),
        ("v1", conf(3, Some(1), 71)),
        ("broken", conf(3, Some(9), 300)),
        ("v2", conf(3, Some(2), 71)),
        ("v3", conf(3, Some(4), 71)),
    ] {
        g.file(&format!("cfg/{name}.conf"), text.as_bytes(), 0o644);
    }
    let run = boot(&g, &base, "reload");
    let mut c = Checks::new(&run);
    const A: &str = "TCP 198.51.100.100:80 wrr";
    const B: &str = "TCP 198.51.100.100:8080 wrr";
    const C: &str = "TCP 198.51.100.100:81 rr";
    for v in ["FAST", "VIPWATCH", "DL", "CONNS", "TEST", "ID"] {
        for x in run.values(v) {
            println!("  {v} {x}");
        }
    }
    for r in ["g", "x", "y", "k"] {
        for l in run.section(&format!("log-{r}")).unwrap_or_default().lines() {
            if l.contains("IPVS: ") || l.contains("validation") {
                println!("  reload {r}: {l}");
            }
        }
    }

    // 0.
    let r0 = c.section("r0");
    c.expect(
        table(&r0)
            == [
                (
                    A.into(),
                    vec![masq("203.0.113.1:80", 1), masq("203.0.113.2:80", 1)],
                ),
                (
                    C.into(),
                    vec![masq("203.0.113.1:81", 1), masq("203.0.113.2:81", 1)],
                ),
            ],
        format!("0: the initial table is A and C: {:?}", table(&r0)),
    );

    // 1. The good reload.
    let gb = c.section("g-before");
    let ga = c.section("g-after");
    let c_before = service(&gb, C);
    c.expect(
        c_before.len() == 2,
        format!("1: C has its two real servers before the reload: {c_before:?}"),
    );
    c.expect(
        established(&gb, "198.51.100.100:81") == 1,
        "1: the slow download is an ESTABLISHED connection through C before the reload".into(),
    );
    c.expect(
        table(&ga)
            == [
                (A.into(), vec![masq("203.0.113.1:80", 1), masq("203.0.113.2:80", 3)]),
                (B.into(), vec![masq("203.0.113.1:8080", 1), masq("203.0.113.2:8080", 1)]),
                (C.into(), c_before.clone()),
            ],
        format!(
            "1: after the reload A's rs2 has weight 3, B exists with both real servers, C is unchanged: {:?}",
            table(&ga)
        ),
    );
    c.expect(
        established(&ga, "198.51.100.100:81") == 1,
        "1: the slow download is still ESTABLISHED after the reload".into(),
    );
    c.expect(
        dest_stats(&gb, "203.0.113.1:81").unwrap_or(0)
            + dest_stats(&gb, "203.0.113.2:81").unwrap_or(0)
            >= 1
            && dest_stats(&ga, "203.0.113.1:81") >= dest_stats(&gb, "203.0.113.1:81")
            && dest_stats(&ga, "203.0.113.2:81") >= dest_stats(&gb, "203.0.113.2:81"),
        "1: C's real servers kept their counters (not removed and added again)".into(),
    );
    let dl = run.values("DL");
    let stalled = dl.iter().find_map(|l| l.strip_prefix("after "));
    c.expect(
        stalled
            .and_then(|n| n.trim().parse::<usize>().ok())
            .is_some_and(|n| n < BIG_KIB * 1024),
        format!("1: the download was still under way at the reload: {dl:?}"),
    );
    c.expect(
        dl.iter()
            .any(|l| *l == format!("end {} rc 0", BIG_KIB * 1024)),
        format!("1: the download through C completed after the reload: {dl:?}"),
    );
    for r in ["g", "x", "y", "k"] {
        vip_kept(&mut c, &run, r);
    }
    let applies = ipvs_applies(&c.section("log-g"));
    c.expect(
        applies == [(4, 1)],
        format!(
            "1: the reload is one IPVS apply of 4 commands (A: 1 edit; B: 1 service + 2 destinations), C unchanged: {applies:?}"
        ),
    );
    let (b1, b2, other) = c.pages("g-pages-b");
    c.expect(
        b1 + b2 == N && b1 > 0 && b2 > 0 && other.is_empty(),
        format!("1: B serves through the VIP from both real servers: rs1 {b1}, rs2 {b2}, other {other:?}"),
    );

    // 2. The broken reload.
    let tests = run.values("TEST");
    c.expect(
        tests
            .iter()
            .any(|t| t.starts_with("ours ") && t != "ours 0")
            && tests
                .iter()
                .any(|t| t.starts_with("keepalived ") && t != "keepalived 0"),
        format!("2: the broken file fails `-t` (ours and keepalived 2.2.7): {tests:?}"),
    );
    let xb = c.section("x-before");
    let xa = c.section("x-after");
    c.expect(
        !table(&xb).is_empty() && table(&xa) == table(&xb),
        format!(
            "2: the refused reload left the IPVS table as it was: {:?} -> {:?}",
            table(&xb),
            table(&xa)
        ),
    );
    let id = run.values("ID");
    let id_of = |w: &str| {
        id.iter()
            .find_map(|l| l.strip_prefix(w))
            .map(str::to_string)
    };
    c.expect(
        id_of("before ").is_some() && id_of("before ") == id_of("after "),
        format!("2: the daemon (pid, start time, pid file) is the same process: {id:?}"),
    );
    let lx = c.section("log-x");
    c.expect(
        lx.contains("New config failed validation"),
        "2: the daemon logs that it refuses the configuration".into(),
    );
    c.expect(
        ipvs_applies(&lx).is_empty(),
        format!(
            "2: the refused reload sent no IPVS command: {:?}",
            ipvs_applies(&lx)
        ),
    );
    let ya = c.section("y-after");
    c.expect(
        service(&ya, B) == [masq("203.0.113.1:8080", 2), masq("203.0.113.2:8080", 1)]
            && service(&ya, A) == service(&xb, A)
            && service(&ya, C) == service(&xb, C),
        format!(
            "2: the good configuration after it applies (B's rs1 weight 2, A and C as they were): {:?}",
            table(&ya)
        ),
    );
    let ay = ipvs_applies(&c.section("log-y"));
    c.expect(
        ay == [(1, 2)],
        format!("2: that reload is one command (B's rs1), 2 services unchanged: {ay:?}"),
    );

    // 3. Checker state over the reload.
    let kb = c.section("k-before");
    let ka = c.section("k-after");
    c.expect(
        service(&kb, A) == [masq("203.0.113.1:80", 1)],
        format!("3: the checker removed rs2 from A: {:?}", service(&kb, A)),
    );
    c.expect(
        service(&ka, A) == [masq("203.0.113.1:80", 1)],
        format!(
            "3: rs2 (down) stays out of A after the reload: {:?}",
            service(&ka, A)
        ),
    );
    c.expect(
        run.values("FLAP k").is_empty(),
        format!(
            "3: rs2 never reappeared in A after the reload (samples {:?})",
            run.values("FLAP k")
        ),
    );
    c.expect(
        service(&ka, B) == [masq("203.0.113.1:8080", 4), masq("203.0.113.2:8080", 1)],
        format!(
            "3: the reload applied (B's rs1 weight 4): {:?}",
            service(&ka, B)
        ),
    );
    let before = dest_stats(&kb, "203.0.113.1:80");
    let right_after = run
        .values("CONNS k-right-after")
        .first()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let after = dest_stats(&ka, "203.0.113.1:80");
    c.expect(
        before.is_some_and(|b| b >= N as u64) && right_after >= before && after >= before,
        format!(
            "3: rs1 (up) stayed in A: its Conns counter did not reset ({before:?} before, {right_after:?} right after, {after:?} later)"
        ),
    );
    let ak = ipvs_applies(&c.section("log-k"));
    c.expect(
        ak == [(1, 2)],
        format!("3: that reload is one command (B's rs1), 2 services unchanged: {ak:?}"),
    );
    let kk = c.section("k-back");
    c.expect(
        service(&kk, A) == [masq("203.0.113.1:80", 1), masq("203.0.113.2:80", 3)],
        format!(
            "3: rs2 returns (weight 3) when its checker sees it up: {:?}",
            service(&kk, A)
        ),
    );
    c.finish("reload");
}

/// Around reload `label`: the `@@VIPWATCH label samples misses@@` shows the VIP in every
/// sample, `ip monitor` saw no removal of it, and the daemon logged no VRRP state change.
fn vip_kept(c: &mut Checks, run: &GuestRun, label: &str) {
    let mon = c.section(&format!("addrmon-{label}"));
    let deleted: Vec<&str> = mon
        .lines()
        .filter(|l| l.starts_with("Deleted") && l.contains(" 198.51.100.100/"))
        .collect();
    c.expect(
        deleted.is_empty(),
        format!("{label}: the VIP was never removed during the reload: {deleted:?}"),
    );
    let log = c.section(&format!("log-{label}"));
    let vrrp: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Entering") || l.contains(" -> "))
        .collect();
    c.expect(
        vrrp.is_empty(),
        format!("{label}: no VRRP state change during the reload: {vrrp:?}"),
    );
    let w = run.values("VIPWATCH").into_iter().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(label)).then(|| {
            let n: u64 = it.next()?.parse().ok()?;
            let m: u64 = it.next()?.parse().ok()?;
            Some((n, m))
        })?
    });
    c.expect(
        w.is_some_and(|(n, m)| n > 0 && m == 0),
        format!("{label}: the VIP stayed on lvs1 through the reload (samples, misses): {w:?}"),
    );
}

/// Every `IPVS: N command(s), M service(s) unchanged` line of a log: (N, M).
fn ipvs_applies(log: &str) -> Vec<(usize, usize)> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find("IPVS: ")? + 6..];
            let (n, rest) = rest.split_once(" command(s), ")?;
            let (m, _) = rest.split_once(" service(s) unchanged")?;
            Some((n.parse().ok()?, m.parse().ok()?))
        })
        .collect()
}

/// The `ipvsadm -Ln` listing of a `show` section: each service (its line's words) with its
/// destinations, in the listing's order.
fn table(section: &str) -> Vec<(String, Vec<Dest>)> {
    let mut t: Vec<(String, Vec<Dest>)> = Vec::new();
    for l in listing(section) {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w[..] {
            [p, ..] if ["TCP", "UDP", "SCTP", "FWM"].contains(&p) => t.push((w.join(" "), vec![])),
            ["->", addr, fwd, weight, ..] if addr != "RemoteAddress:Port" => {
                if let (Some(last), Ok(weight)) = (t.last_mut(), weight.parse()) {
                    last.1.push((addr.to_string(), fwd.to_string(), weight));
                }
            }
            _ => {}
        }
    }
    for s in &mut t {
        s.1.sort();
    }
    t.sort();
    t
}

/// The destinations of the service whose line is `svc` (its words), sorted.
fn service(section: &str, svc: &str) -> Vec<Dest> {
    table(section)
        .into_iter()
        .find(|(s, _)| s == svc)
        .map(|(_, d)| d)
        .unwrap_or_default()
}

/// The Conns counter of destination `addr` in the `--stats` part of a `show` section.
fn dest_stats(section: &str, addr: &str) -> Option<u64> {
    part(section, "== --stats").find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w[..] {
            ["->", a, conns, ..] if a == addr => conns.parse().ok(),
            _ => None,
        }
    })
}

/// ESTABLISHED entries of the `== connections` part of a `show` section from the client to
/// `virtual` (VIP:port).
fn established(section: &str, virtual_: &str) -> usize {
    part(section, "== connections")
        .filter(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() >= 6
                && w[2] == "ESTABLISHED"
                && w[3].starts_with("198.51.100.2:")
                && w[4] == virtual_
        })
        .count()
}

// ===== shared =====

/// A guest with our daemon as `/bin/keepalived-rs` and `script` after the prelude.
fn guest(script: &str) -> Guest {
    let g = Guest::new(&format!(
        "{}{script}",
        PRELUDE.replace("@N@", &N.to_string())
    ));
    g.copy_binary(
        "bin/keepalived-rs",
        Path::new(env!("CARGO_BIN_EXE_keepalived")),
    );
    g
}

/// Boot `g`; print the wall time and the phase times; with `IPVS_VM_CONSOLE=PATH`, keep the
/// console in `PATH.NAME`.
fn boot(g: &Guest, base: &Path, name: &str) -> GuestRun {
    let t0 = Instant::now();
    let run = g.run(base, Duration::from_secs(300));
    println!("{name} VM run: {:.1} s wall", t0.elapsed().as_secs_f64());
    for t in run.values("T") {
        println!("  phase {t}");
    }
    if let Ok(p) = std::env::var("IPVS_VM_CONSOLE") {
        let _ = std::fs::write(format!("{p}.{name}"), &run.console);
    }
    run
}

/// A destination as `ipvsadm -Ln` lists it: (address:port, forwarding, weight).
type Dest = (String, String, u32);

fn masq(a: &str, w: u32) -> Dest {
    (a.to_string(), "Masq".to_string(), w)
}

fn route(a: &str, w: u32) -> Dest {
    (a.to_string(), "Route".to_string(), w)
}

/// The part of a `show` section before its first `== ` line: the `ipvsadm -Ln` listing.
fn listing(section: &str) -> impl Iterator<Item = &str> {
    section.lines().take_while(|l| !l.starts_with("== "))
}

/// The destinations of a `show` section, sorted.
fn dests(section: &str) -> Vec<Dest> {
    let mut v: Vec<Dest> = listing(section)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w[..] {
                ["->", addr, fwd, weight, ..] if addr != "RemoteAddress:Port" => {
                    Some((addr.to_string(), fwd.to_string(), weight.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect();
    v.sort();
    v
}

/// How many services the `ipvsadm -Ln` listing of a `show` section has.
fn services(section: &str) -> usize {
    listing(section)
        .filter(|l| {
            ["TCP ", "UDP ", "SCTP ", "FWM "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .count()
}

/// Whether the `== addresses` part of a `show` section lists `addr` (with its prefix).
fn has(section: &str, addr: &str) -> bool {
    section
        .lines()
        .skip_while(|l| *l != "== addresses")
        .any(|l| l.split_whitespace().nth(1) == Some(addr))
}

/// The roles of the sync daemons in the `== --daemon` part of a `show` section.
fn sync_daemons(section: &str) -> Vec<String> {
    part(section, "== --daemon")
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// How many entries of the `== connections` part of a `show` section come from the client.
fn connections_from_client(section: &str) -> usize {
    part(section, "== connections")
        .filter(|l| {
            l.split_whitespace()
                .nth(3)
                .is_some_and(|s| s.starts_with("198.51.100.2:"))
        })
        .count()
}

/// The lines of a `show` section after the line `header`, up to the next `== ` line.
fn part<'s>(section: &'s str, header: &'s str) -> impl Iterator<Item = &'s str> {
    section
        .lines()
        .skip_while(move |l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with("== "))
}

/// The Conns counter of `service` (its line's prefix) in the `--stats` part of a `show` section.
fn conns(section: &str, service: &str) -> Option<u64> {
    section
        .lines()
        .skip_while(|l| *l != "== --stats")
        .find(|l| l.starts_with(service))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

/// Failed expectations of one run, reported together with the console.
struct Checks<'a> {
    run: &'a GuestRun,
    failures: Vec<String>,
}

impl<'a> Checks<'a> {
    fn new(run: &'a GuestRun) -> Self {
        let mut failures = Vec::new();
        if run.rc != 0 {
            failures.push(format!("the guest script failed (rc {})", run.rc));
        }
        for w in run.values("WAIT") {
            if w.ends_with(" timeout") {
                failures.push(format!("timed out waiting for {w}"));
            }
        }
        Checks { run, failures }
    }

    fn expect(&mut self, ok: bool, what: String) {
        if !ok {
            self.failures.push(what);
        }
    }

    fn section(&mut self, name: &str) -> String {
        self.run.section(name).unwrap_or_else(|| {
            self.failures
                .push(format!("no section {name} on the console"));
            String::new()
        })
    }

    /// The pages of section `label`: (from rs1, from rs2, failed requests). Other lines (a
    /// kernel message on the console) are not counted.
    fn pages(&mut self, label: &str) -> (usize, usize, Vec<String>) {
        let s = self.section(label);
        let (mut rs1, mut rs2, mut other) = (0, 0, Vec::new());
        for l in s.lines() {
            match l.trim() {
                "hello from rs1" => rs1 += 1,
                "hello from rs2" => rs2 += 1,
                x if x.starts_with("hello from") || x == "request failed" => {
                    other.push(x.to_string())
                }
                _ => {}
            }
        }
        (rs1, rs2, other)
    }

    /// Every request of `label` answered, by both real servers.
    fn pages_both(&mut self, label: &str) {
        let (rs1, rs2, other) = self.pages(label);
        self.expect(
            rs1 + rs2 == N && rs1 > 0 && rs2 > 0 && other.is_empty(),
            format!("{label}: {N} requests through the VIP reach both real servers: rs1 {rs1}, rs2 {rs2}, other {other:?}"),
        );
    }

    /// Every request of `label` answered by rs2.
    fn pages_only_rs2(&mut self, label: &str) {
        let (rs1, rs2, other) = self.pages(label);
        self.expect(
            rs2 == N,
            format!("{label}: all {N} requests go to rs2: rs1 {rs1}, rs2 {rs2}, other {other:?}"),
        );
    }

    fn finish(self, scenario: &str) {
        assert!(
            self.failures.is_empty(),
            "{scenario}: {} problem(s):\n- {}\n\n===== console (our daemon's log is at the end) =====\n{}\n{}",
            self.failures.len(),
            self.failures.join("\n- "),
            self.run.console,
            self.run.stderr
        );
    }
}
