//! `keepalived_check.data` (USR1 with the checkers running): keepalived 2.2.7's layout
//! (check_data.c `dump_data_check`) with the checkers' live state and keepalived-rs's IPVS
//! counters section.
//!
//! - `layout_from_a_synthetic_snapshot`: a configuration, its pool driven through a checker
//!   failure, a hand-made kernel table; the text is compared with an expectation written from
//!   keepalived's dump functions (no privileges needed).
//! - `usr1_dump_in_a_netns_shows_live_real_server_state`: the daemon with `-C` in a network
//!   namespace, one real server listening on loopback and one not; USR1; the file shows one
//!   alive and one not, with their weights, and (IPVS being absent from this kernel) the
//!   counters section says why there are none while the checkers run on.

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keepalived_rs::check::plan::Plan;
use keepalived_rs::check::proto::pool::{Event, Pool};
use keepalived_rs::check::snapshot::{self, Memory};
use keepalived_rs::config::{self, LoadOptions};
use keepalived_rs::daemon::dump;
use keepalived_rs::ipvs::desired::{DestKey, vs_services};
use keepalived_rs::ipvs::genl::DestConns;
use keepalived_rs::ipvs::{KernelTable, Stats};
use support::netns::{self, Need, NetNs};

fn load(dir: &Path, text: &str) -> config::model::Config {
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, text).expect("config");
    let mut opts = LoadOptions::new(&conf);
    opts.check_interfaces = false;
    let loaded = config::load(&opts);
    loaded.config
}

/// The dump from the LVS Topology header on (the global section is `keepalived.data`'s,
/// tested with it).
fn topology(text: &str) -> &str {
    let at = text
        .find("------< LVS Topology >------")
        .expect("an LVS Topology section");
    &text[at..]
}

const LAYOUT_CONF: &str = "\
virtual_server 203.0.113.10 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    quorum 4
    sorry_server 198.51.100.9 80
    real_server 198.51.100.2 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 198.51.100.3 8080 {
        weight 2
        inhibit_on_failure
        HTTP_GET {
            url {
                path /health
                status_code 200
                status_code 201
            }
            connect_timeout 3
            retry 2
            delay_before_retry 1
        }
    }
}
";

const LAYOUT_WANT: &str = "\
------< LVS Topology >------
 System is compiled with LVS v1.2.1
 ------< Virtual server >------
 VS VIP = 203.0.113.10, VPORT = 80
   Address family = inet
   connection timeout = 5.000000
   delay_loop = 6.000000
   lvs_sched = wrr
   Hashed = disabled
   flag-1 = disabled
   flag-2 = disabled
   flag-3 = disabled
   One packet scheduling = disabled
   protocol = TCP
   alpha is OFF
   omega is OFF
   Inhibit on failure is OFF
   quorum = 4, hysteresis = 0
   Using smtp notification = no
   default forwarding method = NAT
   sorry server = [198.51.100.9]:tcp:80
     forwarding method = NAT
     Inhibit on failure is OFF
   alive = 0
   quorum_state_up = 0
   reloaded = 0
   ------< Real server >------
   RIP = 198.51.100.2, RPORT = 80, WEIGHT = 3 EFF WEIGHT = 3
   forwarding method = NAT
   Alpha is OFF
   connection timeout = 5.000000
   connection limit range = 0 -> 0
   Delay loop = 6.000000
   Inhibit on failure is OFF
   Using smtp notification = yes
   initial weight = 3
   effective weight = 3
   previous effective_weight = 0
   alive = 1
   num failed checkers = 0
   RS set = 0
   reloaded = 0
   ------< Real server >------
   RIP = 198.51.100.3, RPORT = 8080, WEIGHT = 2 EFF WEIGHT = 2
   forwarding method = NAT
   Alpha is OFF
   connection timeout = 5.000000
   connection limit range = 0 -> 0
   Delay loop = 6.000000
   Inhibit on failure is ON
   Using smtp notification = yes
   initial weight = 2
   effective weight = 2
   previous effective_weight = 0
   alive = 0
   num failed checkers = 1
   RS set = 1
   reloaded = 0
------< Health checkers >------
 [203.0.113.10]:tcp:80 -> [198.51.100.2]:tcp:80
   Enabled = yes
   Up = yes
   Has run = yes
   Current weight = 0
   Alpha = no
   Delay loop = 6000000 us
   Warmup = 6000000 us
   Retries = 1
   Delay before retry = 1000000 us
   Default delay before retry = 1000000 us
   Log all failures = no
   Connection
     Dest = [198.51.100.2]:80
     Timeout = 2.000000
   Keepalive method = TCP_CHECK
 [203.0.113.10]:tcp:80 -> [198.51.100.3]:tcp:8080
   Enabled = yes
   Up = no
   Has run = yes
   Current weight = 0
   Alpha = no
   Delay loop = 6000000 us
   Warmup = 6000000 us
   Retries = 2
   Delay before retry = 1000000 us
   Default delay before retry = 3000000 us
   Log all failures = no
   Connection
     Dest = [198.51.100.3]:8080
     Timeout = 3.000000
   Keepalive method = HTTP_GET, http protocol 1.0
   Enable SNI unset
   Fast recovery unset
   Checked url = /health
     HTTP Status Code(s)
       200-201
