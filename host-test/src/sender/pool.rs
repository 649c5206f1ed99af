//! Reused connections for plain-http requests (`HostOptions::connection_pool`), TCP_NODELAY
//! on: s3s-fs writes headers and body separately, and with Nagle on a reused connection each
//! small response would wait for the client's delayed ACK.

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::{IoFuture, SendResult, error_chain};

type PooledClient = hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, WasiBody>;

/// Reused connections for plain-http requests.
#[derive(Clone)]
pub struct Pool(PooledClient);

impl Pool {
    /// Keeps up to `max_idle` idle connections per server.
    pub fn new(max_idle: usize) -> Self {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).pool_max_idle_per_host(max_idle).build(connector);
        Pool(client)
    }

    pub(super) async fn send(&self, request: http::Request<WasiBody>, options: Option<RequestOptions>) -> SendResult {
        // The limits wasmtime's own sender applies (600 s unless the guest set them). The
        // pool connects inside `request`, so the connect timeout adds to the first byte's.
        let first_byte = options.and_then(|o| o.first_byte_timeout).unwrap_or(std::time::Duration::from_secs(600));
        let limit = first_byte + options.and_then(|o| o.connect_timeout).unwrap_or_default();
        let response = tokio::time::timeout(limit, self.0.request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(|e| Error::InternalError(Some(error_chain(&e))))?;
        Ok((response.map(|body| body.map_err(Error::Hyper).boxed_unsync()), Box::new(async { Ok(()) }) as IoFuture))
    }
}
