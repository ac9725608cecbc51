//! HTTP_GET and SSL_GET over TCP, with rustls for SSL_GET.
//!
//! As keepalived, SSL_GET never verifies the server certificate (check_ssl.c sets no
//! `SSL_VERIFY_PEER`): the verifier below accepts any certificate and signature. A client
//! certificate and key from the global `SSL` block are presented when configured; SNI is
//! sent only with `enable_sni`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use super::{ProbeError, connect_tcp, dur};
use crate::check::plan::{ProbeKind, ProbeSpec, TlsSpec};
use crate::check::proto::http::{
    HttpProtocol, Limits, Mode, Progress, ResponseEval, UrlCheck, Verdict, build_request,
};

/// Accepts every server certificate, as keepalived does.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client certificate file and key file.
type ClientCert = (Option<String>, Option<String>);

/// Client TLS configurations, one per client certificate/key pair, built on first use.
#[derive(Debug, Default)]
pub struct TlsCache {
    configs: Mutex<HashMap<ClientCert, Arc<ClientConfig>>>,
}

impl TlsCache {
    pub fn new() -> TlsCache {
        TlsCache::default()
    }

    /// The client configuration for `spec` (no verification, optional client cert).
    pub fn config(&self, spec: &TlsSpec) -> Result<Arc<ClientConfig>, ProbeError> {
        let key = (spec.certificate.clone(), spec.key.clone());
        let mut map = self
            .configs
            .lock()
            .map_err(|_| ProbeError::Tls("TLS cache poisoned".into()))?;
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let cfg = Arc::new(client_config(spec)?);
        map.insert(key, cfg.clone());
        Ok(cfg)
    }
}

/// A rustls client configuration that verifies nothing.
pub fn client_config(spec: &TlsSpec) -> Result<ClientConfig, ProbeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)));
    match (&spec.certificate, &spec.key) {
        (Some(cert), key) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ProbeError::Tls(format!("certificate {cert}: {e}")))?;
            let key_path = key.as_deref().unwrap_or(cert);
            let key = PrivateKeyDer::from_pem_file(key_path)
                .map_err(|e| ProbeError::Tls(format!("key {key_path}: {e}")))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| ProbeError::Tls(e.to_string()))
        }
        (None, _) => Ok(builder.with_no_client_auth()),
    }
}

/// One HTTP_GET / SSL_GET probe of url `url`.
pub async fn probe(spec: &ProbeSpec, url: usize, tls: &TlsCache) -> Result<Verdict, ProbeError> {
    let ProbeKind::Http {
        tls: tls_spec,
        protocol,
        urls,
    } = &spec.kind
    else {
        return Err(ProbeError::Tls("not an HTTP probe".into()));
    };
    let Some(u) = urls.get(url).or_else(|| urls.first()) else {
        // keepalived: no url means up without checking.
        return Ok(Verdict {
            status: 0,
            result: Ok(()),
            digest: None,
            body_bytes: 0,
            content_length: None,
        });
    };
    let ct = dur(spec.connect_timeout);
    let verdict = fetch(
        spec.target,
        spec.bind.as_ref(),
        tls_spec.as_ref().map(|t| (t, tls)),
        *protocol,
        u,
        ct,
        Limits::default(),
        Mode::Check,
        &mut |_| {},
    )
    .await?;
    verdict.result.clone()?;
    Ok(verdict)
}

/// Connect, (TLS,) send the GET for `url` and evaluate the response; each of the connect,
/// the handshake and the exchange is bounded by `ct`. `observe` sees every chunk received.
#[allow(clippy::too_many_arguments)]
pub async fn fetch(
    target: SocketAddr,
    bind: Option<&crate::config::model::CheckerBind>,
    tls: Option<(&TlsSpec, &TlsCache)>,
    protocol: HttpProtocol,
    url: &UrlCheck,
    ct: Duration,
    limits: Limits,
    mode: Mode,
    observe: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<Verdict, ProbeError> {
    let tcp = connect_tcp(target, bind, ct).await?;
    let request = build_request(&url.path, protocol, url.virtualhost.as_deref(), target);
    match tls {
        None => exchange(tcp, &request, url, ct, limits, mode, observe).await,
        Some((spec, cache)) => {
            let cfg = cache.config(spec)?;
            let name = match spec
                .sni
                .as_deref()
                .map(|s| ServerName::try_from(s.to_string()))
            {
                Some(Ok(n)) => n,
                _ => ServerName::IpAddress(target.ip().into()),
            };
            let stream = timeout(ct, TlsConnector::from(cfg).connect(name, tcp))
                .await
                .map_err(|_| ProbeError::Timeout)?
                .map_err(|e| ProbeError::Tls(e.to_string()))?;
            exchange(stream, &request, url, ct, limits, mode, observe).await
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &str,
    url: &UrlCheck,
    ct: Duration,
    limits: Limits,
    mode: Mode,
    observe: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<Verdict, ProbeError> {
    let work = async {
        s.write_all(request.as_bytes()).await?;
        s.flush().await?;
        let mut eval = ResponseEval::new(url, limits, mode);
        let mut buf = vec![0u8; 8 * 1024];
        loop {
            let n = match s.read(&mut buf).await {
                Ok(n) => n,
                // A TLS peer closing without close_notify is an end of stream here.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(ProbeError::Io(e)),
            };
            if n == 0 {
                return Ok(eval.eof());
            }
            observe(&buf[..n]);
            if let Progress::Done(v) = eval.feed(&buf[..n]) {
                return Ok(v);
            }
        }
    };
    timeout(ct, work).await.map_err(|_| ProbeError::Timeout)?
}