------< IPVS counters >------
 VS = [203.0.113.10]:tcp:80, service TCP 203.0.113.10:80
   Conns = 7, InPkts = 70, OutPkts = 60, InBytes = 7000, OutBytes = 90000
   CPS = 1, InPPS = 2, OutPPS = 3, InBPS = 400, OutBPS = 500
   RS = 198.51.100.9:80
     ActiveConn = 1, InActConn = 2, PersistConn = 0
     Conns = 7, InPkts = 70, OutPkts = 60, InBytes = 7000, OutBytes = 90000
     CPS = 1, InPPS = 2, OutPPS = 3, InBPS = 400, OutBPS = 500
";

#[test]
fn layout_from_a_synthetic_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = Arc::new(load(dir.path(), LAYOUT_CONF));
    assert_eq!(cfg.virtual_servers.len(), 1, "config loads");
    let plan = Plan::build(&cfg);
    let mut pool = Pool::new(plan.pool.clone());
    pool.handle(Event::Init);
    let mut memory = Memory::default();
    // Both checkers have run; the HTTP_GET one failed: its real server (weight 2) leaves,
    // the live weight (3) falls below quorum 4 and the sorry server comes in.
    let http = plan
        .probes
        .iter()
        .position(|p| p.kind.keyword() == "HTTP_GET")
        .expect("an HTTP_GET probe");
    for id in 0..plan.probes.len() {
        memory.ran(plan.ids[id]);
    }
    pool.handle(Event::Checker {
        id: plan.ids[http],
        up: false,
        changed: true,
        first: false,
    });
    let snap = snapshot::build(&cfg, &plan, &pool, &memory);

    // A kernel table holding the service with the sorry server only, as IPVS would now.
    let (key, _) = vs_services(&cfg, &cfg.virtual_servers[0])
        .into_iter()
        .next()
        .expect("a service");
    let st = Stats {
        conns: 7,
        inpkts: 70,
        outpkts: 60,
        inbytes: 7000,
        outbytes: 90000,
        cps: 1,
        inpps: 2,
        outpps: 3,
        inbps: 400,
        outbps: 500,
    };
    let sorry = DestKey {
        addr: "198.51.100.9".parse::<IpAddr>().expect("addr"),
        port: 80,
    };
    let conns = DestConns {
        active: 1,
        inactive: 2,
        persistent: 0,
    };
    let kt = KernelTable {
        service_stats: BTreeMap::from([(key, st)]),
        dest_stats: BTreeMap::from([((key, sorry), (conns, st))]),
        ..KernelTable::default()
    };

    let text = dump::check_data(&cfg, Some(&snap), Ok(&kt));
    let got = topology(&text);
    if got != LAYOUT_WANT {
        let _ = std::fs::write("/tmp/dump_check.got", got);
    }
    assert_eq!(got, LAYOUT_WANT, "\n--- got:\n{got}");
    assert!(text.starts_with("------< Global definitions >------\n"));

    // Without IPVS the counters section says why.
    let text = dump::check_data(&cfg, Some(&snap), Err("IPVS is not available: test"));
    assert!(
        topology(&text).ends_with(
            "------< IPVS counters >------\n Not available: IPVS is not available: test\n"
        ),
        "{text}"
    );
    // Without the checkers' answer the live lines are left out, the rest stays.
    let text = dump::check_data(&cfg, None, Err("x"));
    let t = topology(&text);
    assert!(
        t.contains("RIP = 198.51.100.3, RPORT = 8080, WEIGHT = 2 EFF WEIGHT = 2"),
        "{t}"
    );
    assert!(!t.contains("alive ="), "{t}");
    assert!(!t.contains("Health checkers"), "{t}");
}

// ===== the daemon, in a network namespace =====

