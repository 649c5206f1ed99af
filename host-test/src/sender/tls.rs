//! https the host's own way: `verify-ssl = false` carried out (wasi:http gives the guest no
//! say over certificates: any certificate accepted, the handshake still checked), and
//! reused connections (`TlsPool`), which wasmtime's default sender doesn't keep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use wasmtime_wasi_http::{Error, WasiBody};

use super::{IoFuture, SendResult};

pub(super) async fn send_without_verification(mut request: http::Request<WasiBody>) -> SendResult {
    let authority = request.uri().authority().ok_or(Error::HttpRequestUriInvalid)?.clone();
    let (mut sender, conn) = connect(&authority, true).await?;
    // The request line carries only the path; the Host header names the server.
    *request.uri_mut() = origin_form(&request)?;
    let response = sender.send_request(request).await.map_err(Error::Hyper)?;
    let io: IoFuture = Box::new(async move {
        match conn.await {
            Ok(result) => result.map_err(Error::Hyper),
            Err(join) => Err(Error::InternalError(Some(join.to_string()))),
        }
    });
    Ok((response.map(|body| body.map_err(Error::Hyper).boxed_unsync()), io))
}

type Connection = tokio::task::JoinHandle<Result<(), hyper::Error>>;

/// A new TLS connection to `authority` (TCP_NODELAY on), checked against the web's roots
/// as wasmtime's own sender does, or accepting any certificate (`insecure`).
async fn connect(authority: &http::uri::Authority, insecure: bool) -> Result<(SendRequest<WasiBody>, Connection), Error> {
    let address = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(443));
    let tcp = tokio::net::TcpStream::connect(&address).await.map_err(Error::Connect)?;
    tcp.set_nodelay(true).map_err(Error::Connect)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InternalError(Some(e.to_string())))?;
    let config = match insecure {
        true => builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider))).with_no_client_auth(),
        false => builder.with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() }).with_no_client_auth(),
    };
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(|e| Error::InternalError(Some(e.to_string())))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(Error::Tls)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(Error::Hyper)?;
    Ok((sender, tokio::spawn(conn)))
}

/// The request's URI as its request line carries it: the path and query.
fn origin_form(request: &http::Request<WasiBody>) -> Result<http::Uri, Error> {
    request.uri().path_and_query().map_or("/", |p| p.as_str()).parse().map_err(|_| Error::HttpRequestUriInvalid)
}

/// Idle connections per server (authority, and whether any certificate is accepted).
type Idle = HashMap<(String, bool), Vec<SendRequest<WasiBody>>>;

/// Reused https connections (`HostOptions::connection_pool`): up to `max_idle` per server,
/// each used for one request at a time. A connection is handed out again once its last
/// response has been read (hyper's sender is then ready); a closed one is dropped.
#[derive(Clone)]
pub(super) struct TlsPool {
    idle: Arc<Mutex<Idle>>,
    max_idle: usize,
}

impl TlsPool {
    pub fn new(max_idle: usize) -> Self {
        TlsPool { idle: Arc::default(), max_idle }
    }

    pub async fn send(&self, mut request: http::Request<WasiBody>, first_byte: std::time::Duration, insecure: bool) -> SendResult {
        let authority = request.uri().authority().ok_or(Error::HttpRequestUriInvalid)?.clone();
        let slot = (authority.to_string(), insecure);
        let reused = {
            let mut idle = self.idle.lock().unwrap();
            let list = idle.entry(slot.clone()).or_default();
            list.retain(|s| !s.is_closed());
            list.iter().position(SendRequest::is_ready).map(|i| list.swap_remove(i))
        };
        let mut sender = match reused {
            Some(sender) => sender,
            None => connect(&authority, insecure).await?.0,
        };
        *request.uri_mut() = origin_form(&request)?;
        let response = tokio::time::timeout(first_byte, sender.send_request(request)).await.map_err(|_| Error::ConnectionReadTimeout)?.map_err(Error::Hyper)?;
        // Back in the pool: ready for the next request once this response's body is read.
        let mut idle = self.idle.lock().unwrap();
        let list = idle.entry(slot).or_default();
        if list.len() < self.max_idle {
            list.push(sender);
        }
        Ok((response.map(|body| body.map_err(Error::Hyper).boxed_unsync()), Box::new(async { Ok(()) }) as IoFuture))
    }
}

/// Accepts any certificate but still checks the handshake signatures, so the connection
/// is encrypted to whoever answered — the meaning of `verify-ssl = false`.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
