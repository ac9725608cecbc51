//! Each probe against real servers on 127.0.0.1, well-behaved and hostile: every probe ends
//! within its time bound with the verdict keepalived would give, hostile servers never stall
//! other probes, and memory stays bounded.

mod check_servers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use check_servers::{Behaviour, HttpServer};
use keepalived_rs::check::io::{self, ProbeError, ProbeResult, TlsCache};
use keepalived_rs::check::plan::{ProbeKind, ProbeSpec, TlsSpec};
use keepalived_rs::check::proto::checker::{Flavor, Outcome, Timing};
use keepalived_rs::check::proto::dns::QType;
use keepalived_rs::check::proto::http::{HttpFailure, HttpProtocol, UrlCheck, parse_digest};
use keepalived_rs::check::proto::pool::WeightChange;
use keepalived_rs::check::proto::udp::{ReplyCheck, parse_hex};
use keepalived_rs::config::model::{Command, Config, Micros};
use keepalived_rs::vrrp::notify::ScriptEnv;

const CT: Duration = Duration::from_millis(400);

fn spec(kind: ProbeKind, target: SocketAddr) -> ProbeSpec {
    ProbeSpec {
        kind,
        target,
        bind: None,
        connect_timeout: Micros(CT.as_micros() as u64),
        timing: Timing {
            delay_loop: Micros::secs(1),
            delay_before_retry: Micros::secs(1),
            retry: 1,
            warmup: Micros(0),
        },
        flavor: Flavor::Standard,
        alpha: false,
        log_all_failures: false,
        name: target.to_string(),
    }
}

fn http(url: UrlCheck, tls: Option<TlsSpec>) -> ProbeKind {
    ProbeKind::Http {
        tls,
        protocol: HttpProtocol::V1_0,
        urls: vec![url].into(),
    }
}

/// Run a probe, asserting it ends within `bound`.
async fn run(spec: &ProbeSpec, bound: Duration) -> ProbeResult {
    let t = Instant::now();
    let r = tokio::time::timeout(bound * 2, io::probe(spec, 0, &TlsCache::new()))
        .await
        .expect("probe overran twice its bound");
    assert!(
        t.elapsed() <= bound,
        "probe took {:?} > {bound:?}",
        t.elapsed()
    );
    r
}

