//! The genhash binary: keepalived's command line and output shape, against servers on
//! 127.0.0.1.

mod check_servers;

use std::process::Command;
use std::time::Duration;

use check_servers::{Behaviour, HttpServer};

fn genhash(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_genhash"))
        .args(args)
        .output()
        .expect("run genhash")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_the_md5_of_the_body() {
    let srv = HttpServer::start(Behaviour::Ok(b"hello world\n".to_vec())).await;
    let port = srv.addr.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        genhash(&["-s", "127.0.0.1", "-p", &port, "-u", "/index.html"])
    })
    .await
    .expect("join");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "6f5902ac237024bdd0c176cb93063dc4\n"
    );
    assert!(out.status.success());
    // genhash ignores the status code, as keepalived's does.
    srv.set(Behaviour::Status(404));
    let port = srv.addr.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        genhash(&["--server", "127.0.0.1", "--port", &port, "--url", "/", "-v"])
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "-----------------------[    HTTP Header Buffer    ]-----------------------\n"
        )
    );
    assert!(text.contains("-----------------------[ HTTP Header Ascii Buffer ]-----------------------\nHTTP/1.0 404 X\r\n"));
    assert!(
        text.contains("\nd41d8cd98f00b204e9800998ecf8427e\n"),
        "{text}"
    );
    assert!(text.contains("Global response time for [/] = "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_and_errors() {
    let acc = check_servers::tls_acceptor(&["www.example.test"]);
    let srv = HttpServer::start_tls(Behaviour::Ok(b"hello world\n".to_vec()), acc).await;
    let port = srv.addr.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        genhash(&[
            "-S",
            "-I",
            "-V",
            "www.example.test",
            "-s",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "/",
            "-t",
            "2",
        ])
    })
    .await
    .expect("join");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "6f5902ac237024bdd0c176cb93063dc4\n"
    );
    let hang = HttpServer::start(Behaviour::Hang).await;
    let port = hang.addr.port().to_string();
    let t = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        genhash(&["-s", "127.0.0.1", "-p", &port, "-u", "/", "-t", "1"])
    })
    .await
    .expect("join");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Timeout HTTP read\n");
}

#[test]
fn usage_errors_exit_1_with_keepalived_usage() {
    for args in [
        &["-h"][..],
        &["-s", "127.0.0.1", "-p", "80"],
        &["-s", "host.name", "-p", "80", "-u", "/"],
        &["-s", "127.0.0.1", "-p", "0", "-u", "/"],
    ] {
        let out = genhash(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Usage: "),
            "{args:?}"
        );
    }
}
