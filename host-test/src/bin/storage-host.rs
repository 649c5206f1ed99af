//! `storage-host`: every storage operation through the wasm-storages component, from the
//! command line. The host only provides WASI; the component does the S3 work.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use host_test::runtime::describe;
use host_test::s3_server::{self, EmbeddedS3, ServerOptions};
use host_test::{AddressingStyle, ByteRange, Config, Error, Failure, HostOptions, PresignMethod, PutOptions, Runtime, Span, Storage, StoredFile, UploadChecksum, UrlOptions};
use serde_json::json;

#[derive(Parser)]
#[command(name = "storage-host", version, about = "S3 object storage through the wasm-storages component", args_override_self = true)]
struct Cli {
    /// S3-compatible endpoint, e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL, else AWS S3)
    #[arg(long, global = true)]
    endpoint: Option<String>,
    /// Bucket name
    #[arg(long, env = "S3_BUCKET", global = true)]
    bucket: Option<String>,
    /// Region (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)
    #[arg(long, global = true)]
    region: Option<String>,
    /// Key prefix applied to every operation
    #[arg(long, global = true)]
    prefix: Option<String>,
    /// Path-style addressing (endpoint/bucket/key) even for AWS
    #[arg(long, global = true)]
    path_style: bool,
    /// Accept any TLS certificate
    #[arg(long, global = true)]
    no_verify_ssl: bool,
    /// A new connection for every request (default: reuse up to 10)
    #[arg(long, global = true)]
    no_keepalive: bool,
    /// How the server checks uploads: content-md5 (default), signed-sha256, or none (files
    /// are then spliced into the request, never copied through the component)
    #[arg(long, global = true, value_parser = ["content-md5", "signed-sha256", "none"])]
    upload_checksum: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Upload FILE (or stdin for -) to KEY
    Put {
        key: String,
        file: String,
        #[arg(long)]
        content_type: Option<String>,
        /// Metadata as name=value (repeatable)
        #[arg(long = "meta", value_parser = parse_meta)]
        meta: Vec<(String, String)>,
    },
    /// Download KEY to FILE (default: stdout)
    Get {
        key: String,
        file: Option<String>,
        /// Only these bytes: START-END (inclusive, as in HTTP), START- or -LAST_N
        #[arg(long, value_parser = parse_range, allow_hyphen_values = true)]
        range: Option<ByteRange>,
    },
    /// Print KEY's size, type, ETag, date and metadata as JSON
    Info { key: String },
    /// Exit 0 if KEY exists, 3 if not
    Exists { key: String },
    /// List files under PREFIX, one JSON object per line
    Ls {
        // Not named `prefix`: that id is the global --prefix.
        #[arg(value_name = "PREFIX")]
        list_prefix: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Delete KEY... (a missing key is not an error; many keys go 1,000 per request)
    Rm {
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Server-side copy
    Cp { source: String, destination: String },
    /// Copy then delete the source
    Mv { source: String, destination: String },
    /// Print a presigned GET URL for KEY
    Url {
        key: String,
        /// Lifetime in seconds (default: 3600)
        #[arg(long)]
        expires: Option<u64>,
        /// What the URL allows: get or put
        #[arg(long, default_value = "get", value_parser = ["get", "put"])]
        method: String,
        /// For --method put: the Content-Type the uploader must send
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Run the embedded S3 server in the foreground
    ServeS3 {
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Data directory (default: a temp dir, removed on exit)
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Serve a wasi:http component (e.g. the composed file server) on 127.0.0.1, one
    /// instance per request, as `wasmtime serve` does
    ServeHttp {
        component: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Environment for the component, NAME=VALUE (repeatable); the AWS_* variables of
        /// this process are passed too
        #[arg(short = 'e', long = "env", value_parser = parse_meta)]
        env: Vec<(String, String)>,
        /// Start the embedded S3 server and point the component at it (AWS_* variables, and
        /// FILE_SERVER_BUCKET unless given)
        #[arg(long)]
        embedded_s3: bool,
        /// Cap each instance's linear memory at this many MiB
        #[arg(long)]
        max_memory_mib: Option<usize>,
        /// One long-lived instance for every request (one at a time), instead of one per
        /// request: an app composed with the memory backend then remembers its objects
        #[arg(long)]
        one_instance: bool,
        /// A host directory the component may read and write, HOST::GUEST as `wasmtime
        /// --dir` takes it (repeatable): e.g. `--dir /tmp::/tmp` for the blobstore adapter
        #[arg(long = "dir", value_parser = parse_dir)]
        dirs: Vec<(PathBuf, String)>,
    },
    /// Start the embedded server and walk through every operation
    Demo,
    /// Measure throughput, latency, memory and size (embedded server unless --endpoint)
    Bench {
        /// Size of the large transfers, in MiB
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
        /// Number of 1 KiB PUT/GET pairs for the latency figures
        #[arg(long, default_value_t = 200)]
        small_ops: usize,
    },
}

/// `START-END` (inclusive), `START-` or `-N`, as in HTTP's Range header.
fn parse_range(s: &str) -> Result<ByteRange, String> {
    let bad = || format!("expected START-END, START- or -N, got {s:?}");
    let (start, end) = s.split_once('-').ok_or_else(bad)?;
    let number = |t: &str| t.parse::<u64>().map_err(|_| bad());
    match (start.is_empty(), end.is_empty()) {
        (true, false) => Ok(ByteRange::Last(number(end)?)),
        (false, true) => Ok(ByteRange::StartingAt(number(start)?)),
        (false, false) => {
            let (start, end) = (number(start)?, number(end)?);
            Ok(ByteRange::Span(Span { start, end: end.checked_add(1).ok_or_else(bad)? }))
        }
        (true, true) => Err(bad()),
    }
}

fn parse_meta(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("expected name=value, got {s:?}"))
}

/// `HOST::GUEST`, or `DIR` for the same path on both sides.
fn parse_dir(s: &str) -> Result<(PathBuf, String), String> {
    let (host, guest) = s.split_once("::").unwrap_or((s, s));
    match std::path::Path::new(host).is_dir() {
        true => Ok((PathBuf::from(host), guest.to_string())),
        false => Err(format!("{host} is not a directory")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&Failure::Host(e.into())),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(failure) => fail(&failure),
    }
}

/// One line on stderr and the documented exit code.
fn fail(failure: &Failure) -> ExitCode {
    let line = failure.to_string();
    eprintln!("storage-host: {}", line.lines().next().unwrap_or_default());
    ExitCode::from(exit_code(failure))
}

fn exit_code(failure: &Failure) -> u8 {
    match failure {
        Failure::Storage(Error::NotFound(_)) => 3,
        Failure::Storage(Error::InvalidConfig(_) | Error::InvalidKey(_) | Error::InvalidArgument(_) | Error::RangeNotSatisfiable(_)) => 2,
        _ => 1,
    }
}

async fn open(cli: &Cli) -> Result<Storage, Failure> {
    let config = config_from_cli(cli)?;
    let mut host = HostOptions::from_process_env();
    host.insecure_tls = cli.no_verify_ssl;
    host.connection_pool = (!cli.no_keepalive).then_some(config.max_pool_connections.unwrap_or(10) as usize);
    Storage::open(Runtime::shared()?, &host, config).await
}

fn config_from_cli(cli: &Cli) -> Result<Config, Failure> {
    let Some(bucket) = cli.bucket.clone() else {
        return Err(Failure::Storage(Error::InvalidConfig("no bucket: pass --bucket or set S3_BUCKET".into())));
    };
    let mut config = host_test::config_for(&bucket);
    config.region = cli.region.clone();
    config.endpoint_url = cli.endpoint.clone();
    config.prefix = cli.prefix.clone();
    config.verify_ssl = Some(!cli.no_verify_ssl);
    config.addressing = cli.path_style.then_some(AddressingStyle::Path);
    config.upload_checksum = cli.upload_checksum.as_deref().map(|c| match c {
        "signed-sha256" => UploadChecksum::SignedSha256,
        "none" => UploadChecksum::None,
        _ => UploadChecksum::ContentMd5,
    });
    Ok(config)
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let io = |e: std::io::Error| Failure::Host(e.into());
    match &cli.command {
        Command::ServeS3 { port, dir } => return serve_s3(*port, dir.clone()).await,
        Command::Demo => return demo().await,
        Command::ServeHttp { component, listen, env, embedded_s3, max_memory_mib, one_instance, dirs } => {
            let host = ServeHost { env: env.clone(), embedded_s3: *embedded_s3, max_memory_mib: *max_memory_mib, one_instance: *one_instance, insecure: cli.no_verify_ssl, dirs: dirs.clone() };
            return serve_http(component, *listen, host).await;
        }
        Command::Bench { size_mib, small_ops } => {
            let endpoint = match cli.endpoint.is_some() {
                true => Some(config_from_cli(&cli)?),
                false => None,
            };
            host_test::bench::run(host_test::bench::Bench { size_mib: *size_mib, small_ops: *small_ops, endpoint }).await?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let mut storage = open(&cli).await?;
    match cli.command {
        Command::Put { key, file, content_type, meta } => {
            // Streamed: the file is never loaded whole, by the host or the component.
            let mut options = PutOptions { content_type, metadata: meta, size: None, condition: None };
            let stored = if file == "-" {
                storage.put_stream(&key, tokio::io::stdin(), &options).await?
            } else {
                let reader = tokio::fs::File::open(&file).await.map_err(|e| Failure::Host(anyhow::Error::from(e).context(format!("opening {file}"))))?;
                let size = reader.metadata().await.ok().filter(|m| m.is_file()).map(|m| m.len());
                // A regular file's size is known: with `--upload-checksum none` that lets the
                // host splice it into the request.
                options.size = size;
                let progress = Progress::start("put", size);
                let result = storage.put_stream(&key, Counted { inner: reader, done: progress.done.clone() }, &options).await;
                progress.finish();
                result?
            };
            println!("{}", file_json(&stored));
        }
        Command::Get { key, file, range } => match file.as_deref() {
            None | Some("-") => {
                let mut out = std::io::stdout().lock();
                storage.get_range(&key, range, |chunk| out.write_all(chunk)).await?;
                out.flush().map_err(io)?;
            }
            Some(path) => {
                // Written beside the target and renamed when complete: never a partial file.
                let tmp = format!("{path}.part");
                let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
                // The size isn't known before the response: the line shows bytes and rate.
                let progress = Progress::start("get", None);
                let result = storage
                    .get_range(&key, range, |chunk| {
                        progress.add(chunk.len());
                        out.write_all(chunk)
                    })
                    .await;
                progress.finish();
                let result = result.and_then(|_| out.flush().map_err(io));
                drop(out);
                match result {
                    Ok(()) => std::fs::rename(&tmp, path).map_err(io)?,
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e);
                    }
                }
            }
        },
        Command::Info { key } => println!("{}", file_json(&storage.info(&key).await?)),
        Command::Exists { key } => {
            let exists = storage.exists(&key).await?;
            println!("{exists}");
            if !exists {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Ls { list_prefix, limit } => {
            let mut out = std::io::stdout().lock();
            storage
                .list_pages(list_prefix.as_deref().unwrap_or(""), limit, |page| {
                    page.iter().try_for_each(|file| writeln!(out, "{}", file_json(file)))
                })
                .await?;
        }
        Command::Rm { keys } if keys.len() == 1 => storage.delete(&keys[0]).await?,
        Command::Rm { keys } => {
            // One DeleteObjects per 1,000 keys; each key that stays is reported.
            let failed = storage.delete_many(&keys).await?;
            for (key, e) in &failed {
                eprintln!("storage-host: {key}: {}", describe(e));
            }
            if !failed.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Cp { source, destination } => println!("{}", file_json(&storage.copy(&source, &destination).await?)),
        Command::Mv { source, destination } => println!("{}", file_json(&storage.move_(&source, &destination).await?)),
        Command::Url { key, expires, method, content_type } => {
            let method = Some(if method == "put" { PresignMethod::Put } else { PresignMethod::Get });
            println!("{}", storage.url_with(&key, UrlOptions { method, expires_in: expires, content_type }).await?)
        }
        Command::ServeS3 { .. } | Command::ServeHttp { .. } | Command::Demo | Command::Bench { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress line on stderr (bytes, rate, ETA) for transfers of 1 MiB or more, when
/// stderr is a terminal; nothing otherwise.
struct Progress {
    done: Arc<AtomicU64>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(verb: &'static str, total: Option<u64>) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        let show = std::io::stderr().is_terminal() && total.is_none_or(|t| t >= 1 << 20);
        let ticker = show.then(|| {
            let done = done.clone();
            tokio::spawn(async move {
                let start = std::time::Instant::now();
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    let n = done.load(Ordering::Relaxed);
                    let secs = start.elapsed().as_secs_f64();
                    let rate = n as f64 / secs;
                    let mut line = format!("\r{verb} {}", human(n));
                    if let Some(total) = total {
                        let eta = if rate > 0.0 { (total.saturating_sub(n)) as f64 / rate } else { 0.0 };
                        line.push_str(&format!(" / {} ({:.0}%)  ETA {eta:.0}s", human(total), n as f64 * 100.0 / total.max(1) as f64));
                    }
                    line.push_str(&format!("  {}/s   ", human(rate as u64)));
                    eprint!("{line}");
                }
            })
        });
        Progress { done, ticker }
    }

    fn add(&self, n: usize) {
        self.done.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
            // Clear the line: the JSON result (or error) is what stays.
            eprint!("\r\x1b[2K");
        }
    }
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Counts what the component reads from the file, for the progress line.
struct Counted<R> {
    inner: R,
    done: Arc<AtomicU64>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<R> {
    fn poll_read(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        self.done.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        poll
    }
}

fn file_json(file: &StoredFile) -> serde_json::Value {
    let metadata: serde_json::Map<String, serde_json::Value> = file.metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "key": file.key,
        "size": file.size,
        "content_type": file.content_type,
        "etag": file.etag,
        "last_modified": file.last_modified.map(|d| rfc3339(d.seconds)),
        "metadata": metadata,
    })
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (days-to-civil, proleptic Gregorian).
fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let secs = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

async fn serve_s3(port: u16, dir: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let server = EmbeddedS3::start_with(ServerOptions { port, dir, ..Default::default() }).await?;
    println!("embedded S3 server (s3s-fs, SigV4 checked) serving {}", server.dir.display());
    println!("export AWS_ENDPOINT_URL={}", server.endpoint);
    println!("export AWS_ACCESS_KEY_ID={}", s3_server::ACCESS_KEY);
    println!("export AWS_SECRET_ACCESS_KEY={}", s3_server::SECRET_KEY);
    println!("export AWS_REGION={}", s3_server::REGION);
    println!("export S3_BUCKET={}", s3_server::BUCKET);
    println!("(Ctrl-C stops it)");
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c().await.map_err(|e| Failure::Host(e.into()))?;
    Ok(ExitCode::SUCCESS)
}

/// How `serve-http` runs the component.
struct ServeHost {
    env: Vec<(String, String)>,
    embedded_s3: bool,
    max_memory_mib: Option<usize>,
    one_instance: bool,
    insecure: bool,
    dirs: Vec<(PathBuf, String)>,
}

async fn serve_http(component: &std::path::Path, listen: std::net::SocketAddr, how: ServeHost) -> Result<ExitCode, Failure> {
    let wasm = std::fs::read(component).map_err(|e| Failure::Host(anyhow::Error::from(e).context(format!("reading {}", component.display()))))?;
    let mut host = HostOptions::from_process_env();
    host.insecure_tls = how.insecure;
    host.max_memory = how.max_memory_mib.map(|m| m << 20);
    host.writable_dirs = how.dirs.clone();
    let env = &how.env;
    let server = match how.embedded_s3 {
        true => Some(EmbeddedS3::start().await?),
        false => None,
    };
    if let Some(s3) = &server {
        host.env.retain(|(k, _)| !k.starts_with("AWS_"));
        host.env.extend(s3.env());
        if !env.iter().any(|(k, _)| k == "FILE_SERVER_BUCKET") {
            host.env.push(("FILE_SERVER_BUCKET".into(), s3_server::BUCKET.into()));
        }
        println!("embedded S3 server at {} (bucket {:?}), data in {}", s3.endpoint, s3_server::BUCKET, s3.dir.display());
    }
    host.env.extend(env.iter().cloned());
    let http = host_test::http_server::HttpServer::start_with(&wasm, host, listen, how.one_instance).await?;
    println!("serving {} at {} (Ctrl-C stops it)", component.display(), http.url());
    let _ = std::io::stdout().flush();
    tokio::select! {
        _ = http.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(server);
    Ok(ExitCode::SUCCESS)
}

/// The seed's story, end to end against the embedded server.
async fn demo() -> Result<ExitCode, Failure> {
    let server = EmbeddedS3::start().await?;
    println!("1. Started the embedded S3 server at {} (bucket {:?}, SigV4 on)", server.endpoint, s3_server::BUCKET);
    let config = server.config("app-name/uploads/");
    let mut storage = Storage::open(Runtime::shared()?, &HostOptions::default(), config).await?;
    println!("   Opened a store with prefix \"app-name/uploads/\": every key below lives under it.");

    let report = b"Quarterly report\n".repeat(4096);
    let options = PutOptions {
        content_type: Some("text/plain".into()),
        metadata: vec![("original-name".into(), "report.txt".into()), ("uploaded-by".into(), "user-123".into())],
        size: None,
        condition: None,
    };
    let stored = storage.put("drafts/report.txt", &report, &options).await?;
    println!("2. put drafts/report.txt with a content type and metadata:\n   {}", file_json(&stored));

    println!("3. info drafts/report.txt (HEAD):\n   {}", file_json(&storage.info("drafts/report.txt").await?));

    let (mut chunks, mut bytes) = (0, 0);
    let info = storage
        .get("drafts/report.txt", |chunk| {
            chunks += 1;
            bytes += chunk.len();
            Ok(())
        })
        .await?;
    println!("4. Streamed download: {bytes} bytes in {chunks} chunk(s), content type {:?}; matches the upload: {}", info.content_type.unwrap_or_default(), bytes == report.len());

    for name in ["images/photo.jpg", "images/logo.png", "docs/readme.md"] {
        storage.put(name, name.as_bytes(), &PutOptions { content_type: None, metadata: vec![], size: None, condition: None }).await?;
    }
    println!("5. list \"images/\" (keys come back relative to the prefix):");
    for file in storage.list("images/", None).await? {
        println!("   {} ({} bytes)", file.key, file.size);
    }
    let on_disk = server.dir.join(s3_server::BUCKET).join("app-name/uploads/images/photo.jpg");
    println!("   On the server the object is {}: {}", on_disk.display(), on_disk.exists());

    let url = storage.url("drafts/report.txt", Some(900)).await?;
    println!("6. Presigned URL (15 minutes): {}...", &url[..url.find('?').unwrap_or(url.len())]);
    let reply = host_test::http_client::get(&url).await?;
    println!("   A plain HTTP GET of it: HTTP {}, {} bytes", reply.status, reply.body.len());

    let published = storage.copy("drafts/report.txt", "published/report.txt").await?;
    storage.delete("drafts/report.txt").await?;
    println!("7. Published the draft (server-side copy, then delete):\n   {}", file_json(&published));

    match storage.get_bytes("drafts/report.txt").await {
        Err(Failure::Storage(e @ Error::NotFound(_))) => println!("8. The draft is gone: get-bytes gives a typed error: {}", describe(&e)),
        Err(e) => return Err(e),
        Ok(_) => println!("8. Unexpected: the draft is still there"),
    }
    println!("   exists(\"drafts/report.txt\") = {}", storage.exists("drafts/report.txt").await?);
    if std::io::stdout().is_terminal() {
        println!("Done. Try `storage-host serve-s3` and the other commands next.");
    }
    Ok(ExitCode::SUCCESS)
}