fn closed_port() -> SocketAddr {
    // Bind then drop: nothing listens there any more.
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_check_connects_or_fails_fast() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let r = run(&spec(ProbeKind::Tcp, l.local_addr().expect("addr")), CT).await;
    assert_eq!(r.outcome, Outcome::Success);
    let r = run(
        &spec(ProbeKind::Tcp, closed_port()),
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Failure);
    assert!(matches!(r.error, Some(ProbeError::Connect(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_check_honours_bindto_and_bind_port() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut s = spec(ProbeKind::Tcp, l.local_addr().expect("addr"));
    let port = closed_port().port();
    s.bind = Some(keepalived_rs::config::model::CheckerBind {
        bindto: Some("127.0.0.2".parse().expect("ip")),
        bind_port: Some(port),
        bind_if: None,
        fwmark: None,
    });
    let accept = tokio::spawn(async move { l.accept().await.map(|(_, peer)| peer) });
    assert_eq!(run(&s, CT).await.outcome, Outcome::Success);
    let peer = accept.await.expect("join").expect("accept");
    assert_eq!(
        peer,
        SocketAddr::new("127.0.0.2".parse().expect("ip"), port)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_get_verdicts_against_hostile_servers() {
    let body = b"hello world\n".to_vec();
    let srv = HttpServer::start(Behaviour::Ok(body)).await;
    let mut url = UrlCheck::new("/");
    url.digest = parse_digest("6f5902ac237024bdd0c176cb93063dc4");
    let s = spec(http(url.clone(), None), srv.addr);
    assert_eq!(run(&s, CT).await.outcome, Outcome::Success);

    srv.set(Behaviour::Ok(b"changed\n".to_vec()));
    let r = run(&s, CT).await;
    assert!(
        matches!(r.error, Some(ProbeError::Http(HttpFailure::Digest(_)))),
        "{r:?}"
    );

    srv.set(Behaviour::Status(500));
    let r = run(&s, CT).await;
    assert!(
        matches!(r.error, Some(ProbeError::Http(HttpFailure::Status(500)))),
        "{r:?}"
    );

    srv.set(Behaviour::Garbage);
    let r = run(&s, CT).await;
    assert!(
        matches!(r.error, Some(ProbeError::Http(HttpFailure::BadHeader))),
        "{r:?}"
    );

    srv.set(Behaviour::CloseEarly);
    let r = run(&s, CT).await;
    assert!(
        matches!(r.error, Some(ProbeError::Http(HttpFailure::NoData))),
        "{r:?}"
    );

    // A hung server costs connect_timeout, not more.
    srv.set(Behaviour::Hang);
    let r = run(&s, CT + Duration::from_millis(200)).await;
    assert!(matches!(r.error, Some(ProbeError::Timeout)), "{r:?}");

    // A trickling server cannot hold the check beyond its bound (keepalived's per-read
    // timeout would wait for ever).
    srv.set(Behaviour::Trickle(Duration::from_millis(50)));
    let r = run(&s, CT + Duration::from_millis(200)).await;
    assert!(matches!(r.error, Some(ProbeError::Timeout)), "{r:?}");

    let r = run(&spec(http(url, None), closed_port()), CT).await;
    assert!(matches!(r.error, Some(ProbeError::Connect(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_body_neither_stalls_nor_grows_memory() {
    let srv = HttpServer::start(Behaviour::Huge(100 * 1024 * 1024)).await;
    let before = check_servers::rss_kib();
    // Without digest: decided on the status line, the body is not read.
    let s = spec(http(UrlCheck::new("/"), None), srv.addr);
    let r = run(&s, CT).await;
    assert_eq!(r.outcome, Outcome::Success);
    // With a digest: hashed as it streams, cut at the body cap (64 MiB) or the time bound.
    let mut url = UrlCheck::new("/");
    url.digest = Some([0; 16]);
    let mut s = spec(http(url, None), srv.addr);
    s.connect_timeout = Micros::secs(5);
    let r = run(&s, Duration::from_secs(11)).await;
    assert!(
        matches!(
            r.error,
            Some(ProbeError::Http(HttpFailure::BodyTooLarge(_))) | Some(ProbeError::Timeout)
        ),
        "{r:?}"
    );
    let grown = check_servers::rss_kib().saturating_sub(before);
    assert!(grown < 32 * 1024, "resident memory grew by {grown} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_do_not_stall_other_checks() {
    let good = HttpServer::start(Behaviour::Ok(b"ok".to_vec())).await;
    let hang = HttpServer::start(Behaviour::Hang).await;
    let trickle = HttpServer::start(Behaviour::Trickle(Duration::from_millis(100))).await;
    let huge = HttpServer::start(Behaviour::Huge(100 * 1024 * 1024)).await;
    let tls = Arc::new(TlsCache::new());
    let mut slow = Vec::new();
    for addr in [hang.addr, trickle.addr, huge.addr] {
        let mut url = UrlCheck::new("/");
        url.digest = Some([0; 16]);
        let s = spec(http(url, None), addr);
        let tls = tls.clone();
        slow.push(tokio::spawn(async move { io::probe(&s, 0, &tls).await }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t = Instant::now();
    for _ in 0..20 {
        let r = io::probe(&spec(http(UrlCheck::new("/"), None), good.addr), 0, &tls).await;
        assert_eq!(r.outcome, Outcome::Success);
    }
    assert!(
        t.elapsed() < CT,
        "20 good checks took {:?} next to hostile ones",
        t.elapsed()
    );
    for h in slow {
        let r = tokio::time::timeout(Duration::from_secs(5), h)
            .await
            .expect("hostile probe bounded")
            .expect("join");
        assert_eq!(r.outcome, Outcome::Failure);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_get_with_a_self_signed_certificate_and_sni() {
    let acc = check_servers::tls_acceptor(&["www.example.test"]);
    let srv = HttpServer::start_tls(Behaviour::Ok(b"hello world\n".to_vec()), acc).await;
    let mut url = UrlCheck::new("/");
    url.digest = parse_digest("6f5902ac237024bdd0c176cb93063dc4");
    for sni in [None, Some("www.example.test".to_string())] {
        let tls = TlsSpec {
            sni,
            certificate: None,
            key: None,
        };
        let r = run(&spec(http(url.clone(), Some(tls)), srv.addr), CT).await;
        assert_eq!(r.outcome, Outcome::Success, "{r:?}");
    }
    srv.set(Behaviour::Status(503));
    let tls = TlsSpec {
        sni: None,
        certificate: None,
        key: None,
    };
    let r = run(&spec(http(url.clone(), Some(tls.clone())), srv.addr), CT).await;
    assert!(
        matches!(r.error, Some(ProbeError::Http(HttpFailure::Status(503)))),
        "{r:?}"
    );
    // TLS to a server that talks plain text at once: a handshake failure, quickly.
    let plain = check_servers::smtp_server("220 not TLS at all\r\n").await;
    let r = run(&spec(http(url, Some(tls)), plain), CT).await;
    assert!(matches!(r.error, Some(ProbeError::Tls(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_check_reply_matching() {
    let (echo, _) = check_servers::udp_server(|d| Some(d.to_vec())).await;
    let (silent, hits) = check_servers::udp_server(|_| None).await;
    let payload = vec![0xde, 0xad, 0xbe, 0xef];
    let reply = |pat: &str| {
        Some(ReplyCheck {
            pattern: Some(parse_hex(pat, true).expect("pattern")),
            min_len: 0,
            max_len: 255,
        })
    };
    let udp = |reply| ProbeKind::Udp {
        payload: payload.clone(),
        reply,
    };
    assert_eq!(
        run(&spec(udp(reply("de ad xx ef")), echo), CT)
            .await
            .outcome,
        Outcome::Success
    );
    let r = run(&spec(udp(reply("de ad 00 ef")), echo), CT).await;
    assert!(matches!(r.error, Some(ProbeError::UdpReply)), "{r:?}");
    // No reply required: silence is success, an ICMP port unreachable is failure.
    let t = Instant::now();
    assert_eq!(
        run(&spec(udp(None), silent), CT + Duration::from_millis(100))
            .await
            .outcome,
        Outcome::Success
    );
    assert!(t.elapsed() >= CT);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let r = run(
        &spec(udp(reply("de")), silent),
        CT + Duration::from_millis(100),
    )
    .await;
    assert!(matches!(r.error, Some(ProbeError::NoReply)), "{r:?}");
    let gone = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    };
    let r = run(&spec(udp(None), gone), CT).await;
    assert_eq!(r.outcome, Outcome::Failure, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_check_rcode_and_silence() {
    let ok = check_servers::dns_server(0).await;
    let refused = check_servers::dns_server(5).await;
    let (silent, _) = check_servers::udp_server(|_| None).await;
    let dns = || ProbeKind::Dns {
        name: "example.test".into(),
        qtype: QType::A,
    };
    assert_eq!(run(&spec(dns(), ok), CT).await.outcome, Outcome::Success);
    let r = run(&spec(dns(), refused), CT).await;
    assert!(matches!(r.error, Some(ProbeError::DnsRcode(5))), "{r:?}");
    let r = run(&spec(dns(), silent), CT + Duration::from_millis(100)).await;
    assert!(matches!(r.error, Some(ProbeError::Timeout)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_check_dialogue() {
    let good = check_servers::smtp_server("220 mail.test ESMTP\r\n").await;
    let bad = check_servers::smtp_server("554 no service\r\n").await;
    let smtp = || ProbeKind::Smtp {
        helo: "checker.test".into(),
    };
    assert_eq!(run(&spec(smtp(), good), CT).await.outcome, Outcome::Success);
    assert_eq!(run(&spec(smtp(), bad), CT).await.outcome, Outcome::Failure);
    let hang = HttpServer::start(Behaviour::Hang).await;
    let r = run(&spec(smtp(), hang.addr), CT + Duration::from_millis(200)).await;
    assert!(matches!(r.error, Some(ProbeError::Timeout)), "{r:?}");
}

fn misc(script: &str, timeout: Duration, dynamic: bool) -> ProbeKind {
    let command = Command {
        args: vec!["/bin/sh".into(), "-c".into(), script.into()],
        user: None,
        group: None,
        loc: Default::default(),
    };
    // Prepared as the engine does at start-up (script security off: runs as us).
    let env = ScriptEnv::new(&Config::default());
    let script = env.prepare(&command, "MISC_CHECK").expect("/bin/sh runs");
    ProbeKind::Misc {
        command,
        timeout: Micros(timeout.as_micros() as u64),
        dynamic,
        user: None,
        prepared: Some(Arc::new(io::misc::Prepared { env, script })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misc_check_exit_codes_and_dynamic_weight() {
    let t = "127.0.0.1:1".parse().expect("addr");
    let b = Duration::from_secs(2);
    assert_eq!(
        run(&spec(misc("exit 0", b, false), t), b).await.outcome,
        Outcome::Success
    );
    assert_eq!(
        run(&spec(misc("exit 1", b, false), t), b).await.outcome,
        Outcome::Failure
    );
    assert_eq!(
        run(&spec(misc("exit 7", b, false), t), b).await.outcome,
        Outcome::Failure
    );
    let r = run(&spec(misc("exit 7", b, true), t), b).await;
    assert_eq!(
        (r.outcome, r.weight),
        (Outcome::Success, Some(WeightChange::Absolute(5)))
    );
    let r = run(&spec(misc("/nonexistent/script", b, false), t), b).await;
    assert_eq!(r.outcome, Outcome::Failure);
}

/// Whether `pid` is a live process (a zombie reparented to init counts as dead: our own
/// children are reaped, and their orphans belong to init or the daemon's subreaper).
fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => {
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misc_script_past_its_timeout_is_killed_with_its_children_and_reaped() {
    let dir = tempfile::tempdir().expect("tmp");
    let pids = dir.path().join("pids");
    // The script starts a grandchild, records both pids, then sleeps past the timeout.
    let script = format!(
        "sleep 30 & echo $! > {p}; echo $$ >> {p}; sleep 30",
        p = pids.display()
    );
    let t = "127.0.0.1:1".parse().expect("addr");
    let started = Instant::now();
    let r = run(
        &spec(misc(&script, Duration::from_millis(300), false), t),
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Failure);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "SIGTERM should end it at once"
    );
    let text = std::fs::read_to_string(&pids).expect("pids written");
    for pid in text
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        // Reaped (no zombie) and killed: the pid is gone.
        let gone = (0..50).any(|_| {
            if process_alive(pid) {
                std::thread::sleep(Duration::from_millis(20));
                false
            } else {
                true
            }
        });
        assert!(gone, "process {pid} survived the timeout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_check_values() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("state");
    let file = |weight| ProbeKind::File {
        path: path.display().to_string(),
        weight,
        reverse: false,
    };
    let t = "127.0.0.1:1".parse().expect("addr");
    std::fs::write(&path, "0\n").expect("write");
    assert_eq!(run(&spec(file(0), t), CT).await.outcome, Outcome::Success);
    std::fs::write(&path, "1\n").expect("write");
    assert_eq!(run(&spec(file(0), t), CT).await.outcome, Outcome::Failure);
    std::fs::write(&path, "3\n").expect("write");
    let r = run(&spec(file(10), t), CT).await;
    assert_eq!(r.weight, Some(WeightChange::Relative(30)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_check_loopback() {
    let allowed = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        .ok()
        .and_then(|s| {
            let v: Vec<u32> = s
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            let gid = nix::unistd::getgid().as_raw();
            (v.len() == 2).then(|| v[0] <= gid && gid <= v[1])
        })
        .unwrap_or(false);
    if !allowed {
        eprintln!("skipped: ping_group_range excludes our group");
        return;
    }
    let r = run(
        &spec(ProbeKind::Ping, "127.0.0.1:0".parse().expect("addr")),
        CT,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Success, "{r:?}");
}
