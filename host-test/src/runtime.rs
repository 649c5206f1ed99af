//! Loading and running the component: WASI, wasi:http, and typed calls into `storage`.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, FutureReader, Linker, Resource, ResourceAny, ResourceTable, StreamReader};
use wasmtime::{Config as EngineConfig, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub mod bindings {
    wasmtime::component::bindgen!({
        world: "wasm-storages:components/s3@0.1.0",
        path: ["../wit", "../wit/components"],
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:cli": wasmtime_wasi::p2::bindings::cli,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        },
    });
}

use crate::api::{Api, Generation};
use bindings::exports::wasm_storages::storage::types::{
    ByteRange, Config, CopyOptions, Entry, Error, GetOptions, InfoOptions, ListOptions, PendingUpload, PresignMethod, PutOptions, Span, StoredFile, UrlOptions,
};

/// The component, built by this crate's build script.
pub static COMPONENT: &[u8] = include_bytes!(env!("STORAGE_COMPONENT_PATH"));
/// Its WASI 0.3 build (`--features p3`): `wasm-storages:storage@0.3.0`.
pub static P3_COMPONENT: &[u8] = include_bytes!(env!("P3_STORAGE_COMPONENT_PATH"));
/// The memory backend (`examples/memory-storage`): the same interface, in memory.
pub static MEMORY_COMPONENT: &[u8] = include_bytes!(env!("MEMORY_COMPONENT_PATH"));

/// The backend `Runtime::shared` loads: the S3 component, with `STORAGE_BACKEND=p3` its WASI
/// 0.3 build, or with `STORAGE_BACKEND=memory` the memory one (the integration suite runs
/// against each).
/// `STORAGE_COMPONENT_FILE=path` loads that S3 component instead of the built-in one, so one
/// optimized host can run two builds side by side (`bench`, before and after a change).
pub fn backend() -> &'static [u8] {
    static FILE: OnceLock<Option<&'static [u8]>> = OnceLock::new();
    let file = FILE.get_or_init(|| {
        let path = std::env::var_os("STORAGE_COMPONENT_FILE")?;
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("STORAGE_COMPONENT_FILE={}: {e}", path.to_string_lossy()));
        Some(Box::leak(bytes.into_boxed_slice()))
    });
    match std::env::var("STORAGE_BACKEND").as_deref() {
        Ok("memory") => MEMORY_COMPONENT,
        Ok("p3") => file.unwrap_or(P3_COMPONENT),
        _ => file.unwrap_or(COMPONENT),
    }
}

/// The generation of the storage interface [`backend`] exports.
pub fn backend_generation() -> Generation {
    match std::env::var("STORAGE_BACKEND").as_deref() {
        Ok("p3") => Generation::P3,
        _ => Generation::P2,
    }
}

/// The only environment variables the component gets: those it reads for credentials,
/// region and endpoint. Never the whole process environment.
pub const FORWARDED_ENV: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_SSO",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "HOME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
];

/// The variables among [`FORWARDED_ENV`] that name files the component reads.
const FILE_VARS: &[&str] = &["AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"];

/// What the host gives one instance.
#[derive(Clone, Default)]
pub struct HostOptions {
    /// Environment variables the component sees.
    pub env: Vec<(String, String)>,
    /// Accept any TLS certificate (the config's `verify-ssl = false`; wasi:http leaves TLS
    /// to the host).
    pub insecure_tls: bool,
    /// Cap on the instance's linear memory, in bytes: growing past it fails inside the guest.
    pub max_memory: Option<usize>,
    /// Answer every request with this instead of sending it (benchmarks of the guest alone).
    pub canned: Option<crate::sender::CannedReply>,
    /// Reuse plain-http connections, keeping up to this many idle per server (match the
    /// store's `max-pool-connections`). `None`: a new connection for every request.
    pub connection_pool: Option<usize>,
    /// Told of every request the component sends (request-shape checks, timings).
    pub observer: Option<crate::sender::Observer>,
    /// Damage the component's requests on their way out.
    pub fault: Option<crate::sender::Fault>,
    /// Send as if over a far path: round trip and per-connection bandwidth (benchmarks).
    pub shaping: Option<crate::sender::Shaping>,
    /// Host directories the component may read, each under its own absolute path.
    pub preopens: Vec<std::path::PathBuf>,
    /// Host directories the component may also write, each at the guest path given (the
    /// blobstore adapter's scratch directory).
    pub writable_dirs: Vec<(std::path::PathBuf, String)>,
    /// Arguments and standard streams, for a command component (`crate::command`).
    pub command: Option<crate::command::CommandIo>,
    /// Counts the request body bytes sent, less those of failed requests (an upload's
    /// progress; see `sender`).
    pub uploaded: Option<crate::sender::Tally>,
    /// Once true, no more data leaves (an interrupted transfer; see `sender`).
    pub stop: Option<crate::sender::Stop>,
}

