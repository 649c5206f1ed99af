//! The command line: arguments (clap) and what each command does through the component.

mod demo;
mod interrupt;
mod local;
mod output;
mod progress;
mod serve;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use host_test::{
    AddressingStyle, ByteRange, Config, Entry, Error, GetOptions, HostOptions, InfoOptions, ListOptions, PresignMethod, PutOptions, Runtime, Span, Storage,
    UploadChecksum, UrlOptions,
};
use serde_json::json;

use interrupt::Interrupt;
use output::{Problem, fail, file_json, json_line, local};
use progress::{Counted, Progress};

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
    /// How the server checks uploads: crc64nvme (default; content-md5 for B2, Linode,
    /// Spaces and Wasabi endpoints), crc32c, content-md5, signed-sha256, or none (files are
    /// then spliced into the request, never copied through the component)
    #[arg(long, global = true, value_parser = ["crc64nvme", "crc32c", "content-md5", "signed-sha256", "none"])]
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
        /// A tag as name=value (repeatable, at most 10)
        #[arg(long = "tag", value_parser = parse_meta)]
        tags: Vec<(String, String)>,
        /// Cache-Control to serve the object with, e.g. max-age=3600
        #[arg(long)]
        cache_control: Option<String>,
        /// Content-Disposition, e.g. 'attachment; filename="report.pdf"'
        #[arg(long)]
        content_disposition: Option<String>,
        /// Content-Encoding, e.g. gzip
        #[arg(long)]
        content_encoding: Option<String>,
        /// Content-Language, e.g. en-GB
        #[arg(long)]
        content_language: Option<String>,
        /// Storage class, e.g. STANDARD_IA
        #[arg(long)]
        storage_class: Option<String>,
    },
    /// Download KEY to FILE (default: stdout)
    Get {
        key: String,
        file: Option<String>,
        /// Only these bytes: START-END (inclusive, as in HTTP), START- or -LAST_N
        // Parsed by the command, so that a bad range is a one-line `invalid argument`.
        #[arg(long, allow_hyphen_values = true)]
        range: Option<String>,
        /// One GET streamed straight to FILE, unchecked by the component (default: an
        /// object larger than a part comes in part-size ranges, several at once, checked)
        #[arg(long)]
        single: bool,
    },
    /// Print KEY's size, type, ETag, date, metadata and attributes as JSON
    Info {
        key: String,
        /// That version of KEY (in a bucket that keeps versions)
        #[arg(long)]
        version_id: Option<String>,
    },
    /// Exit 0 if KEY exists, 3 if not
    Exists { key: String },
    /// List files under PREFIX, one JSON object per line
    Ls {
        // Not named `prefix`: that id is the global --prefix.
        #[arg(value_name = "PREFIX")]
        list_prefix: Option<String>,
        /// At most this many entries
        #[arg(long)]
        limit: Option<u32>,
        /// Group keys into folders at this separator (usually /): a folder is listed once, as {"folder": "a/b/"}
        #[arg(long)]
        delimiter: Option<String>,
        /// Only keys after this one
        #[arg(long)]
        start_after: Option<String>,
        /// Every version and delete marker (ListObjectVersions), newest first for each key
        #[arg(long)]
        versions: bool,
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
    /// List the multipart uploads under PREFIX that were started and never completed or
    /// aborted (their parts cost storage), one JSON object per line
    PendingUploads {
        #[arg(value_name = "PREFIX")]
        uploads_prefix: Option<String>,
    },
    /// Abort the pending multipart upload UPLOAD_ID of KEY, deleting its parts
    AbortUpload { key: String, upload_id: String },
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
    /// Run the embedded S3 server in the foreground (its bucket: --bucket, else
    /// "wasm-storages")
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
        /// Start the embedded S3 server and point the component at it: AWS_ENDPOINT_URL,
        /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and S3_BUCKET (printed; -e
        /// overrides any of them)
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
        /// Rounds of the side-by-side transfers (the clients' order alternates)
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Size of the transfers over the simulated wide-area path, in MiB
        #[arg(long, default_value_t = 128)]
        wan_mib: u64,
    },
}

/// `START-END` (inclusive), `START-` or `-N`, as in HTTP's Range header; a range that
/// can't be is the same typed error the component gives (`invalid-argument`).
fn parse_range(s: &str) -> Result<ByteRange, Problem> {
    parse_range_text(s).map_err(|why| Error::InvalidArgument(format!("--range {why}")).into())
}

