//! Serves a `wasi:http/incoming-handler` component (e.g. the file server composed with the
//! S3 component) over HTTP/1.1 on 127.0.0.1, as `wasmtime serve` would: one instance per
//! request, WASI and wasi:http from this host (the same sender, TLS policy and memory cap as
//! `Storage`), nothing else. `storage-host serve-http` and the file-server tests use it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyper::server::conn::http1;
use tokio::net::TcpListener;
use wasmtime::Store;
use wasmtime::component::Linker;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::runtime::{HostOptions, HostState, Runtime, load_precompiled};

/// A component being served; stops when dropped.
pub struct HttpServer {
    pub addr: SocketAddr,
    peak: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Serves `component` (a wasi:http proxy) on `addr` (port 0: any free port), each
    /// request in a fresh instance given `options`.
    pub async fn start(component: &[u8], options: HostOptions, addr: SocketAddr) -> anyhow::Result<HttpServer> {
        Self::start_with(component, options, addr, false).await
    }

    /// [`HttpServer::start`]; with `one_instance`, every request goes to one long-lived
    /// instance, one request at a time — what an app composed with the memory backend
    /// needs to remember anything between requests.
    pub async fn start_with(component: &[u8], options: HostOptions, addr: SocketAddr, one_instance: bool) -> anyhow::Result<HttpServer> {
        let engine = Runtime::shared()?.engine().clone();
        let component = load_precompiled(&engine, component)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = linker.instantiate_pre(&component).map_err(|e| anyhow::Error::from(e).context("linking the component (it may import only WASI)"))?;
        let pre = ProxyPre::new(pre)?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let peak = Arc::new(AtomicUsize::new(0));
        let one = match one_instance {
            true => {
                let mut store = Store::new(&engine, HostState::new(&options)?);
                store.limiter(HostState::limiter);
                let proxy = pre.instantiate_async(&mut store).await?;
                Some(Arc::new(tokio::sync::Mutex::new((store, proxy))))
            }
            false => None,
        };
        let shared = Arc::new(Shared { pre, options, peak: peak.clone(), one });
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move {
                            let result = shared.handle(req).await;
                            // The client only sees its connection close: say why here.
                            if let Err(e) = &result {
                                eprintln!("serve-http: {e:#}");
                            }
                            result
                        }
                    });
                    let _ = http1::Builder::new().keep_alive(true).serve_connection(hyper_util::rt::TokioIo::new(client), service).await;
                });
            }
        });
        Ok(HttpServer { addr, peak, task })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The largest linear memory any instance asked for so far.
    pub fn peak_memory(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Serves until the process is stopped.
    pub async fn wait(self) {
        let _ = (&mut { self }.task).await;
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    pre: ProxyPre<HostState>,
    options: HostOptions,
    peak: Arc<AtomicUsize>,
    /// The one instance, in `one_instance` mode.
    one: Option<OneInstance>,
}

/// The instance every request shares in `one_instance` mode.
type OneInstance = Arc<tokio::sync::Mutex<(Store<HostState>, Proxy)>>;

impl Shared {
    async fn handle(&self, req: hyper::Request<hyper::body::Incoming>) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
        if let Some(one) = &self.one {
            let (sender, receiver) = tokio::sync::oneshot::channel();
            let (one, peak) = (one.clone(), self.peak.clone());
            let task = tokio::spawn(async move {
                let mut guard = one.lock().await;
                let (store, proxy) = &mut *guard;
                let req = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
                let out = store.data_mut().http().new_response_outparam(sender)?;
                let result = proxy.wasi_http_incoming_handler().call_handle(&mut *store, req, out).await;
                peak.fetch_max(store.data().peak_memory(), Ordering::Relaxed);
                log_late_failure(&result);
                result
            });
            return respond(receiver, task).await;
        }
        let mut store = Store::new(self.pre.engine(), HostState::new(&self.options)?);
        store.limiter(|state| state.limiter());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        let peak = self.peak.clone();
        // The handler goes on writing the body after it has sent the response head.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            let result = proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await;
            peak.fetch_max(store.data().peak_memory(), Ordering::Relaxed);
            log_late_failure(&result);
            result
        });
        respond(receiver, task).await
    }
}

/// A handler that fails after sending the response head only cuts the body short for the
/// client: say why here. (A failure before it is reported with the missing response.)
fn log_late_failure(result: &wasmtime::Result<()>) {
    if let Err(e) = result {
        eprintln!("serve-http: the handler failed: {e:#}");
    }
}

type Outcome = Result<hyper::Response<HyperOutgoingBody>, wasmtime_wasi_http::p2::bindings::http::types::ErrorCode>;

/// The response the handler sent, or why there is none.
async fn respond(
    receiver: tokio::sync::oneshot::Receiver<Outcome>,
    task: tokio::task::JoinHandle<wasmtime::Result<()>>,
) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
    match receiver.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Err(anyhow::anyhow!("the component answered with an error: {code:?}")),
        Err(_) => match task.await {
            Ok(Ok(())) => Err(anyhow::anyhow!("the component never sent a response")),
            Ok(Err(e)) => Err(anyhow::Error::from(e).context("the component failed before responding")),
            Err(e) => Err(e.into()),
        },
    }
}