impl HostOptions {
    /// The [`FORWARDED_ENV`] variables of this process, and read-only access to the
    /// directories of the files they name (the shared AWS files, the web identity and
    /// container tokens), so the component finds its credentials as an AWS SDK would.
    pub fn from_process_env() -> Self {
        // The file variables as absolute paths: a component has no working directory, so a
        // relative one would name nothing there.
        let absolute = |name: &str, value: String| match (FILE_VARS.contains(&name), std::path::Path::new(&value)) {
            (true, path) if path.is_relative() && !value.is_empty() && !value.starts_with("~/") => match std::env::current_dir() {
                Ok(cwd) => cwd.join(path).to_string_lossy().into_owned(),
                Err(_) => value,
            },
            _ => value,
        };
        let env: Vec<(String, String)> = FORWARDED_ENV.iter().filter_map(|name| Some((name.to_string(), absolute(name, std::env::var(name).ok()?)))).collect();
        let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
        let home = get("HOME");
        let in_home = |rest: &str| home.as_ref().map(|h| std::path::Path::new(h).join(rest));
        let named = |var: &str| {
            get(var).map(|p| match (p.strip_prefix("~/"), &home) {
                (Some(rest), Some(h)) => std::path::Path::new(h).join(rest),
                _ => std::path::PathBuf::from(p),
            })
        };
        let files = [
            named("AWS_SHARED_CREDENTIALS_FILE").or_else(|| in_home(".aws/credentials")),
            named("AWS_CONFIG_FILE").or_else(|| in_home(".aws/config")),
            named("AWS_WEB_IDENTITY_TOKEN_FILE"),
            named("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        ];
        let mut preopens: Vec<std::path::PathBuf> =
            files.into_iter().flatten().filter_map(|f| Some(f.parent()?.to_path_buf())).filter(|d| d.is_absolute() && d.is_dir()).collect();
        // IAM Identity Center's token cache, wherever the config file is.
        preopens.extend(in_home(".aws/sso/cache").filter(|d| d.is_absolute() && d.is_dir()));
        preopens.sort();
        preopens.dedup();
        Self { env, preopens, ..Self::default() }
    }
}

pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: crate::sender::Hooks,
    memory: MemoryWatch,
}

/// Enforces `HostOptions::max_memory` and records the largest linear memory the guest asked
/// for: the figure the constant-memory test and the benchmarks report.
#[derive(Default)]
struct MemoryWatch {
    max: Option<usize>,
    peak: usize,
    /// Told of the peak as it grows, for an instance that lives on (a 0.3 service's).
    told: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl wasmtime::ResourceLimiter for MemoryWatch {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if self.max.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        if let Some(told) = &self.told {
            told.fetch_max(desired, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// The engine and the linked, precompiled component: made once per process.
pub struct Runtime {
    engine: Engine,
    pre: wasmtime::component::InstancePre<HostState>,
    generation: Generation,
    /// The backend is the memory one: every store shares one instance (`memory_instance`).
    memory: bool,
    shared: tokio::sync::OnceCell<Arc<tokio::sync::Mutex<Instance>>>,
}

impl Runtime {
    /// The process-wide runtime (compiling the component takes seconds; do it once).
    pub fn shared() -> anyhow::Result<&'static Runtime> {
        static RUNTIME: OnceLock<Runtime> = OnceLock::new();
        if let Some(rt) = RUNTIME.get() {
            return Ok(rt);
        }
        let rt = Runtime::new()?;
        Ok(RUNTIME.get_or_init(|| rt))
    }

    pub fn new() -> anyhow::Result<Self> {
        Self::of(backend(), backend_generation())
    }

    /// The WASI 0.3 build, whatever `STORAGE_BACKEND` says (its own tests), made once per
    /// process.
    pub fn p3() -> anyhow::Result<&'static Runtime> {
        static RUNTIME: OnceLock<Runtime> = OnceLock::new();
        if let Some(rt) = RUNTIME.get() {
            return Ok(rt);
        }
        let rt = Runtime::of(P3_COMPONENT, Generation::P3)?;
        Ok(RUNTIME.get_or_init(|| rt))
    }

    /// A runtime for `component`, which exports the storage interface of `generation`.
    pub fn of(component: &[u8], generation: Generation) -> anyhow::Result<Self> {
        let mut config = EngineConfig::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let memory = component.as_ptr() == MEMORY_COMPONENT.as_ptr();
        let component = load_precompiled(&engine, component)?;
        // WASI 0.2 and 0.3: the 0.3 build imports both (Rust's std is 0.2).
        let linker: Linker<HostState> = crate::p3::linker(&engine)?;
        let pre = linker.instantiate_pre(&component)?;
        Ok(Self { engine, pre, generation, memory, shared: tokio::sync::OnceCell::new() })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The one instance of the memory backend. Made with default options: one test's
    /// memory cap must not bind the others (nothing else in the options concerns it).
    async fn memory_instance(&self) -> anyhow::Result<Arc<tokio::sync::Mutex<Instance>>> {
        let instance = self
            .shared
            .get_or_try_init(|| async {
                let (store, api) = self.instantiate(&HostOptions::default()).await?;
                anyhow::Ok(Arc::new(tokio::sync::Mutex::new(Instance { store, api })))
            })
            .await?;
        Ok(instance.clone())
    }

    async fn instantiate(&self, options: &HostOptions) -> anyhow::Result<(Store<HostState>, Api)> {
        let mut store = Store::new(&self.engine, HostState::new(options)?);
        store.limiter(HostState::limiter);
        let instance = self.pre.instantiate_async(&mut store).await?;
        let api = Api::new(&mut store, instance, self.generation)?;
        Ok((store, api))
    }
}

impl HostState {
    /// What one instance gets: `options`' environment, preopens, sender and memory cap.
    pub fn new(options: &HostOptions) -> anyhow::Result<HostState> {
        let mut wasi = WasiCtx::builder();
        wasi.envs(&options.env);
        for dir in &options.preopens {
            let guest = dir.to_str().ok_or_else(|| anyhow::anyhow!("{} is not UTF-8", dir.display()))?;
            wasi.preopened_dir(dir, guest, wasmtime_wasi::FsPerms::ReadOnly)?;
        }
        for (dir, guest) in &options.writable_dirs {
            wasi.preopened_dir(dir, guest, wasmtime_wasi::FsPerms::ReadWrite)?;
        }
        match &options.command {
            Some(io) => {
                wasi.args(&io.args);
                wasi.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(io.stdin.clone()));
                wasi.stdout(io.stdout.clone());
                wasi.stderr(io.stderr.clone());
            }
            // What a component says on stderr (the file server's diagnostics) reaches the
            // host's: a failure then explains itself.
            None => {
                wasi.inherit_stderr();
            }
        }
        Ok(HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: crate::sender::Hooks {
                insecure: options.insecure_tls,
                stop: options.stop.clone(),
                canned: options.canned.clone(),
                pool: options.connection_pool.map(|idle| crate::sender::Pool::new(idle, options.shaping.map_or(std::time::Duration::ZERO, |s| s.rtt))),
                observer: options.observer.clone(),
                fault: options.fault,
                shaping: options.shaping,
                uploaded: options.uploaded.clone(),
                fault_hits: 0,
            },
            memory: MemoryWatch { max: options.max_memory, peak: 0, told: None },
        })
    }

    /// For `Store::limiter`: enforces the memory cap and records the peak.
    pub fn limiter(&mut self) -> &mut dyn wasmtime::ResourceLimiter {
        &mut self.memory
    }

    /// The largest linear memory the instance asked for.
    pub fn peak_memory(&self) -> usize {
        self.memory.peak
    }

    /// Has the instance's memory peak told to `told` as it grows (it is read while the
    /// instance lives on).
    pub fn tell_peak_memory(&mut self, told: Arc<std::sync::atomic::AtomicUsize>) {
        self.memory.told = Some(told);
    }
}

/// Precompiling costs seconds (minutes unoptimized); the machine code is cached on disk,
/// keyed by the component's hash and the engine's settings.
pub fn load_precompiled(engine: &Engine, wasm: &[u8]) -> anyhow::Result<Component> {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let key = format!("{:x}-{:016x}", Sha256::digest(wasm), engine_hash.finish());
    let dir = cache_dir().join("precompiled");
    let path = dir.join(format!("{key}.cwasm"));
    if path.exists() {
        // SAFETY: the file was written by `precompile_component` of an engine with the same
        // compatibility hash, into our own cache directory.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(_) => drop(std::fs::remove_file(&path)), // stale or torn: rebuild below
        }
    }
    let bytes = engine.precompile_component(wasm).map_err(|e| anyhow::Error::from(e).context("compiling the component"))?;
    if std::fs::create_dir_all(&dir).is_ok() {
        let tmp = dir.join(format!("{key}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, &bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    // SAFETY: the bytes were just produced by this engine.
    Ok(unsafe { Component::deserialize(engine, &bytes)? })
}

/// `$WASM_STORAGES_CACHE`, else `$HOME/.cache/wasm-storages`, else the temp dir.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WASM_STORAGES_CACHE") {
        return dir.into();
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/wasm-storages"),
        None => std::env::temp_dir().join("wasm-storages-cache"),
    }
}

/// Why a call failed: the component's typed error, or the host/runtime failing (a trap).
#[derive(Debug)]
pub enum Failure {
    Storage(Error),
    Host(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Host(e)
    }
}

impl From<wasmtime::Error> for Failure {
    fn from(e: wasmtime::Error) -> Self {
        Failure::Host(e.into())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Storage(e) => write!(f, "{}", describe(e)),
            Failure::Host(e) => write!(f, "host error: {e:#}"),
        }
    }
}

impl std::error::Error for Failure {}

/// One line for a storage error.
pub fn describe(e: &Error) -> String {
    let service = |kind: &str, s: &bindings::exports::wasm_storages::storage::types::ServiceError| {
        let mut line = format!("{kind}: HTTP {}", s.status);
        if !s.code.is_empty() {
            line.push_str(&format!(" {}", s.code));
        }
        if !s.message.is_empty() {
            line.push_str(&format!(": {}", s.message));
        }
        if let Some(id) = &s.request_id {
            line.push_str(&format!(" (request id {id})"));
        }
        line
    };
    match e {
        Error::NotFound(key) => format!("not found: {key}"),
        Error::AccessDenied(s) => service("access denied", s),
        Error::InvalidKey(why) => format!("invalid key: {why}"),
        Error::InvalidConfig(why) => format!("invalid config: {why}"),
        Error::InvalidArgument(why) => format!("invalid argument: {why}"),
        Error::RangeNotSatisfiable(Some(size)) => format!("range not satisfiable: the object is {size} bytes"),
        Error::RangeNotSatisfiable(None) => "range not satisfiable".to_string(),
        Error::Service(s) => service("service error", s),
        Error::Transport(why) => format!("transport error: {why}"),
        Error::Credentials(why) => format!("credentials: {why}"),
        Error::AlreadyExists(key) => format!("already exists: {key}"),
        Error::PreconditionFailed(key) => format!("precondition failed: {key}"),
        Error::NotModified(key) => format!("not modified: {key}"),
        Error::Unsupported(why) => format!("unsupported: {why}"),
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

fn flatten<T>(r: wasmtime::Result<std::result::Result<T, Error>>) -> Result<T> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Storage(e)),
        Err(e) => Err(Failure::Host(e.into())),
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage")
    }
}

