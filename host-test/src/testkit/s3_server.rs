//! The embedded S3 server: s3s + s3s-fs as libraries, on 127.0.0.1, SigV4 and Content-MD5
//! checked (see `strict_fs`), data in a directory (a temp dir unless given). What tests, the demo and `serve-s3` run against.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;

pub const ACCESS_KEY: &str = "wasm-storages-test-key";
pub const SECRET_KEY: &str = "wasm-storages-test-secret-0123456789";
pub const BUCKET: &str = "wasm-storages";
pub const REGION: &str = "us-east-1";

#[derive(Default)]
pub struct ServerOptions {
    /// 0 picks a free port.
    pub port: u16,
    /// Where objects live; a fresh temp dir (removed on drop) when unset.
    pub dir: Option<PathBuf>,
    /// Serve https with a fresh self-signed certificate (for `verify-ssl` tests).
    pub tls: bool,
    /// The keys the server accepts besides [`ACCESS_KEY`]; shared with whoever issues
    /// temporary credentials (the stand-ins in `credential_servers`).
    pub keys: Option<KeyRing>,
    /// Ignore `If-None-Match` / `If-Match`, as some S3-compatible services do.
    pub ignore_conditions: bool,
    /// The bucket made at start ([`BUCKET`] when unset). Others are made by CreateBucket;
    /// a request to any other answers `NoSuchBucket`, as S3 does.
    pub bucket: Option<String>,
}

/// Access keys the server accepts, added and revoked while it runs.
#[derive(Clone, Default)]
pub struct KeyRing(Arc<std::sync::Mutex<std::collections::HashMap<String, (String, bool)>>>);

impl KeyRing {
    pub fn add(&self, access_key: &str, secret: &str) {
        self.0.lock().unwrap().insert(access_key.into(), (secret.into(), false));
    }

    /// The secret of `access_key`, if the ring knows it.
    pub fn secret(&self, access_key: &str) -> Option<String> {
        if access_key == ACCESS_KEY {
            return Some(SECRET_KEY.into());
        }
        self.0.lock().unwrap().get(access_key).map(|(secret, _)| secret.clone())
    }

    /// From now on requests signed with `access_key` are answered `ExpiredToken`.
    pub fn expire(&self, access_key: &str) {
        if let Some(entry) = self.0.lock().unwrap().get_mut(access_key) {
            entry.1 = true;
        }
    }
}

#[async_trait::async_trait]
impl s3s::auth::S3Auth for KeyRing {
    async fn get_secret_key(&self, access_key: &str) -> s3s::S3Result<s3s::auth::SecretKey> {
        if access_key == ACCESS_KEY {
            return Ok(SECRET_KEY.into());
        }
        match self.0.lock().unwrap().get(access_key) {
            Some((_, true)) => Err(s3s::s3_error!(ExpiredToken, "The provided token has expired.")),
            Some((secret, false)) => Ok(secret.as_str().into()),
            None => Err(s3s::s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")),
        }
    }
}

pub struct EmbeddedS3 {
    pub endpoint: String,
    pub dir: PathBuf,
    /// The bucket made at start.
    pub bucket: String,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
    _temp: Option<tempfile::TempDir>,
}

impl EmbeddedS3 {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(ServerOptions::default()).await
    }

    pub async fn start_with(options: ServerOptions) -> anyhow::Result<Self> {
        let (dir, temp) = match options.dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::Builder::new().prefix("wasm-storages-s3-").tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let bucket = options.bucket.unwrap_or_else(|| BUCKET.to_string());
        if !s3s::path::check_bucket_name(&bucket) {
            return Err(anyhow!("{bucket:?} is not a valid S3 bucket name"));
        }
        std::fs::create_dir_all(dir.join(&bucket)).with_context(|| format!("creating {}", dir.display()))?;
        let fs = s3s_fs::FileSystem::new(&dir).map_err(|e| anyhow!("s3s-fs on {}: {e:?}", dir.display()))?;
        let service = {
            let mut builder =
                S3ServiceBuilder::new(crate::testkit::strict_fs::StrictFs { fs, root: dir.clone(), ignore_conditions: options.ignore_conditions });
            match options.keys {
                Some(keys) => builder.set_auth(keys),
                None => builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY)),
            }
            builder.build()
        };
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await.with_context(|| format!("binding 127.0.0.1:{}", options.port))?;
        let addr = listener.local_addr()?;
        let acceptor = if options.tls { Some(self_signed_acceptor()?) } else { None };
        let scheme = if options.tls { "https" } else { "http" };
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = connections.clone();

        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // s3s-fs writes headers and body separately; with Nagle on, a reused
                // connection stalls every small response on the client's delayed ACK.
                let _ = socket.set_nodelay(true);
                let service = service.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let builder = ConnBuilder::new(TokioExecutor::new());
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(socket).await {
                                let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(socket), service).await;
                        }
                    }
                });
            }
        });
        Ok(Self { endpoint: format!("{scheme}://{addr}"), dir, bucket, connections, task, _temp: temp })
    }

    /// A store config for this server: its bucket, credentials and endpoint.
    pub fn config(&self, prefix: &str) -> crate::Config {
        let mut config = crate::config_for(&self.bucket);
        config.region = Some(REGION.into());
        config.endpoint_url = Some(self.endpoint.clone());
        config.access_key_id = Some(ACCESS_KEY.into());
        config.secret_access_key = Some(SECRET_KEY.into());
        config.prefix = (!prefix.is_empty()).then(|| prefix.to_string());
        config
    }

    /// The environment that points the AWS credential chain (and so the component) at
    /// this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [("AWS_ENDPOINT_URL", self.endpoint.as_str()), ("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY), ("AWS_REGION", REGION)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn self_signed_acceptor() -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