fn parse_range_text(s: &str) -> Result<ByteRange, String> {
    let bad = || format!("expected START-END, START- or -N, got {s:?}");
    let (start, end) = s.split_once('-').ok_or_else(bad)?;
    let number = |t: &str| t.parse::<u64>().map_err(|_| bad());
    match (start.is_empty(), end.is_empty()) {
        (true, false) => Ok(ByteRange::Last(number(end)?)),
        (false, true) => Ok(ByteRange::StartingAt(number(start)?)),
        (false, false) => {
            let (start, end) = (number(start)?, number(end)?);
            if end < start {
                return Err(format!("{s:?} ends before it starts: START-END takes START <= END (both included)"));
            }
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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&Problem::from(anyhow::Error::from(e))),
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(problem) => fail(&problem),
    };
    // Without waiting for a read of stdin that may never return (an interrupted `put -`).
    runtime.shutdown_background();
    code
}

/// The store the command works on; with `interrupt`, the host stops sending data once it
/// fires.
async fn open(cli: &Cli, interrupt: Option<&Interrupt>) -> Result<Storage, Problem> {
    let config = config_from_cli(cli)?;
    let mut host = HostOptions::from_process_env();
    host.stop = interrupt.map(Interrupt::stop);
    host.insecure_tls = cli.no_verify_ssl;
    host.connection_pool = (!cli.no_keepalive).then_some(config.max_pool_connections.unwrap_or(10) as usize);
    Ok(Storage::open(Runtime::shared()?, &host, config).await?)
}

fn config_from_cli(cli: &Cli) -> Result<Config, Problem> {
    let Some(bucket) = cli.bucket.clone() else {
        return Err(Error::InvalidConfig("no bucket: pass --bucket or set S3_BUCKET".into()).into());
    };
    let mut config = host_test::config_for(&bucket);
    config.region = cli.region.clone();
    config.endpoint_url = cli.endpoint.clone();
    config.prefix = cli.prefix.clone();
    config.verify_ssl = Some(!cli.no_verify_ssl);
    config.addressing = cli.path_style.then_some(AddressingStyle::Path);
    config.upload_checksum = cli.upload_checksum.as_deref().map(|c| match c {
        "crc64nvme" => UploadChecksum::Crc64nvme,
        "crc32c" => UploadChecksum::Crc32c,
        "signed-sha256" => UploadChecksum::SignedSha256,
        "none" => UploadChecksum::None,
        _ => UploadChecksum::ContentMd5,
    });
    Ok(config)
}

