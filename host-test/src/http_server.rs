//! Serves a `wasi:http/incoming-handler` component (e.g. the file server composed with the
//! S3 component) over HTTP/1.1 on 127.0.0.1, as `wasmtime serve` would: one instance per
//! request, WASI and wasi:http from this host (the same sender, TLS policy and memory cap as
//! `Storage`), nothing else. A WASI 0.3 service (`wasi:http/handler@0.3`) is served the 0.3
//! way instead: one instance, every request a task of its own in it, many at once.
//! `storage-host serve-http` and the file-server tests use it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use futures::StreamExt as _;
use futures::channel::oneshot;
use futures::stream::FuturesUnordered;
use http_body_util::BodyExt as _;
use tokio::sync::mpsc;
use wasmtime::{AsContextMut as _, Engine};
use wasmtime_wasi_http::handler::{self, Prepared};

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
    instances: Arc<AtomicUsize>,
    /// A 0.3 service's instance, serving.
    service: Option<tokio::task::JoinHandle<()>>,
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
        // WASI 0.2 and 0.3: a 0.3 service imports both (Rust's std is 0.2).
        let linker: Linker<HostState> = crate::p3::linker(&engine)?;
        let pre = linker.instantiate_pre(&component).map_err(|e| anyhow::Error::from(e).context("linking the component (it may import only WASI)"))?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let peak = Arc::new(AtomicUsize::new(0));
        let instances = Arc::new(AtomicUsize::new(0));
        let (mut p3, mut service) = (None, None);
        if let Ok(pre) = wasmtime_wasi_http::p3::bindings::ServicePre::new(pre.clone()) {
            let (jobs, queue) = mpsc::unbounded_channel();
            p3 = Some(jobs);
            service = Some(serve_p3(engine.clone(), handler::ProxyPre::P3(pre), options.clone(), peak.clone(), instances.clone(), queue));
        }
        let pre = match p3 {
            Some(_) => None,
            None => Some(ProxyPre::new(pre)?),
        };
        let one = match (one_instance, &pre) {
            (true, Some(pre)) => {
                let mut store = Store::new(&engine, HostState::new(&options)?);
                store.limiter(HostState::limiter);
                let proxy = pre.instantiate_async(&mut store).await?;
                instances.fetch_add(1, Ordering::Relaxed);
                Some(Arc::new(tokio::sync::Mutex::new((store, proxy))))
            }
            _ => None,
        };
        let shared = Arc::new(Shared { pre, p3, options, peak: peak.clone(), instances: instances.clone(), one });
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
        Ok(HttpServer { addr, peak, instances, service, task })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The largest linear memory any instance asked for so far.
    pub fn peak_memory(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// How many instances served the requests so far: one per request for a 0.2 handler
    /// (but in `one_instance` mode); for a 0.3 service, one that serves them all.
    pub fn instances(&self) -> usize {
        self.instances.load(Ordering::Relaxed)
    }

    /// Serves until the process is stopped.
    pub async fn wait(self) {
        let _ = (&mut { self }.task).await;
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(service) = &self.service {
            service.abort();
        }
    }
}

struct Shared {
    /// A 0.2 handler's.
    pre: Option<ProxyPre<HostState>>,
    /// A 0.3 service's: requests for its instance.
    p3: Option<mpsc::UnboundedSender<Job>>,
    options: HostOptions,
    peak: Arc<AtomicUsize>,
    instances: Arc<AtomicUsize>,
    /// The one instance, in `one_instance` mode.
    one: Option<OneInstance>,
}

/// The instance every request shares in `one_instance` mode.
type OneInstance = Arc<tokio::sync::Mutex<(Store<HostState>, Proxy)>>;

impl Shared {
    async fn handle(&self, req: hyper::Request<hyper::body::Incoming>) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
        if let Some(jobs) = &self.p3 {
            let req = req.map(|body| body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
            let (tx, rx) = oneshot::channel();
            jobs.send((req, tx)).map_err(|_| anyhow::anyhow!("the service has stopped"))?;
            return match rx.await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(e)) => Err(anyhow::Error::from(e).context("the service failed before responding")),
                Err(_) => Err(anyhow::anyhow!("the service's instance failed before responding")),
            };
        }
        let Some(pre) = &self.pre else { unreachable!("a 0.2 handler or a 0.3 service") };
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
        let mut store = Store::new(pre.engine(), HostState::new(&self.options)?);
        store.limiter(|state| state.limiter());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = pre.clone();
        let (peak, instances) = (self.peak.clone(), self.instances.clone());
        // The handler goes on writing the body after it has sent the response head.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            instances.fetch_add(1, Ordering::Relaxed);
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

/// A request for the 0.3 service, and where its response (or why there is none) goes.
type Job = (handler::Request, oneshot::Sender<wasmtime::Result<handler::Response>>);

/// Serves `jobs` from one instance of a 0.3 service, each request a task of its own in it
/// (wasmtime-wasi-http's `Prepared`, the call `wasmtime serve` makes), as many at once as
/// come, until the server stops. An instance that traps is replaced for the next requests.
/// (wasmtime-wasi-http's `ProxyHandler` would start another instance whenever its one is
/// busy on the CPU: `wasmtime serve`'s policy; this host shows what one instance does.)
fn serve_p3(
    engine: Engine,
    pre: handler::ProxyPre<HostState>,
    options: HostOptions,
    peak: Arc<AtomicUsize>,
    instances: Arc<AtomicUsize>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let made = async {
                let mut store = crate::p3::store(&engine, &options)?;
                store.data_mut().tell_peak_memory(peak.clone());
                let proxy = pre.instantiate_async(&mut store).await?;
                anyhow::Ok((store, proxy))
            };
            let (mut store, proxy) = match made.await {
                Ok(made) => made,
                Err(e) => match jobs.recv().await {
                    Some((_, tx)) => {
                        let _ = tx.send(Err(wasmtime::Error::msg(format!("instantiating the service: {e:#}"))));
                        continue;
                    }
                    None => return,
                },
            };
            instances.fetch_add(1, Ordering::Relaxed);
            let served = store
                .run_concurrent(async |accessor| {
                    let mut running = FuturesUnordered::new();
                    let mut open = true;
                    std::future::poll_fn(|cx| {
                        while open {
                            match jobs.poll_recv(cx) {
                                Poll::Ready(Some((request, tx))) => {
                                    let view = <HostState as wasmtime_wasi_http::WasiHttpView>::http;
                                    match accessor.with(|mut store| Prepared::new(store.as_context_mut(), &proxy, request, view, tx)) {
                                        Ok(prepared) => running.push(prepared.run(accessor, std::future::pending())),
                                        Err(e) => eprintln!("serve-http: starting a request: {e:#}"),
                                    }
                                }
                                Poll::Ready(None) => open = false,
                                Poll::Pending => break,
                            }
                        }
                        while let Poll::Ready(Some(result)) = running.poll_next_unpin(cx) {
                            if let Err(e) = result {
                                eprintln!("serve-http: {e:#}");
                            }
                        }
                        if !open && running.is_empty() { Poll::Ready(()) } else { Poll::Pending }
                    })
                    .await
                })
                .await;
            match served {
                Ok(()) => return,
                Err(e) => eprintln!("serve-http: the service's instance failed ({e:#}); a new one takes the next requests"),
            }
        }
    })
}
