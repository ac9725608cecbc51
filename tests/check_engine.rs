//! The whole checker engine on real keepalived.conf text against servers on 127.0.0.1: the
//! published table follows the servers' health with keepalived's retry rules, notifications
//! reach lvs_notify_fifo in order, a real server shared by two virtual servers is probed once,
//! and the table converts into the IPVS layer's `DesiredTable`.
//!
//! Timing here is real (sub-second delay_loop), so the assertions are on the order and count
//! of events, each wait bounded; the exact timing rules are proven with synthetic time in
//! `check_proto.rs`.

mod check_servers;

use std::sync::Arc;
use std::time::Duration;

use check_servers::{Behaviour, HttpServer};
use keepalived_rs::check::proto::checker::Outcome;
use keepalived_rs::check::proto::pool::DestRole;
use keepalived_rs::check::{HealthTable, Options, Trace, engine, run_reloadable, run_with};
use keepalived_rs::config::model::Config;
use keepalived_rs::config::{self, LoadOptions};
use tokio::sync::{mpsc, oneshot, watch};

fn load(text: &str) -> Config {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, text).expect("write");
    let mut opts = LoadOptions::new(&path);
    opts.check_interfaces = false;
    let loaded = config::load(&opts);
    assert!(
        loaded.diagnostics.test_exit_code() == 0,
        "config errors: {:?}",
        loaded.diagnostics
    );
    loaded.config
}

struct Running {
    table: watch::Receiver<HealthTable>,
    trace: mpsc::UnboundedReceiver<Trace>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

fn start(config: Config) -> Running {
    let (tx, table) = watch::channel(HealthTable::default());
    let (ttx, trace) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let opts = Options {
        trace: Some(ttx),
        stats: None,
        jitter: Some(0),
    };
    let done = tokio::spawn(run_with(
        Arc::new(config),
        tx,
        async move {
            let _ = stopped.await;
        },
        opts,
    ));
    Running {
        table,
        trace,
        stop: Some(stop),
        done,
    }
}

impl Running {
    /// The next trace event matching `f`, within `within`; the events skipped are returned
    /// too.
    async fn until(&mut self, within: Duration, f: impl Fn(&Trace) -> bool) -> Vec<Trace> {
        let mut seen = Vec::new();
        let r = tokio::time::timeout(within, async {
            while let Some(t) = self.trace.recv().await {
                let hit = f(&t);
                seen.push(t);
                if hit {
                    return;
                }
            }
        })
        .await;
        assert!(
            r.is_ok(),
            "no matching event within {within:?}; saw {seen:?}"
        );
        seen
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(5), self.done)
            .await
            .expect("engine stops promptly")
            .expect("join");
    }
}

fn dests(t: &HealthTable, vs: usize) -> Vec<(DestRole, u32)> {
    t.services
        .get(vs)
        .map(|s| s.dests.iter().map(|d| (d.role, d.weight)).collect())
        .unwrap_or_default()
}

impl Running {
    /// Wait (bounded) until virtual server `vs` holds exactly `want`.
    async fn table_is(&mut self, vs: usize, want: Vec<(DestRole, u32)>) {
        let ok = matches!(
            tokio::time::timeout(LONG, self.table.wait_for(|t| dests(t, vs) == want)).await,
            Ok(Ok(_))
        );
        assert!(
            ok,
            "table never became {want:?}; last {:?}",
            dests(&self.table.borrow(), vs)
        );
    }
}