async fn run(cli: Cli) -> Result<ExitCode, Problem> {
    match &cli.command {
        Command::ServeS3 { port, dir } => return serve::serve_s3(*port, dir.clone(), cli.bucket.clone()).await,
        Command::Demo => return demo::demo().await,
        Command::ServeHttp { component, listen, env, embedded_s3, max_memory_mib, one_instance, dirs } => {
            let host = serve::ServeHost {
                env: env.clone(),
                embedded_s3: *embedded_s3,
                max_memory_mib: *max_memory_mib,
                one_instance: *one_instance,
                insecure: cli.no_verify_ssl,
                dirs: dirs.clone(),
            };
            return serve::serve_http(component, *listen, host).await;
        }
        Command::Bench { size_mib, small_ops, rounds, wan_mib } => {
            let endpoint = match cli.endpoint.is_some() {
                true => Some(config_from_cli(&cli)?),
                false => None,
            };
            host_test::bench::run(host_test::bench::Bench { size_mib: *size_mib, small_ops: *small_ops, rounds: *rounds, wan_mib: *wan_mib, endpoint }).await?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    // Transfers stop cleanly on SIGINT and SIGTERM; everything else ends at once, as usual.
    let interrupt = match &cli.command {
        Command::Put { .. } => Some(Interrupt::listen("the upload may be left pending: `storage-host pending-uploads` lists it, `abort-upload` removes it")),
        Command::Get { .. } => Some(Interrupt::listen("")),
        _ => None,
    };
    let interrupt = interrupt.transpose().map_err(|e| local("signals", e))?;
    let mut storage = open(&cli, interrupt.as_ref()).await?;
    match (cli.command, interrupt) {
        (
            Command::Put { key, file, content_type, meta, tags, cache_control, content_disposition, content_encoding, content_language, storage_class },
            Some(interrupt),
        ) => {
            let attributes = host_test::Attributes { cache_control, content_disposition, content_encoding, content_language, expires: None, storage_class };
            put(&mut storage, &interrupt, &key, &file, PutOptions { content_type, metadata: meta, size: None, condition: None, attributes, tags }).await?
        }
        (Command::Get { key, file, range, single }, Some(interrupt)) => {
            let range = range.as_deref().map(parse_range).transpose()?;
            get(&mut storage, &interrupt, &key, file.as_deref(), range, single).await?
        }
        (command, _) => return other(&mut storage, command).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// The commands that need no cleanup when interrupted.
async fn other(storage: &mut Storage, command: Command) -> Result<ExitCode, Problem> {
    let stdout_failed = |e: std::io::Error| local("stdout", e);
    match command {
        Command::Info { key, version_id } => {
            let options = InfoOptions { conditions: host_test::no_conditions(), version_id };
            println!("{}", json_line(&file_json(&storage.info_with(&key, &options).await?)))
        }
        Command::Exists { key } => {
            let exists = storage.exists(&key).await?;
            println!("{exists}");
            if !exists {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Ls { list_prefix, limit, delimiter, start_after, versions: true } => {
            let options = ListOptions { limit, delimiter, start_after };
            let entries = storage.list_versions(list_prefix.as_deref().unwrap_or(""), &options).await?;
            let mut out = std::io::stdout().lock();
            for entry in &entries {
                let line = match entry {
                    Entry::Version(v) => output::version_json(v),
                    Entry::Folder(folder) => json!({ "folder": folder }),
                    Entry::File(file) => file_json(file),
                };
                writeln!(out, "{}", json_line(&line)).map_err(stdout_failed)?;
            }
        }
        Command::Ls { list_prefix, limit, delimiter, start_after, versions: false } => {
            let mut out = std::io::stdout().lock();
            let options = ListOptions { limit, delimiter, start_after };
            storage
                .list_pages(list_prefix.as_deref().unwrap_or(""), &options, |page| {
                    page.iter().try_for_each(|entry| match entry {
                        Entry::File(file) => writeln!(out, "{}", json_line(&file_json(file))),
                        Entry::Folder(folder) => writeln!(out, "{}", json_line(&json!({ "folder": folder }))),
                        Entry::Version(v) => writeln!(out, "{}", json_line(&output::version_json(v))),
                    })
                })
                .await?;
        }
        Command::Rm { keys } if keys.len() == 1 => storage.delete(&keys[0]).await?,
        Command::Rm { keys } => {
            // One DeleteObjects per 1,000 keys; each key that stays is reported.
            let failed = storage.delete_many(&keys).await?;
            for (key, e) in &failed {
                eprintln!("storage-host: {}", output::storage_line(key, e));
            }
            if !failed.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Cp { source, destination } => println!("{}", json_line(&file_json(&storage.copy(&source, &destination).await?))),
        Command::Mv { source, destination } => println!("{}", json_line(&file_json(&storage.move_(&source, &destination).await?))),
        Command::PendingUploads { uploads_prefix } => {
            let mut out = std::io::stdout().lock();
            for upload in storage.pending_uploads(uploads_prefix.as_deref().unwrap_or("")).await? {
                let initiated = upload.initiated.map(|d| output::rfc3339(d.seconds));
                writeln!(out, "{}", json_line(&json!({"key": upload.key, "upload_id": upload.upload_id, "initiated": initiated}))).map_err(stdout_failed)?;
            }
        }
        Command::AbortUpload { key, upload_id } => storage.abort_upload(&key, &upload_id).await?,
        Command::Url { key, expires, method, content_type } => {
            let method = Some(if method == "put" { PresignMethod::Put } else { PresignMethod::Get });
            println!("{}", storage.url_with(&key, UrlOptions { method, expires_in: expires, content_type, ..host_test::url_options() }).await?)
        }
        Command::Put { .. } | Command::Get { .. } | Command::ServeS3 { .. } | Command::ServeHttp { .. } | Command::Demo | Command::Bench { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Uploads FILE (or stdin for `-`), streaming: the file is never loaded whole, by the host
/// or the component. Interrupted, the component aborts the upload (see `interrupt`).
async fn put(storage: &mut Storage, interrupt: &Interrupt, key: &str, file: &str, mut options: PutOptions) -> Result<(), Problem> {
    let result = if file == "-" {
        storage.put_stream(key, interrupt.reader(tokio::io::stdin()), &options).await
    } else {
        let (reader, size) = local::open_upload(file).await?;
        // A regular file's size is known: with `--upload-checksum none` that lets the host
        // splice it into the request.
        options.size = Some(size);
        let progress = Progress::start("put", Some(size));
        let result = storage.put_stream(key, interrupt.reader(Counted { inner: reader, done: progress.done.clone() }), &options).await;
        progress.finish();
        result
    };
    match (result, interrupt.caught()) {
        (Ok(stored), None) => println!("{}", json_line(&file_json(&stored))),
        (Ok(stored), Some(signal)) => {
            println!("{}", json_line(&file_json(&stored)));
            return Err(Problem::Interrupted(signal, format!("too late: the upload had completed, {key} is stored")));
        }
        // The component failed the upload after its source did: it aborted it, and says so
        // (or says what it could not clean up).
        (Err(e), Some(signal)) => return Err(Problem::Interrupted(signal, format!("the upload was stopped: {e}"))),
        (Err(e), None) => return Err(e.into()),
    }
    Ok(())
}

/// Downloads KEY to FILE (a directory takes KEY's last segment as the name), or to stdout.
/// The file appears whole or not at all: interrupted or failed, nothing is left.
async fn get(storage: &mut Storage, interrupt: &Interrupt, key: &str, file: Option<&str>, range: Option<ByteRange>, single: bool) -> Result<(), Problem> {
    // A whole object comes through the component's checked `read`, in parallel ranges when
    // it is larger than a part; a range, or `--single`, is one GET streamed by the host.
    let parallel = range.is_none() && !single;
    let options = GetOptions { parallel, ..host_test::get_options(range) };
    let Some(dest) = file.filter(|f| *f != "-") else {
        let mut out = std::io::stdout().lock();
        let sink = |chunk: &[u8]| out.write_all(chunk);
        let download = async {
            match parallel {
                true => storage.get_checked_with(key, &options, sink).await.map(drop),
                false => storage.get_with(key, &options, sink).await.map(drop),
            }
        };
        tokio::select! {
            done = download => { done?; }
            signal = interrupt.wait() => return Err(Problem::Interrupted(signal, "the download was stopped".into())),
        }
        return out.flush().map_err(|e| local("stdout", e));
    };
    let path = local::download_path(key, dest)?;
    let mut partial = local::Partial::create(path.clone())?;
    // The size isn't known before the response: the line shows bytes and rate.
    let progress = Progress::start("get", None);
    let sink = |chunk: &[u8]| {
        progress.add(chunk.len());
        partial.write(chunk)
    };
    let download = async {
        match parallel {
            true => storage.get_checked_with(key, &options, sink).await.map(drop),
            false => storage.get_with(key, &options, sink).await.map(drop),
        }
    };
    let done = tokio::select! {
        done = download => done,
        signal = interrupt.wait() => {
            progress.finish();
            return Err(Problem::Interrupted(signal, format!("the download was stopped; {} was not written", path.display())));
        }
    };
    progress.finish();
    done.map_err(|e| match e {
        host_test::Failure::Host(e) if e.downcast_ref::<std::io::Error>().is_some() => Problem::Local(format!("{}: {e:#}", path.display())),
        e => e.into(),
    })?;
    partial.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_http_ranges_and_reversed_ones_are_invalid_arguments() {
        assert!(matches!(parse_range_text("0-8"), Ok(ByteRange::Span(Span { start: 0, end: 9 }))));
        assert!(matches!(parse_range_text("100-"), Ok(ByteRange::StartingAt(100))));
        assert!(matches!(parse_range_text("-8"), Ok(ByteRange::Last(8))));
        assert!(matches!(parse_range_text("5-5"), Ok(ByteRange::Span(Span { start: 5, end: 6 }))));
        for bad in ["10-2", "-", "x-1", "1", "", "1-18446744073709551615"] {
            assert!(matches!(parse_range(bad), Err(Problem::Failure(host_test::Failure::Storage(Error::InvalidArgument(_))))), "{bad:?}");
        }
    }
}