/// An opened store: one component instance and its `store` resource.
pub struct Storage {
    /// The instance; shared between the stores opened on the memory backend, whose objects
    /// live in the instance (as they would in an app's), else this store's own.
    inner: Arc<tokio::sync::Mutex<Instance>>,
    handle: ResourceAny,
}

struct Instance {
    store: Store<HostState>,
    api: Api,
}

impl Storage {
    /// Runs `f` with the instance locked for its duration (a store is one instance; the
    /// memory backend's stores share theirs), given the store, the interface and this
    /// store's handle.
    async fn with<T>(&self, f: impl AsyncFnOnce(&mut Store<HostState>, &Api, ResourceAny) -> Result<T>) -> Result<T> {
        let mut guard = self.inner.lock().await;
        let Instance { store, api } = &mut *guard;
        f(store, api, self.handle).await
    }

    /// One call into the component, its two layers of error (the host's trap, the
    /// component's `error`) made one.
    async fn call<T>(&self, f: impl AsyncFnOnce(&mut Store<HostState>, &Api, ResourceAny) -> wasmtime::Result<std::result::Result<T, Error>>) -> Result<T> {
        self.with(async |store, api, handle| flatten(f(store, api, handle).await)).await
    }

    pub async fn open(runtime: &Runtime, host: &HostOptions, config: Config) -> Result<Storage> {
        let inner = match runtime.memory {
            true => runtime.memory_instance().await?,
            false => {
                let (store, api) = runtime.instantiate(host).await?;
                Arc::new(tokio::sync::Mutex::new(Instance { store, api }))
            }
        };
        let handle = {
            let mut guard = inner.lock().await;
            let Instance { store, api } = &mut *guard;
            flatten(api.call(&mut *store, "[static]store.open", (&config,)).await)?
        };
        Ok(Storage { inner, handle })
    }

