//! Alert mail (`smtp_alert`) against a tiny SMTP server on 127.0.0.1 that records each
//! dialogue: keepalived's commands, headers, subjects and bodies for a real server going
//! down and a virtual server losing quorum (from the checker engine), for VRRP transitions
//! (the function the VRRP engine calls, one mail per new state), a rejected recipient
//! (QUIT, no DATA) and an SMTP server that is not there (logged, nothing blocks).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keepalived_rs::alert::Alerter;
use keepalived_rs::check::{HealthTable, Options, run_with};
use keepalived_rs::config::model::Config;
use keepalived_rs::config::{self, LoadOptions};
use keepalived_rs::vrrp::fsm::State;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

const BOUND: Duration = Duration::from_secs(5);

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

/// A recording SMTP server: one transcript per connection (client lines as sent, with
/// `S: ` before each reply of ours). `reject_rcpt` answers RCPT with 550.
async fn smtp_server(reject_rcpt: bool) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Bounded: at most 16 sessions, each at most 200 lines.
        for _ in 0..16 {
            let Ok((s, _)) = l.accept().await else { return };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                let mut log = vec!["S: 220 test ESMTP".to_string()];
                let _ = w.write_all(b"220 test ESMTP\r\n").await;
                let mut in_data = false;
                for _ in 0..200 {
                    let mut line = String::new();
                    match tokio::time::timeout(BOUND, r.read_line(&mut line)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => break,
                    }
                    let line = line.trim_end_matches("\r\n").to_string();
                    log.push(line.clone());
                    let reply: &[u8] = if in_data {
                        if line == "." {
                            in_data = false;
                            b"250 queued\r\n"
                        } else {
                            continue;
                        }
                    } else if line.starts_with("HELO ") || line.starts_with("MAIL FROM:") {
                        b"250 ok\r\n"
                    } else if line.starts_with("RCPT TO:") {
                        if reject_rcpt {
                            b"550 no such user\r\n"
                        } else {
                            b"250 ok\r\n"
                        }
                    } else if line == "DATA" {
                        in_data = true;
                        b"354 go on\r\n"
                    } else if line == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        log.push("S: 221 bye".into());
                        break;
                    } else {
                        b"500 what\r\n"
                    };
                    log.push(format!("S: {}", String::from_utf8_lossy(reply).trim_end()));
                    let _ = w.write_all(reply).await;
                }
                let _ = tx.send(log);
            });
        }
    });
    (addr, rx)
}

async fn next_mail(rx: &mut mpsc::UnboundedReceiver<Vec<String>>) -> Vec<String> {
    tokio::time::timeout(BOUND, rx.recv())
        .await
        .expect("a mail within bound")
        .expect("server alive")
}

fn header<'a>(mail: &'a [String], name: &str) -> Option<&'a str> {
    mail.iter()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").port()
}