const LONG: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_failure_is_retried_then_the_server_is_inhibited_then_restored() {
    let srv = HttpServer::start(Behaviour::Ok(b"hello world\n".to_vec())).await;
    let fifo_dir = tempfile::tempdir().expect("tmp");
    let fifo = fifo_dir.path().join("lvs.log");
    std::fs::write(&fifo, "").expect("create");
    let conf = format!(
        r#"
global_defs {{
    lvs_notify_fifo {fifo}
}}
virtual_server 203.0.113.10 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 {port} {{
        weight 7
        inhibit_on_failure
        HTTP_GET {{
            url {{
                path /
                digest 6f5902ac237024bdd0c176cb93063dc4
            }}
            connect_timeout 0.5
            retry 2
            delay_before_retry 0.1
        }}
    }}
}}
"#,
        fifo = fifo.display(),
        port = srv.addr.port()
    );
    let mut e = start(load(&conf));
    // Initially in the pool at its weight; the first success confirms it.
    e.until(LONG, |t| {
        matches!(
            t,
            Trace::ProbeEnd {
                outcome: Outcome::Success,
                ..
            }
        )
    })
    .await;
    e.table_is(0, vec![(DestRole::Real(0), 7)]).await;

    srv.set(Behaviour::Status(500));
    let seen = e
        .until(LONG, |t| matches!(t, Trace::Rs { up: false, .. }))
        .await;
    // The first failing run, then exactly `retry` (2) retries, then the server goes down.
    let failures = seen
        .iter()
        .filter(|t| {
            matches!(
                t,
                Trace::ProbeEnd {
                    outcome: Outcome::Failure,
                    ..
                }
            )
        })
        .count();
    assert_eq!(failures, 3, "{seen:?}");
    let starts: Vec<u64> = seen
        .iter()
        .filter_map(|t| match t {
            Trace::ProbeStart { at, .. } => Some(at.0),
            _ => None,
        })
        .collect();
    let gaps: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // Retries come delay_before_retry (0.1 s) after the failure, not delay_loop (1 s).
    assert!(
        gaps.iter()
            .rev()
            .take(2)
            .all(|g| (100_000..600_000).contains(g)),
        "{gaps:?}"
    );
    e.table_is(0, vec![(DestRole::Real(0), 0)]).await;

    srv.set(Behaviour::Ok(b"hello world\n".to_vec()));
    e.until(LONG, |t| matches!(t, Trace::Rs { up: true, .. }))
        .await;
    e.table_is(0, vec![(DestRole::Real(0), 7)]).await;
    e.stop().await;

    let lines = std::fs::read_to_string(&fifo).expect("fifo log");
    assert_eq!(
        lines,
        format!(
            "RS [127.0.0.1]:tcp:{p} [203.0.113.10]:tcp:80 DOWN\n\
             VS [203.0.113.10]:tcp:80 DOWN\n\
             RS [127.0.0.1]:tcp:{p} [203.0.113.10]:tcp:80 UP\n\
             VS [203.0.113.10]:tcp:80 UP\n",
            p = srv.addr.port()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_loss_brings_in_the_sorry_server_and_runs_quorum_scripts() {
    let a = HttpServer::start(Behaviour::Ok(b"a".to_vec())).await;
    let b = HttpServer::start(Behaviour::Ok(b"b".to_vec())).await;
    let dir = tempfile::tempdir().expect("tmp");
    let marks = dir.path().join("marks");
    let conf = format!(
        r#"
global_defs {{
    enable_script_security
    script_user root
}}
virtual_server 203.0.113.20 80 {{
    delay_loop 0.2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 2
    quorum_up "/bin/sh -c 'echo up >> {m}'"
    quorum_down "/bin/sh -c 'echo down >> {m}'"
    sorry_server 203.0.113.99 80
    real_server 127.0.0.1 {pa} {{
        weight 1
        TCP_CHECK {{
            connect_timeout 0.5
            retry 0
        }}
    }}
    real_server 127.0.0.1 {pb} {{
        weight 1
        HTTP_GET {{
            url {{
                path /
            }}
            connect_timeout 0.5
            retry 0
        }}
    }}
}}
"#,
        m = marks.display(),
        pa = a.addr.port(),
        pb = b.addr.port()
    );
    let mut e = start(load(&conf));
    e.table_is(0, vec![(DestRole::Real(0), 1), (DestRole::Real(1), 1)])
        .await;
    b.set(Behaviour::Status(503));
    e.until(LONG, |t| matches!(t, Trace::Quorum { up: false, .. }))
        .await;
    e.table_is(0, vec![(DestRole::Sorry, 1)]).await;
    b.set(Behaviour::Ok(b"b".to_vec()));
    e.until(LONG, |t| matches!(t, Trace::Quorum { up: true, .. }))
        .await;
    e.table_is(0, vec![(DestRole::Real(0), 1), (DestRole::Real(1), 1)])
        .await;
    e.stop().await;
    // The scripts ran (asynchronously): wait for both lines, bounded.
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&marks).unwrap_or_default();
        if text.lines().count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(text, "down\nup\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_server_in_two_virtual_servers_is_checked_once() {
    let srv = HttpServer::start(Behaviour::Ok(b"x".to_vec())).await;
    let vs = |vip: &str| {
        format!(
            r#"
virtual_server {vip} 80 {{
    delay_loop 0.1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 {port} {{
        HTTP_GET {{
            url {{
                path /
            }}
            connect_timeout 0.5
        }}
    }}
}}
"#,
            port = srv.addr.port()
        )
    };
    let conf = format!("{}{}", vs("203.0.113.30"), vs("203.0.113.31"));
    let cfg = load(&conf);
    assert_eq!(
        keepalived_rs::check::plan::Plan::build(&cfg).probes.len(),
        1
    );
    let mut e = start(cfg);
    let seen = e.until(LONG, |t| matches!(t, Trace::ProbeEnd { .. })).await;
    let mut ends = seen
        .iter()
        .filter(|t| matches!(t, Trace::ProbeEnd { .. }))
        .count();
    while ends < 5 {
        e.until(LONG, |t| matches!(t, Trace::ProbeEnd { .. })).await;
        ends += 1;
    }
    e.stop().await;
    let req = srv.requests();
    assert!((5..=6).contains(&req), "{req} requests for 5 checks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misc_dynamic_weight_and_hostile_neighbours() {
    let hang = HttpServer::start(Behaviour::Hang).await;
    let good = HttpServer::start(Behaviour::Ok(b"ok".to_vec())).await;
    let conf = format!(
        r#"
global_defs {{
    enable_script_security
    script_user root
}}
virtual_server 203.0.113.40 80 {{
    delay_loop 0.2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 {hp} {{
        weight 1
        HTTP_GET {{
            url {{
                path /
            }}
            connect_timeout 2
        }}
    }}
    real_server 127.0.0.1 {gp} {{
        weight 1
        MISC_CHECK {{
            misc_path "/bin/sh -c 'exit 12'"
            misc_dynamic
            misc_timeout 1
        }}
    }}
}}
"#,
        hp = hang.addr.port(),
        gp = good.addr.port()
    );
    let mut e = start(load(&conf));
    // The MISC check sets weight 10 while the hung HTTP check is still waiting.
    tokio::time::timeout(
        LONG,
        e.table
            .wait_for(|t| dests(t, 0).contains(&(DestRole::Real(1), 10))),
    )
    .await
    .expect("dynamic weight applied within bound")
    .expect("watch");
    let seen = e
        .until(LONG, |t| {
            matches!(
                t,
                Trace::Rs {
                    vs: 0,
                    rs: 0,
                    up: false
                }
            )
        })
        .await;
    assert!(
        seen.iter()
            .any(|t| matches!(t, Trace::ProbeEnd { probe: 1, .. })),
        "the MISC probe ran while the HTTP one hung: {seen:?}"
    );
    e.stop().await;
}

#[test]
fn health_converts_into_the_ipvs_desired_table() {
    let cfg = load(
        r#"
virtual_server 203.0.113.50 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    sorry_server 203.0.113.99 8080
    real_server 10.1.1.1 80 {
        weight 3
        TCP_CHECK {
        }
    }
    real_server 10.1.1.2 80 {
        weight 4
        TCP_CHECK {
        }
    }
}
"#,
    );
    let plan = keepalived_rs::check::plan::Plan::build(&cfg);
    let mut pool = keepalived_rs::check::proto::pool::Pool::new(plan.pool);
    pool.handle(keepalived_rs::check::proto::pool::Event::Init);
    pool.handle(keepalived_rs::check::proto::pool::Event::Checker {
        id: 1,
        up: false,
        changed: true,
        first: true,
    });
    let health = HealthTable {
        services: pool.table(),
        config: None,
    };
    let desired = engine::to_desired(&cfg, &health);
    let svc = desired.services.values().next().expect("one service");
    let got: Vec<(String, i32)> = svc
        .destinations
        .iter()
        .map(|(k, d)| (k.to_string(), d.weight))
        .collect();
    assert_eq!(got, vec![("10.1.1.1:80".to_string(), 3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_unchanged_checkers_state_and_starts_new_ones() {
    let up = HttpServer::start(Behaviour::Ok(b"x".to_vec())).await;
    let down_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let third = HttpServer::start(Behaviour::Ok(b"x".to_vec())).await;
    let rs = |port: u16| {
        format!(
            "    real_server 127.0.0.1 {port} {{\n        TCP_CHECK {{\n            connect_timeout 0.5\n        }}\n    }}\n"
        )
    };
    let conf = |extra: &str| {
        format!(
            "virtual_server 203.0.113.60 80 {{\n    delay_loop 0.3\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{}{}{extra}}}\n",
            rs(up.addr.port()),
            rs(down_port)
        )
    };
    let (ctx, crx) = watch::channel(Arc::new(load(&conf(""))));
    let (tx, mut table) = watch::channel(HealthTable::default());
    let (ttx, mut trace) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let opts = Options {
        trace: Some(ttx),
        stats: None,
        jitter: Some(0),
    };
    let done = tokio::spawn(run_reloadable(
        crx,
        tx,
        async move {
            let _ = stopped.await;
        },
        opts,
    ));
    let want = vec![(DestRole::Real(0), 1)];
    tokio::time::timeout(LONG, table.wait_for(|t| dests(t, 0) == want))
        .await
        .expect("second server removed")
        .expect("watch");
    // Note which probe ids run before the reload.
    let mut before = std::collections::BTreeSet::new();
    while let Ok(t) = trace.try_recv() {
        if let Trace::ProbeStart { probe, .. } = t {
            before.insert(probe);
        }
    }
    ctx.send_replace(Arc::new(load(&conf(&rs(third.addr.port())))));
    // Right after the reload: the failed server is still out (not re-added and re-checked),
    // the new one is in.
    let want = vec![(DestRole::Real(0), 1), (DestRole::Real(2), 1)];
    tokio::time::timeout(LONG, table.wait_for(|t| dests(t, 0) == want))
        .await
        .expect("reloaded table")
        .expect("watch");
    // No real-server notification came from the reload itself, and the old probes go on
    // under their ids while the new one gets a new id.
    let mut after = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Some(t)) = tokio::time::timeout_at(deadline, trace.recv()).await {
        match t {
            Trace::ProbeStart { probe, .. } => {
                after.insert(probe);
            }
            Trace::Rs { .. } => panic!("reload re-notified a real server: {t:?}"),
            _ => {}
        }
    }
    assert_eq!(before.len(), 2);
    assert!(before.is_subset(&after), "{before:?} vs {after:?}");
    assert_eq!(after.len(), 3);
    let _ = stop.send(());
    tokio::time::timeout(LONG, done)
        .await
        .expect("stops")
        .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_publishes_the_live_ipvs_desired_table() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let up = l.local_addr().expect("addr").port();
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cfg = load(&format!(
        "virtual_server 203.0.113.70 80 {{\n  delay_loop 0.5\n  warmup 0\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         real_server 127.0.0.1 {up} {{\n    weight 2\n    TCP_CHECK {{\n      connect_timeout 0.5\n    }}\n  }}\n\
         real_server 127.0.0.1 {down} {{\n    weight 3\n    TCP_CHECK {{\n      connect_timeout 0.5\n    }}\n  }}\n}}\n"
    ));
    let (tx, mut rx) = watch::channel(Default::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(keepalived_rs::check::run(Arc::new(cfg), tx, async move {
        let _ = stopped.await;
    }));
    let want = vec![(format!("127.0.0.1:{up}"), 2)];
    let got = tokio::time::timeout(
        LONG,
        rx.wait_for(|t: &keepalived_rs::ipvs::desired::DesiredTable| {
            t.services.values().any(|s| {
                s.destinations
                    .iter()
                    .map(|(k, d)| (k.to_string(), d.weight))
                    .collect::<Vec<_>>()
                    == want
            })
        }),
    )
    .await;
    let ok = got.map(|r| r.is_ok()).unwrap_or(false);
    assert!(ok, "{:?}", rx.borrow());
    let _ = stop.send(());
    tokio::time::timeout(LONG, done)
        .await
        .expect("stops")
        .expect("join");
    drop(l);
}