    pub async fn put(&mut self, key: &str, data: &[u8], options: &PutOptions) -> Result<StoredFile> {
        self.call(async |store, api, handle| api.call(store, "[method]store.put", (handle, key, data, options)).await).await
    }

    /// Uploads everything `reader` yields, streaming: the component reads it through a
    /// wasi:io input-stream (0.2) or a `stream<u8>` (0.3) and never holds more than its
    /// parts in flight.
    pub async fn put_stream(&mut self, key: &str, reader: impl tokio::io::AsyncRead + Send + Sync + 'static, options: &PutOptions) -> Result<StoredFile> {
        self.with(async |store, api, handle| match api.generation {
            Generation::P2 => {
                let stream: wasmtime_wasi::p2::DynInputStream = Box::new(wasmtime_wasi::p2::pipe::AsyncReadStream::new(reader));
                let stream = store.data_mut().table.push(stream).map_err(anyhow::Error::from)?;
                flatten(api.call(store, "[method]store.put-stream", (handle, key, stream, options)).await)
            }
            Generation::P3 => {
                let (stream, end) = crate::api::put_stream_args(&mut *store, reader)?;
                flatten(api.call(store, "[method]store.put-stream", (handle, key, stream, end, options)).await)
            }
        })
        .await
    }

    /// Writes `chunks` through the component's `writer` and finishes it; with `finish`
    /// false, drops it unfinished instead (returning `None`).
    pub async fn put_writer(&mut self, key: &str, chunks: impl IntoIterator<Item = Vec<u8>>, options: &PutOptions, finish: bool) -> Result<Option<StoredFile>> {
        self.with(async |store, iface, handle| {
            let writer: ResourceAny = flatten(iface.call(&mut *store, "[method]store.writer", (handle, key, options)).await)?;
            let result = async {
                for chunk in chunks {
                    flatten::<()>(iface.call(&mut *store, "[method]writer.write", (writer, &chunk)).await)?;
                }
                match (finish, iface.generation) {
                    (true, _) => flatten(iface.call(&mut *store, "[method]writer.finish", (writer,)).await).map(Some),
                    (false, Generation::P2) => Ok(None),
                    // A 0.3 writer dropped unfinished aborts in the background, while the
                    // instance runs: `abort` does it now.
                    (false, Generation::P3) => flatten(iface.call(&mut *store, "[method]writer.abort", (writer,)).await).map(|()| None),
                }
            }
            .await;
            writer.resource_drop_async(&mut *store).await?;
            result
        })
        .await
    }