fn globals(smtp: SocketAddr, extra: &str) -> String {
    format!(
        r#"
global_defs {{
    {extra}
    router_id lb1
    notification_email {{
        ops@test.example
        oncall@test.example
    }}
    notification_email_from keepalived@lb1.test.example
    smtp_server {} {}
    smtp_helo_name lb1.test.example
    smtp_connect_timeout 2
}}
"#,
        smtp.ip(),
        smtp.port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_server_down_and_quorum_loss_are_mailed_as_keepalived_does() {
    let (smtp, mut mails) = smtp_server(false).await;
    let port = closed_port().await;
    let conf = format!(
        r#"{g}
virtual_server 203.0.113.43 80 {{
    delay_loop 0.2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 1
    smtp_alert on
    real_server 127.0.0.1 {port} {{
        weight 1
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
}}
"#,
        g = globals(smtp, "")
    );
    let (tx, _table) = watch::channel(HealthTable::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(run_with(
        Arc::new(load(&conf)),
        tx,
        async move {
            let _ = stopped.await;
        },
        Options {
            jitter: Some(0),
            ..Options::default()
        },
    ));
    let a = next_mail(&mut mails).await;
    let b = next_mail(&mut mails).await;
    let (rs, vs) = if header(&a, "Subject").is_some_and(|s| s.contains("Realserver")) {
        (a, b)
    } else {
        (b, a)
    };
    // The dialogue, in keepalived's order.
    let commands: Vec<&str> = rs
        .iter()
        .map(String::as_str)
        .filter(|l| {
            ["HELO", "MAIL", "RCPT", "DATA", "QUIT"]
                .iter()
                .any(|c| l.starts_with(c))
        })
        .collect();
    assert_eq!(
        commands,
        [
            "HELO lb1.test.example",
            "MAIL FROM:<keepalived@lb1.test.example>",
            "RCPT TO:<ops@test.example>",
            "RCPT TO:<oncall@test.example>",
            "DATA",
            "QUIT"
        ],
        "{rs:#?}"
    );
    assert_eq!(
        header(&rs, "Subject"),
        Some(
            format!(
                "[lb1] Realserver [127.0.0.1]:tcp:{port} of virtual server [203.0.113.43]:tcp:80 - DOWN"
            )
            .as_str()
        ),
        "{rs:#?}"
    );
    assert_eq!(header(&rs, "From"), Some("keepalived@lb1.test.example"));
    assert_eq!(header(&rs, "X-Mailer"), Some("Keepalived"));
    assert_eq!(
        header(&rs, "To"),
        Some("ops@test.example, oncall@test.example")
    );
    // RFC 5322 with a numeric zone (local time, `+0000` on a UTC host).
    assert!(
        header(&rs, "Date").is_some_and(|d| {
            let zone = d.rsplit(' ').next().unwrap_or("");
            zone.len() == 5 && (zone.starts_with('+') || zone.starts_with('-'))
        }),
        "{rs:?}"
    );
    assert!(
        rs.iter().any(|l| l == "=> TCP CHECK failed on service <="),
        "{rs:#?}"
    );
    assert_eq!(
        header(&vs, "Subject"),
        Some("[lb1] Virtualserver [203.0.113.43]:tcp:80 - DOWN"),
        "{vs:#?}"
    );
    assert!(
        vs.iter().any(|l| l == "=> Lost quorum 1+0=1 <= 0 <="),
        "{vs:#?}"
    );
    let _ = stop.send(());
    tokio::time::timeout(BOUND, done)
        .await
        .expect("stops")
        .expect("task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vrrp_transitions_mail_once_per_new_state() {
    let (smtp, mut mails) = smtp_server(false).await;
    let conf = globals(smtp, "smtp_alert_vrrp on");
    let cfg = load(&conf);
    let alerter = Alerter::new(&cfg);
    alerter.vrrp_instance(&cfg, "VI_1", State::Master);
    let m = next_mail(&mut mails).await;
    assert_eq!(
        header(&m, "Subject"),
        Some("[lb1] VRRP Instance VI_1 - Entering MASTER state")
    );
    assert!(
        m.iter()
            .any(|l| l == "=> VRRP Instance is now owning VRRP VIPs <=")
    );
    // The same state again mails nothing; the next state does.
    alerter.vrrp_instance(&cfg, "VI_1", State::Master);
    alerter.vrrp_instance(&cfg, "VI_1", State::Backup);
    let m = next_mail(&mut mails).await;
    assert_eq!(
        header(&m, "Subject"),
        Some("[lb1] VRRP Instance VI_1 - Entering BACKUP state")
    );
    alerter.vrrp_group(&cfg, "G1", State::Fault);
    let m = next_mail(&mut mails).await;
    assert_eq!(
        header(&m, "Subject"),
        Some("[lb1] VRRP Group G1 - Entering FAULT state")
    );
    assert!(
        m.iter()
            .any(|l| l == "=> All VRRP group instances are now in FAULT state <=")
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(mails.try_recv().is_err(), "no duplicate mail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_recipient_quits_and_missing_server_never_blocks() {
    let (smtp, mut mails) = smtp_server(true).await;
    let cfg = load(&globals(smtp, "smtp_alert on"));
    let alerter = Alerter::new(&cfg);
    alerter.vrrp_instance(&cfg, "VI_1", State::Fault);
    let m = next_mail(&mut mails).await;
    let rcpt = m
        .iter()
        .position(|l| l.starts_with("RCPT"))
        .expect("RCPT sent");
    assert_eq!(m[rcpt + 1], "S: 550 no such user");
    assert_eq!(m[rcpt + 2], "QUIT", "{m:#?}");
    assert!(!m.iter().any(|l| l == "DATA"));

    // Nothing listens: send() returns at once and the attempt ends within the timeout.
    let gone = SocketAddr::from(([127, 0, 0, 1], closed_port().await));
    let cfg = load(&globals(gone, "smtp_alert on"));
    let alerter = Alerter::new(&cfg);
    let t = std::time::Instant::now();
    for i in 0..10 {
        alerter.vrrp_instance(&cfg, &format!("VI_{i}"), State::Master);
    }
    assert!(t.elapsed() < Duration::from_secs(1), "sending never blocks");
    alerter.flush(BOUND).await;
    assert_eq!(alerter.in_flight(), 0, "every attempt ended");
}