/// A listener inside namespace `ns` on 127.0.0.1 (a thread that entered it), accepting and
/// closing connections until `stop` or 120 s; its port.
fn listen_in(ns: &str, stop: Arc<std::sync::atomic::AtomicBool>) -> (u16, u16) {
    let path = format!("/run/netns/{ns}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("netns file");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let up = TcpListener::bind("127.0.0.1:0").expect("bind");
        // A port nobody listens on: bound, noted, closed.
        let down = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        up.set_nonblocking(true).expect("nonblocking");
        let _ = tx.send((up.local_addr().expect("addr").port(), down));
        let end = Instant::now() + Duration::from_secs(120);
        while Instant::now() < end && !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match up.accept() {
                Ok((s, _)) => drop(s),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("listener")
}

/// The lines of the real server block whose RPORT is `port`.
fn rs_block(text: &str, port: u16) -> Vec<String> {
    let needle = format!(", RPORT = {port}, ");
    let mut lines = text.lines().skip_while(|l| !l.contains(&needle));
    let first = lines.next().map(str::to_string);
    first
        .into_iter()
        .chain(
            lines
                .take_while(|l| !l.contains("------<"))
                .map(str::to_string),
        )
        .collect()
}

struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(self.0.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = kill(pid, Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

#[test]
fn usr1_dump_in_a_netns_shows_live_real_server_state() {
    if !netns::gate(
        "usr1_dump_in_a_netns_shows_live_real_server_state",
        &[Need::Root, Need::Ip, Need::NetnsWorks],
    ) {
        return;
    }
    let ns = NetNs::new("chkdump", &[]).expect("netns");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (up, down) = listen_in(ns.name(), stop.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |f: &str| -> PathBuf { dir.path().join(f) };
    let conf = format!(
        "virtual_server 203.0.113.10 80 {{
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 {up} {{
        weight 3
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
    real_server 127.0.0.1 {down} {{
        weight 5
        inhibit_on_failure
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
}}
"
    );
    std::fs::write(p("keepalived.conf"), conf).expect("config");
    let log = std::fs::File::create(p("daemon.log")).expect("log");
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_keepalived"));
    cmd.args(["-n", "-l", "-D", "-C", "-f"])
        .arg(p("keepalived.conf"))
        .arg("-p")
        .arg(p("keepalived.pid"))
        .arg("-c")
        .arg(p("checkers.pid"))
        // The dump goes to $TMPDIR/keepalived_check.data (keepalived's `set_tmp_dir`).
        .env("TMPDIR", dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("log fd"))
        .stderr(log);
    let daemon = Daemon(cmd.spawn().expect("spawn daemon"));
    let pid = daemon.0.id() as i32;
    let dump_path = p("keepalived_check.data");

    // USR1 once a second until the down server's checker has failed (bounded).
    let end = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1000));
        let _ = std::fs::remove_file(&dump_path);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGUSR1,
        )
        .expect("USR1");
        let wrote = Instant::now() + Duration::from_secs(8);
        while Instant::now() < wrote && !dump_path.exists() {
            std::thread::sleep(Duration::from_millis(50));
        }
        text = std::fs::read_to_string(&dump_path).unwrap_or_default();
        if rs_block(&text, down).iter().any(|l| l == "   alive = 0") {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let logged = std::fs::read_to_string(p("daemon.log")).unwrap_or_default();
    let ctx = format!("\n--- dump:\n{text}\n--- log:\n{logged}");

    let up_rs = rs_block(&text, up);
    let down_rs = rs_block(&text, down);
    assert_eq!(
        up_rs.first().map(String::as_str),
        Some(format!("   RIP = 127.0.0.1, RPORT = {up}, WEIGHT = 3 EFF WEIGHT = 3").as_str()),
        "{ctx}"
    );
    for want in [
        "   alive = 1",
        "   num failed checkers = 0",
        "   RS set = 1",
        "   initial weight = 3",
    ] {
        assert!(
            up_rs.iter().any(|l| l == want),
            "up server lacks {want:?}{ctx}"
        );
    }
    assert_eq!(
        down_rs.first().map(String::as_str),
        Some(format!("   RIP = 127.0.0.1, RPORT = {down}, WEIGHT = 5 EFF WEIGHT = 5").as_str()),
        "{ctx}"
    );
    // Inhibited: still in the table (weight 0 in IPVS), but not alive.
    for want in [
        "   alive = 0",
        "   num failed checkers = 1",
        "   RS set = 1",
        "   Inhibit on failure is ON",
    ] {
        assert!(
            down_rs.iter().any(|l| l == want),
            "down server lacks {want:?}{ctx}"
        );
    }
    assert!(
        text.contains(" VS VIP = 203.0.113.10, VPORT = 80\n"),
        "{ctx}"
    );
    assert!(text.contains("   quorum_state_up = 1\n"), "{ctx}");
    assert!(
        text.contains(&format!(" [203.0.113.10]:tcp:80 -> [127.0.0.1]:tcp:{down}\n   Enabled = yes\n   Up = no\n   Has run = yes\n")),
        "{ctx}"
    );
    // IPVS: absent from this kernel, the IPVS task logged it and the checkers ran anyway;
    // where a kernel has it, the section lists the service instead.
    let counters = text
        .split("------< IPVS counters >------\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no IPVS counters section{ctx}"));
    if counters.starts_with(" Not available: ") {
        assert!(
            logged.contains("virtual servers are not programmed"),
            "the IPVS task did not log its failure{ctx}"
        );
    } else {
        assert!(
            counters.starts_with(" VS = [203.0.113.10]:tcp:80, service "),
            "{ctx}"
        );
    }
    drop(daemon);
    // Shown with --nocapture.
    println!("{text}");
    let _ = std::io::stdout().flush();
}
