//! Reused connections (`HostOptions::connection_pool`): plain http through hyper-util's
//! pool, https through `tls::TlsPool`; TCP_NODELAY on: s3s-fs writes headers and body separately, and with Nagle on a reused connection each
//! small response would wait for the client's delayed ACK.

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::shaping::SlowConnect;
use super::tls::TlsPool;
use super::{IoFuture, SendResult, error_chain};

type PooledClient = hyper_util::client::legacy::Client<SlowConnect, WasiBody>;

/// Reused connections: hyper-util's pool for plain http, ours for https (`tls.rs`).
#[derive(Clone)]
pub struct Pool(PooledClient, TlsPool);

impl Pool {
    /// Keeps up to `max_idle` idle connections per server; each new one takes
    /// `connect_delay` more to open (a simulated round trip, `shaping.rs`).
    pub fn new(max_idle: usize, connect_delay: std::time::Duration) -> Self {
        let mut inner = hyper_util::client::legacy::connect::HttpConnector::new();
        inner.set_nodelay(true);
        let connector = SlowConnect { inner, rtt: connect_delay };
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).pool_max_idle_per_host(max_idle).build(connector);
        Pool(client, TlsPool::new(max_idle))
    }

    pub(super) async fn send(&self, request: http::Request<WasiBody>, options: Option<RequestOptions>, insecure: bool) -> SendResult {
        // The limits wasmtime's own sender applies (600 s unless the guest set them). The
        // pool connects inside `request`, so the connect timeout adds to the first byte's.
        let first_byte = options.and_then(|o| o.first_byte_timeout).unwrap_or(std::time::Duration::from_secs(600));
        let limit = first_byte + options.and_then(|o| o.connect_timeout).unwrap_or_default();
        if request.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
            return self.1.send(request, limit, insecure).await;
        }
        let response = tokio::time::timeout(limit, self.0.request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(|e| Error::InternalError(Some(error_chain(&e))))?;
        Ok((response.map(|body| body.map_err(Error::Hyper).boxed_unsync()), Box::new(async { Ok(()) }) as IoFuture))
    }
}
