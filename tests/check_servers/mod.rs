//! Real servers on loopback for the checker tests: an HTTP server that can be told to
//! misbehave, its TLS twin with a self-signed certificate made here, a UDP echo, a DNS
//! responder and an SMTP server. Every server binds 127.0.0.1 port 0 and lives as long as
//! the test's runtime.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// How the HTTP server answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with this body (and a Content-Length).
    Ok(Vec<u8>),
    /// This status, empty body.
    Status(u16),
    /// Accept, read the request, never answer.
    Hang,
    /// Answer bytes that are not HTTP.
    Garbage,
    /// Send a valid response one byte every `interval`.
    Trickle(Duration),
    /// Close as soon as the request is read.
    CloseEarly,
    /// 200 with a body of this many bytes, generated as it is sent.
    Huge(u64),
}

pub struct HttpServer {
    pub addr: SocketAddr,
    pub behaviour: Arc<Mutex<Behaviour>>,
    pub requests: Arc<AtomicUsize>,
}

impl HttpServer {
    pub async fn start(b: Behaviour) -> HttpServer {
        Self::start_inner(b, None).await
    }

    pub async fn start_tls(b: Behaviour, acceptor: tokio_rustls::TlsAcceptor) -> HttpServer {
        Self::start_inner(b, Some(acceptor)).await
    }

    async fn start_inner(b: Behaviour, tls: Option<tokio_rustls::TlsAcceptor>) -> HttpServer {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let behaviour = Arc::new(Mutex::new(b));
        let requests = Arc::new(AtomicUsize::new(0));
        let (bh, rq) = (behaviour.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                let b = bh.lock().expect("lock").clone();
                let rq = rq.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve(s, b, rq).await,
                        Some(acc) => {
                            if let Ok(s) = acc.accept(s).await {
                                serve(s, b, rq).await
                            }
                        }
                    }
                });
            }
        });
        HttpServer {
            addr,
            behaviour,
            requests,
        }
    }

    pub fn set(&self, b: Behaviour) {
        *self.behaviour.lock().expect("lock") = b;
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, b: Behaviour, rq: Arc<AtomicUsize>) {
    // Read the request head.
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if req.len() > 64 * 1024 {
            return;
        }
    }
    rq.fetch_add(1, Ordering::SeqCst);
    match b {
        Behaviour::Ok(body) => {
            let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
        }
        Behaviour::Status(code) => {
            let _ = s
                .write_all(format!("HTTP/1.0 {code} X\r\nContent-Length: 0\r\n\r\n").as_bytes())
                .await;
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Behaviour::Garbage => {
            let _ = s
                .write_all(b"\x16\x03\x01 this is not http at all\r\n\r\n")
                .await;
        }
        Behaviour::Trickle(iv) => {
            for b in b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello".iter() {
                if s.write_all(&[*b]).await.is_err() {
                    return;
                }
                let _ = s.flush().await;
                tokio::time::sleep(iv).await;
            }
        }
        Behaviour::CloseEarly => {}
        Behaviour::Huge(n) => {
            let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {n}\r\n\r\n");
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len() as u64) as usize;
                if s.write_all(&chunk[..k]).await.is_err() {
                    return;
                }
                left -= k as u64;
            }
        }
    }
    let _ = s.shutdown().await;
}

/// A TLS acceptor with a fresh self-signed certificate for `names`.
pub fn tls_acceptor(names: &[&str]) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// A UDP server answering every datagram with `reply(datagram)` (None: stay silent).
pub async fn udp_server(
    reply: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = s.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            let Ok((n, from)) = s.recv_from(&mut buf).await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            if let Some(r) = reply(&buf[..n]) {
                let _ = s.send_to(&r, from).await;
            }
        }
    });
    (addr, count)
}

/// A DNS responder: echoes the query back as a response with `rcode`.
pub async fn dns_server(rcode: u8) -> SocketAddr {
    udp_server(move |q| {
        if q.len() < 12 {
            return None;
        }
        let mut r = q.to_vec();
        r[2] |= 0x80;
        r[3] = (r[3] & 0xf0) | rcode;
        // Send a stray datagram first? No: one answer per query, but with a wrong-ID twin
        // ahead of it to prove it is skipped (sent as part of the same reply is impossible,
        // so the ID check is covered by the unit tests).
        Some(r)
    })
    .await
    .0
}

/// A one-line-at-a-time SMTP server with the given banner.
pub async fn smtp_server(banner: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = s.write_all(banner.as_bytes()).await;
                let mut buf = [0u8; 512];
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    let line = String::from_utf8_lossy(&buf[..n]).to_string();
                    let answer: &[u8] = if line.starts_with("HELO") {
                        b"250 pleased to meet you\r\n"
                    } else if line.starts_with("QUIT") {
                        b"221 bye\r\n"
                    } else {
                        b"500 what\r\n"
                    };
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Resident memory of this process in KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
