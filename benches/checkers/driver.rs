//! Driver for benches/checkers.sh (built as the example `checkers_bench`).
//!
//! `checkers_bench serve FIRST_HOST COUNT_HOSTS FIRST_PORT COUNT_PORTS`
//!     listens on 127.0.0.FIRST_HOST.. × FIRST_PORT.. and answers every request with a tiny
//!     HTTP 200 (a bare TCP connect just sees the connection closed).
//! `checkers_bench run CONFIG SECONDS`
//!     runs the checker engine on CONFIG for SECONDS, then prints one line of `key=value`
//!     measurements: probes started, their rate after the warmup second, CPU time of this
//!     process, peak RSS, and lateness against the schedule.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use keepalived_rs::check::{HealthTable, Options, Stats, run_with};
use keepalived_rs::config::{self, LoadOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn proc_status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime of this process, in seconds (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Fields after the command: state is index 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Connections accepted and HTTP requests answered by `serve` (for benches/checkers-vm.sh,
/// which compares daemons by what reaches the listeners).
static ACCEPTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static ANSWERED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn serve(first_host: u8, hosts: u8, first_port: u16, ports: u16) {
    // With BENCH_COUNT_FILE, the counters are written there every 200 ms.
    if let Ok(path) = std::env::var("BENCH_COUNT_FILE") {
        tokio::spawn(async move {
            loop {
                let line = format!(
                    "{} {}\n",
                    ACCEPTED.load(Ordering::Relaxed),
                    ANSWERED.load(Ordering::Relaxed)
                );
                let tmp = format!("{path}.tmp");
                if std::fs::write(&tmp, line).is_ok() {
                    let _ = std::fs::rename(&tmp, &path);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
    let mut n = 0;
    for h in 0..hosts {
        for p in 0..ports {
            let addr = format!("127.0.0.{}:{}", first_host + h, first_port + p);
            let l = match TcpListener::bind(&addr).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("bind {addr}: {e}");
                    std::process::exit(1);
                }
            };
            n += 1;
            tokio::spawn(async move {
                loop {
                    let Ok((mut s, _)) = l.accept().await else {
                        continue;
                    };
                    ACCEPTED.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        let mut buf = [0u8; 2048];
                        let mut got = Vec::new();
                        loop {
                            match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                                .await
                            {
                                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                                Ok(Ok(k)) => got.extend_from_slice(&buf[..k]),
                            }
                            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                                let _ = s
                                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                    .await;
                                ANSWERED.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                        }
                    });
                }
            });
        }
    }
    println!("listening on {n} addresses");
    std::future::pending::<()>().await;
}

async fn run(conf: &str, secs: u64) {
    let mut opts = LoadOptions::new(conf);
    opts.check_interfaces = false;
    let t0 = Instant::now();
    let loaded = config::load(&opts);
    let load_s = t0.elapsed().as_secs_f64();
    let cfg = Arc::new(loaded.config);
    let rs: usize = cfg
        .virtual_servers
        .iter()
        .map(|v| v.real_servers.len())
        .sum();
    let configured: f64 = cfg
        .virtual_servers
        .iter()
        .flat_map(|v| v.real_servers.iter())
        .flat_map(|r| r.checkers.iter())
        .map(|c| 1e6 / c.timing.delay_loop.0.max(1) as f64)
        .sum();
    let stats = Arc::new(Stats::default());
    let (tx, _rx) = tokio::sync::watch::channel(HealthTable::default());
    let st = stats.clone();
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    // Measure from the end of the first delay_loop (warmup spreads the first probes over it).
    let sampler = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (p0, c0, t0) = (
            st.probes.load(Ordering::Relaxed),
            cpu_seconds(),
            Instant::now(),
        );
        // Lateness counts from here on (the start-up burst is excluded).
        st.late.store(0, Ordering::Relaxed);
        st.max_late_us.store(0, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(secs.saturating_sub(2).max(1))).await;
        let (p1, c1) = (st.probes.load(Ordering::Relaxed), cpu_seconds());
        (p1 - p0, c1 - c0, t0.elapsed().as_secs_f64())
    });
    let opts = Options {
        trace: None,
        stats: Some(stats.clone()),
        jitter: None,
    };
    run_with(cfg, tx, tokio::time::sleep(Duration::from_secs(secs)), opts).await;
    let (probes, cpu, window) = sampler.await.unwrap_or((0, 0.0, 1.0));
    let total = stats.probes.load(Ordering::Relaxed);
    println!(
        "real_servers={rs} config_load_s={load_s:.2} run_s={:.1} probes_total={total} \
         window_s={window:.1} checks_per_s={:.0} configured_per_s={configured:.0} \
         cpu_s_window={cpu:.2} cpu_s_per_1000_checks={:.3} cpu_cores={:.3} cpu_s_total={:.2} \
         failures={} late_over_10pct={} max_late_ms={:.1} peak_rss_mib={:.1}",
        start.elapsed().as_secs_f64(),
        probes as f64 / window,
        cpu / (probes.max(1) as f64 / 1000.0),
        cpu / window,
        cpu_seconds() - cpu0,
        stats.failures.load(Ordering::Relaxed),
        stats.late.load(Ordering::Relaxed),
        stats.max_late_us.load(Ordering::Relaxed) as f64 / 1000.0,
        proc_status("VmHWM:") as f64 / 1024.0,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    let num = |i: usize| args.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    match args.get(1).map(String::as_str) {
        Some("serve") => rt.block_on(serve(
            num(2) as u8,
            num(3) as u8,
            num(4) as u16,
            num(5) as u16,
        )),
        Some("run") => rt.block_on(run(&args[2], num(3))),
        _ => {
            eprintln!(
                "usage: checkers_bench serve FIRST_HOST HOSTS FIRST_PORT PORTS | run CONFIG SECONDS"
            );
            std::process::exit(2);
        }
    }
}