    pub async fn get_bytes(&mut self, key: &str) -> Result<Vec<u8>> {
        self.call(async |store, api, handle| api.call(store, "[method]store.get-bytes", (handle, key)).await).await
    }

    /// Streams `key` to `sink` chunk by chunk, as the bytes arrive; returns what the
    /// response headers said of the object.
    pub async fn get(&mut self, key: &str, sink: impl FnMut(&[u8]) -> std::io::Result<()>) -> Result<StoredFile> {
        Ok(self.get_range(key, None, sink).await?.0)
    }

    /// Like [`Storage::get`], for `range` of the object; also returns the span served.
    pub async fn get_range(
        &mut self,
        key: &str,
        range: Option<ByteRange>,
        sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(StoredFile, Option<Span>)> {
        self.get_with(key, &crate::get_options(range), sink).await
    }

    /// Like [`Storage::get`], with any `options` (a range, conditions).
    pub async fn get_with(&mut self, key: &str, options: &GetOptions, sink: impl FnMut(&[u8]) -> std::io::Result<()>) -> Result<(StoredFile, Option<Span>)> {
        self.download(key, options, false, |_, _| (), sink).await
    }

    /// Like [`Storage::get`], through the component's checked `read`: a body cut short, too
    /// long, or not matching its checksum or MD5 ETag is an error.
    pub async fn get_checked(&mut self, key: &str, sink: impl FnMut(&[u8]) -> std::io::Result<()>) -> Result<StoredFile> {
        self.get_checked_with(key, &crate::get_options(None), sink).await
    }

    /// Like [`Storage::get_checked`], with any `options` (a parallel download, a version).
    pub async fn get_checked_with(&mut self, key: &str, options: &GetOptions, sink: impl FnMut(&[u8]) -> std::io::Result<()>) -> Result<StoredFile> {
        Ok(self.download(key, options, true, |_, _| (), sink).await?.0)
    }

    /// Downloads `key` into `sink`: through the component's checked `read` when `checked`
    /// (a whole range at a time for a parallel download), else as the stream it hands over.
    /// `started` is told what the response said (size, span) before the first byte.
    pub async fn download(
        &mut self,
        key: &str,
        options: &GetOptions,
        checked: bool,
        started: impl FnOnce(&StoredFile, Option<Span>),
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(StoredFile, Option<Span>)> {
        self.with(async |store, iface, handle| {
            let body = flatten(iface.call(&mut *store, "[method]store.get", (handle, key, options)).await)?;
            let result = async {
                let info = iface.call(&mut *store, "[method]object-body.info", (body,)).await?;
                let span = iface.call(&mut *store, "[method]object-body.range", (body,)).await?;
                started(&info, span);
                if checked {
                    // A part's worth per call: a parallel download hands over whole ranges.
                    return read_checked(&mut *store, iface, body, 8 << 20, &mut sink).await.map(|()| (info, span));
                }
                if iface.generation == Generation::P3 {
                    let stream: StreamReader<u8> = flatten(iface.call(&mut *store, "[method]object-body.stream", (body,)).await)?;
                    return read_guest_stream(&mut *store, stream, &mut sink).await.map(|()| (info, span));
                }
                let stream = match flatten(iface.call(&mut *store, "[method]object-body.stream", (body,)).await) {
                    Ok(stream) => stream,
                    // A backend with no host stream to hand over (the memory one): read instead.
                    Err(Failure::Storage(Error::Unsupported(_))) => {
                        return read_checked(&mut *store, iface, body, 1 << 20, &mut sink).await.map(|()| (info, span));
                    }
                    Err(e) => return Err(e),
                };
                let copied = read_stream(&mut *store, &stream, &mut sink).await;
                store.data_mut().table.delete(stream).map_err(anyhow::Error::from)?;
                copied?;
                Ok((info, span))
            }
            .await;
            body.resource_drop_async(&mut *store).await?;
            result
        })
        .await
    }

    /// Reads `key` with `read(max)` until the end or an error, then calls `read` once more:
    /// what the body gave, and what it says after it ended.
    pub async fn read_then_again(&mut self, key: &str, max: u64) -> Result<(Result<Vec<u8>>, Result<Vec<u8>>)> {
        self.with(async |store, iface, handle| {
            let body = flatten(iface.call(&mut *store, "[method]store.get", (handle, key, &crate::get_options(None))).await)?;
            let mut data = Vec::new();
            let first = read_checked(&mut *store, iface, body, max, &mut |c: &[u8]| {
                let _: () = data.extend_from_slice(c);
                Ok(())
            })
            .await
            .map(|()| data);
            let again = flatten(iface.call(&mut *store, "[method]object-body.read", (body, max)).await);
            body.resource_drop_async(&mut *store).await?;
            Ok((first, again))
        })
        .await
    }

    pub async fn info(&mut self, key: &str) -> Result<StoredFile> {
        self.info_with(key, &InfoOptions { conditions: crate::no_conditions(), version_id: None }).await
    }

    pub async fn info_with(&mut self, key: &str, options: &InfoOptions) -> Result<StoredFile> {
        self.call(async |store, api, handle| api.call(store, "[method]store.info", (handle, key, options)).await).await
    }

    pub async fn exists(&mut self, key: &str) -> Result<bool> {
        self.call(async |store, api, handle| api.call(store, "[method]store.exists", (handle, key)).await).await
    }

    pub async fn delete(&mut self, key: &str) -> Result<()> {
        self.call(async |store, api, handle| api.call(store, "[method]store.delete", (handle, key)).await).await
    }

    /// The keys not deleted, with why.
    pub async fn delete_many(&mut self, keys: &[String]) -> Result<Vec<(String, Error)>> {
        self.call(async |store, api, handle| api.call(store, "[method]store.delete-many", (handle, keys)).await).await
    }

    /// Calls `on_page` with each page of the listing.
    pub async fn list_pages(&mut self, prefix: &str, options: &ListOptions, mut on_page: impl FnMut(Vec<Entry>) -> std::io::Result<()>) -> Result<()> {
        self.with(async |store, iface, handle| {
            let listing: ResourceAny = flatten(iface.call(&mut *store, "[method]store.list", (handle, prefix, options)).await)?;
            let result = async {
                while let Some(page) = flatten(iface.call(&mut *store, "[method]listing.next-page", (listing,)).await)? {
                    on_page(page).map_err(|e| Failure::Host(e.into()))?;
                }
                Ok(())
            }
            .await;
            listing.resource_drop_async(&mut *store).await?;
            result
        })
        .await
    }

    /// `next-page` called `calls` times on one listing, whatever each call answers: the
    /// keys of each page (`None`: the end), or its error.
    pub async fn next_pages(&mut self, prefix: &str, calls: usize) -> Result<Vec<Result<Option<Vec<String>>>>> {
        self.with(async |store, iface, handle| {
            let listing: ResourceAny = flatten(iface.call(&mut *store, "[method]store.list", (handle, prefix, &crate::list_options(None))).await)?;
            let mut answers = Vec::new();
            for _ in 0..calls {
                let page: Result<Option<Vec<Entry>>> = flatten(iface.call(&mut *store, "[method]listing.next-page", (listing,)).await);
                answers.push(page.map(|p| p.map(|entries| entries.into_iter().map(entry_name).collect())));
            }
            listing.resource_drop_async(&mut *store).await?;
            Ok(answers)
        })
        .await
    }

    /// The files under `prefix` (no delimiter: every key).
    pub async fn list(&mut self, prefix: &str, limit: Option<u32>) -> Result<Vec<StoredFile>> {
        let entries = self.list_entries(prefix, &crate::list_options(limit)).await?;
        Ok(entries.into_iter().filter_map(|e| if let Entry::File(f) = e { Some(f) } else { None }).collect())
    }

    /// Every version (and folder) of a ListObjectVersions listing.
    pub async fn list_versions(&mut self, prefix: &str, options: &ListOptions) -> Result<Vec<Entry>> {
        self.with(async |store, iface, handle| {
            let listing: ResourceAny = flatten(iface.call(&mut *store, "[method]store.list-versions", (handle, prefix, options)).await)?;
            let mut all = Vec::new();
            let result = async {
                while let Some(page) = flatten::<Option<Vec<Entry>>>(iface.call(&mut *store, "[method]listing.next-page", (listing,)).await)? {
                    all.extend(page);
                }
                Ok(())
            }
            .await;
            listing.resource_drop_async(&mut *store).await?;
            result.map(|()| all)
        })
        .await
    }

    pub async fn delete_version(&mut self, key: &str, version_id: &str) -> Result<()> {
        self.call(async |store, api, handle| api.call(store, "[method]store.delete-version", (handle, key, version_id)).await).await
    }

    /// Every entry of a listing, files and folders.
    pub async fn list_entries(&mut self, prefix: &str, options: &ListOptions) -> Result<Vec<Entry>> {
        let mut all = Vec::new();
        self.list_pages(prefix, options, |page| {
            all.extend(page);
            Ok(())
        })
        .await?;
        Ok(all)
    }

    /// A presigned GET URL.
    pub async fn url(&mut self, key: &str, expires_in: Option<u64>) -> Result<String> {
        self.url_with(key, UrlOptions { expires_in, ..crate::url_options() }).await
    }

    pub async fn presigned_put_url(&mut self, key: &str, expires_in: Option<u64>, content_type: Option<&str>) -> Result<String> {
        self.url_with(key, UrlOptions { method: Some(PresignMethod::Put), expires_in, content_type: content_type.map(str::to_string), ..crate::url_options() })
            .await
    }

    pub async fn url_with(&mut self, key: &str, options: UrlOptions) -> Result<String> {
        self.call(async |store, api, handle| api.call(store, "[method]store.url", (handle, key, &options)).await).await
    }

    pub async fn copy(&mut self, source: &str, destination: &str) -> Result<StoredFile> {
        self.copy_with(source, destination, &CopyOptions { replace: None }).await
    }

    pub async fn copy_with(&mut self, source: &str, destination: &str, options: &CopyOptions) -> Result<StoredFile> {
        self.call(async |store, api, handle| api.call(store, "[method]store.copy", (handle, source, destination, options)).await).await
    }

    pub async fn move_(&mut self, source: &str, destination: &str) -> Result<StoredFile> {
        self.call(async |store, api, handle| api.call(store, "[method]store.move", (handle, source, destination)).await).await
    }

    pub async fn pending_uploads(&mut self, prefix: &str) -> Result<Vec<PendingUpload>> {
        self.call(async |store, api, handle| api.call(store, "[method]store.pending-uploads", (handle, prefix)).await).await
    }

    pub async fn abort_upload(&mut self, key: &str, upload_id: &str) -> Result<()> {
        self.call(async |store, api, handle| api.call(store, "[method]store.abort-upload", (handle, key, upload_id)).await).await
    }

    pub async fn create_bucket(&mut self) -> Result<()> {
        self.call(async |store, api, handle| api.call(store, "[method]store.create-bucket", (handle,)).await).await
    }

    pub async fn delete_bucket(&mut self) -> Result<()> {
        self.call(async |store, api, handle| api.call(store, "[method]store.delete-bucket", (handle,)).await).await
    }

    /// Whole objects (`get-bytes`) from this one instance: all at once on the WASI 0.3 build
    /// (its functions are async), one after another on the 0.2 build (its exports block).
    pub async fn get_bytes_many(&mut self, keys: &[String]) -> Result<Vec<Result<Vec<u8>>>> {
        self.with(async |store, api, handle| match api.generation {
            Generation::P2 => {
                let mut all = Vec::new();
                for key in keys {
                    all.push(flatten(api.call(&mut *store, "[method]store.get-bytes", (handle, key.as_str())).await));
                }
                Ok(all)
            }
            Generation::P3 => {
                let func = api.typed::<(ResourceAny, String), (std::result::Result<Vec<u8>, Error>,)>(&mut *store, "[method]store.get-bytes")?;
                let all = store
                    .run_concurrent(async |access| futures::future::join_all(keys.iter().map(|key| func.call_concurrent(access, (handle, key.clone())))).await)
                    .await?;
                Ok(all.into_iter().map(|r| flatten(r.map(|(v,)| v))).collect())
            }
        })
        .await
    }

    /// Streams `items` to their keys (`put-stream`) from this one instance: all at once on
    /// the WASI 0.3 build, one after another on the 0.2 build.
    pub async fn put_stream_many(
        &mut self,
        items: Vec<(String, Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>)>,
        options: &PutOptions,
    ) -> Result<Vec<Result<StoredFile>>> {
        let generation = self.with(async |_, api, _| Ok(api.generation)).await?;
        if generation == Generation::P2 {
            let mut all = Vec::new();
            for (key, reader) in items {
                all.push(self.put_stream(&key, reader, options).await);
            }
            return Ok(all);
        }
        self.with(async |store, api, handle| {
            type Put = (ResourceAny, String, StreamReader<u8>, crate::api::End, PutOptions);
            let func = api.typed::<Put, (std::result::Result<StoredFile, Error>,)>(&mut *store, "[method]store.put-stream")?;
            let mut calls = Vec::new();
            for (key, reader) in items {
                let (stream, end) = crate::api::put_stream_args(&mut *store, reader)?;
                calls.push((handle, key, stream, end, options.clone()));
            }
            let all =
                store.run_concurrent(async |access| futures::future::join_all(calls.into_iter().map(|call| func.call_concurrent(access, call))).await).await?;
            Ok(all.into_iter().map(|r| flatten(r.map(|(v,)| v))).collect())
        })
        .await
    }

    /// Downloads `key` through a WASI 0.3 component's `checked-stream`: the bytes the stream
    /// carried, and the verdict its future gave once it ended.
    pub async fn get_checked_stream(&mut self, key: &str) -> Result<(Vec<u8>, std::result::Result<(), Error>)> {
        self.with(async |store, api, handle| {
            let body: ResourceAny = flatten(api.call(&mut *store, "[method]store.get", (handle, key, &crate::get_options(None))).await)?;
            type Checked = (StreamReader<u8>, FutureReader<std::result::Result<(), Error>>);
            let taken: Result<Checked> = flatten(api.call(&mut *store, "[method]object-body.checked-stream", (body,)).await);
            let result = async {
                let (stream, verdict) = taken?;
                let mut chunks = crate::api::stream_into_channel(&mut *store, stream)?;
                let verdict = crate::api::future_into_channel(&mut *store, verdict)?;
                store
                    .run_concurrent(async |_| {
                        let mut bytes = Vec::new();
                        while let Some(chunk) = chunks.recv().await {
                            bytes.extend_from_slice(&chunk);
                        }
                        let verdict = verdict.await.map_err(|_| Failure::Host(anyhow::anyhow!("the verdict never came")))?;
                        Ok((bytes, verdict))
                    })
                    .await?
            }
            .await;
            body.resource_drop_async(&mut *store).await?;
            result
        })
        .await
    }

    /// The most linear memory the instance has had, in bytes.
    pub fn peak_memory(&self) -> usize {
        // Only ever asked between calls, when nothing holds the instance.
        let guard = self.inner.try_lock().expect("peak_memory while a call is running");
        guard.store.data().memory.peak
    }

    /// Drops the store resource (running the component's destructor) and the instance.
    pub async fn close(self) -> Result<()> {
        self.with(async |store, _, handle| Ok(handle.resource_drop_async(store).await?)).await
    }
}

/// Reads `body` through the component's checked `read`, `max` bytes at a time, into `sink`
/// until the end (every check passed) or an error.
async fn read_checked(
    store: &mut Store<HostState>,
    iface: &Api,
    body: ResourceAny,
    max: u64,
    sink: &mut impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<()> {
    loop {
        let chunk: Vec<u8> = flatten(iface.call(&mut *store, "[method]object-body.read", (body, max)).await)?;
        if chunk.is_empty() {
            return Ok(());
        }
        sink(&chunk).map_err(|e| Failure::Host(anyhow::Error::from(e).context("writing the download")))?;
    }
}

/// Reads a `stream<u8>` a 0.3 component handed over, until it ends (the component's tasks
/// move meanwhile).
async fn read_guest_stream(store: &mut Store<HostState>, stream: StreamReader<u8>, sink: &mut impl FnMut(&[u8]) -> std::io::Result<()>) -> Result<()> {
    let mut chunks = crate::api::stream_into_channel(&mut *store, stream)?;
    store
        .run_concurrent(async |_| {
            while let Some(chunk) = chunks.recv().await {
                sink(&chunk).map_err(|e| Failure::Host(anyhow::Error::from(e).context("writing the download")))?;
            }
            Ok(())
        })
        .await?
}

/// Reads a wasi:io input-stream the component handed over, until it closes.
async fn read_stream(
    store: &mut Store<HostState>,
    stream: &Resource<wasmtime_wasi::p2::DynInputStream>,
    sink: &mut impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<()> {
    use wasmtime_wasi::p2::StreamError;
    loop {
        let s = store.data_mut().table.get_mut(stream).map_err(anyhow::Error::from)?;
        match s.read(256 * 1024) {
            Ok(bytes) if bytes.is_empty() => s.ready().await,
            Ok(bytes) => sink(&bytes).map_err(|e| Failure::Host(anyhow::Error::from(e).context("writing the download")))?,
            Err(StreamError::Closed) => return Ok(()),
            Err(StreamError::LastOperationFailed(e)) => return Err(Failure::Storage(Error::Transport(format!("download failed: {e:#}")))),
            Err(StreamError::Trap(e)) => return Err(Failure::Host(e.into())),
        }
    }
}

/// A listing entry's name: a file's key, or a folder's prefix.
pub fn entry_name(entry: Entry) -> String {
    match entry {
        Entry::File(file) => file.key,
        Entry::Folder(folder) => folder,
        Entry::Version(version) => version.key,
    }
}
