//! `verify-ssl = false`, carried out by the host (wasi:http gives the guest no say over
//! certificates): https with any certificate accepted, the handshake still checked.

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use wasmtime_wasi_http::{Error, WasiBody};

use super::{IoFuture, SendResult};

pub(super) async fn send_without_verification(mut request: http::Request<WasiBody>) -> SendResult {
    let authority = request.uri().authority().ok_or(Error::HttpRequestUriInvalid)?.clone();
    let address = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(443));
    let tcp = tokio::net::TcpStream::connect(&address).await.map_err(Error::Connect)?;
    tcp.set_nodelay(true).map_err(Error::Connect)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InternalError(Some(e.to_string())))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(|e| Error::InternalError(Some(e.to_string())))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(Error::Tls)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(Error::Hyper)?;
    let conn = tokio::spawn(conn);
    // The request line carries only the path; the Host header names the server.
    *request.uri_mut() = request.uri().path_and_query().map_or("/", |p| p.as_str()).parse().map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = sender.send_request(request).await.map_err(Error::Hyper)?;
    let io: IoFuture = Box::new(async move {
        match conn.await {
            Ok(result) => result.map_err(Error::Hyper),
            Err(join) => Err(Error::InternalError(Some(join.to_string()))),
        }
    });
    Ok((response.map(|body| body.map_err(Error::Hyper).boxed_unsync()), io))
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
