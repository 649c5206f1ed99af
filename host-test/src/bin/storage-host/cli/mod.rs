//! The command line: arguments (clap) and what each command does through the component.

mod address;
mod demo;
mod filters;
mod interrupt;
mod listing;
mod local;
mod many;
mod output;
mod plan;
mod progress;
mod serve;
mod single;
mod transfer;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use host_test::{
    AddressingStyle, ByteRange, Config, Entry, Error, HostOptions, InfoOptions, ListOptions, PresignMethod, PutOptions, Runtime, Span, Storage, UploadChecksum,
    UrlOptions,
};
use serde_json::json;

use address::Remote;
use interrupt::Interrupt;
use output::{Problem, fail, file_json, json_line, local};

#[derive(Parser)]
#[command(
    name = "storage-host",
    version,
    about = "S3 object storage through the wasm-storages component",
    long_about = "S3 object storage through the wasm-storages component: every command runs the component, which signs and sends the S3 requests.\n\nKeys are given as s3://BUCKET/KEY, or bare in the bucket --bucket (or S3_BUCKET) names; cp, mv and sync take local paths too.",
    args_override_self = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// What every command takes: where the bucket is and how to reach it.
#[derive(Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// S3-compatible endpoint, e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL, else AWS S3)
    #[arg(long, visible_alias = "endpoint-url", global = true)]
    endpoint: Option<String>,
    /// Bucket for bare keys (an s3://BUCKET/KEY address names its own)
    #[arg(long, env = "S3_BUCKET", global = true)]
    bucket: Option<String>,
    /// Region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's, else us-east-1)
    #[arg(long, global = true)]
    region: Option<String>,
    /// Profile of the shared AWS config and credentials files (default: AWS_PROFILE, else "default")
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Key prefix under which every key lives (s3:// addresses included)
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
    /// No progress bars and no line per file moved (errors still print)
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
}

/// What `cp`, `mv` and `sync` take besides their paths.
#[derive(Args, Clone)]
struct Transfer {
    /// Only files matching this glob, below the folder copied (repeatable; with --exclude,
    /// the last filter that matches decides)
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Not files matching this glob, below the folder copied, e.g. '*.tmp' or 'logs/*'
    /// (repeatable; `*` crosses `/`)
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Files moved at once, each through its own component instance
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// Print what would be done, do nothing
    #[arg(long)]
    dryrun: bool,
    /// Content type of uploaded files (default: guessed from each file's extension)
    #[arg(long)]
    content_type: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Copy files: local to S3, S3 to local, or S3 to S3 (`aws s3 cp`)
    #[command(after_help = "A destination ending in / (or an existing directory, or .) takes the source's name. \
        - is stdin (upload) or stdout (download). With --recursive, SOURCE is a folder and every file below it is copied below DESTINATION.")]
    Cp {
        /// A local path, - (stdin), or s3://BUCKET/KEY
        source: String,
        /// A local path, - (stdout), or s3://BUCKET/KEY
        destination: String,
        /// Copy every file below the folder SOURCE
        #[arg(long, short = 'r')]
        recursive: bool,
        #[command(flatten)]
        transfer: Transfer,
    },
    /// Move files: as cp, then delete each source once its copy is whole
    Mv {
        /// A local path or s3://BUCKET/KEY
        source: String,
        /// A local path or s3://BUCKET/KEY
        destination: String,
        /// Move every file below the folder SOURCE
        #[arg(long, short = 'r')]
        recursive: bool,
        #[command(flatten)]
        transfer: Transfer,
    },
    /// Delete keys (s3://BUCKET/KEY or bare); a missing key is not an error
    Rm {
        /// Keys, or with --recursive folders
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
        /// Delete every key below each folder (1,000 per request)
        #[arg(long, short = 'r')]
        recursive: bool,
        /// With --recursive: only keys matching this glob below the folder (repeatable)
        #[arg(long, value_name = "GLOB")]
        include: Vec<String>,
        /// With --recursive: not keys matching this glob below the folder (repeatable)
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
        /// Print what would be deleted, delete nothing
        #[arg(long)]
        dryrun: bool,
    },
    /// Make DESTINATION's folder hold what SOURCE's does: copy new and changed files
    #[command(
        after_help = "A file is copied when the destination lacks it, its size differs, or the source is newer (downloads take their object's time, so a second sync copies nothing). \
        Two S3 objects with the same size and ETag are never copied."
    )]
    Sync {
        /// A local directory or s3://BUCKET/FOLDER
        source: String,
        /// A local directory or s3://BUCKET/FOLDER
        destination: String,
        /// Also delete the files in DESTINATION that SOURCE lacks (those the filters choose)
        #[arg(long)]
        delete: bool,
        #[command(flatten)]
        transfer: Transfer,
    },
    /// List folders and files as `aws s3 ls` does (PRE for folders; --json for JSON lines)
    Ls {
        /// s3://BUCKET/PREFIX, or a bare prefix (default: the whole bucket)
        // Not named `prefix`: that id is the global --prefix.
        #[arg(value_name = "PATH")]
        list_prefix: Option<String>,
        /// Every key below PATH, by its whole name, instead of one level with folders
        #[arg(long, short = 'r')]
        recursive: bool,
        /// Sizes in KiB, MiB, GiB
        #[arg(long)]
        human_readable: bool,
        /// Then the number of files and their total size
        #[arg(long)]
        summarize: bool,
        /// One JSON object per line: every key below PATH (folders only with --delimiter)
        #[arg(long)]
        json: bool,
        /// At most this many entries
        #[arg(long)]
        limit: Option<u32>,
        /// With --json: group keys into folders at this separator (usually /), listed as {"folder": "a/b/"}
        #[arg(long)]
        delimiter: Option<String>,
        /// Only keys after this one
        #[arg(long)]
        start_after: Option<String>,
        /// Every version and delete marker (ListObjectVersions), newest first for each key, as JSON lines
        #[arg(long)]
        versions: bool,
    },
    /// Upload FILE (or stdin for -) to KEY, printing what was stored as JSON
    Put {
        /// s3://BUCKET/KEY or a bare key
        key: String,
        /// The file to upload, or - for stdin
        file: String,
        /// Content type (default: guessed from FILE's extension, else application/octet-stream)
        #[arg(long)]
        content_type: Option<String>,
        /// Metadata as name=value (repeatable)
        #[arg(long = "meta", value_parser = parse_meta, value_name = "NAME=VALUE")]
        meta: Vec<(String, String)>,
        /// A tag as name=value (repeatable, at most 10)
        #[arg(long = "tag", value_parser = parse_meta, value_name = "NAME=VALUE")]
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
        /// s3://BUCKET/KEY or a bare key
        key: String,
        /// Where to write (a directory takes KEY's last segment; default or -: stdout)
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
        /// s3://BUCKET/KEY or a bare key
        key: String,
        /// That version of KEY (in a bucket that keeps versions)
        #[arg(long)]
        version_id: Option<String>,
    },
    /// Exit 0 if KEY exists, 3 if not
    Exists {
        /// s3://BUCKET/KEY or a bare key
        key: String,
    },
    /// Print a presigned URL for KEY: a GET anyone can download with, or (--method put) a PUT anyone can upload with
    Url {
        /// s3://BUCKET/KEY or a bare key
        key: String,
        /// Lifetime in seconds (default: 3600, at most 604800)
        #[arg(long)]
        expires: Option<u64>,
        /// What the URL allows: get (download) or put (upload)
        #[arg(long, default_value = "get", value_parser = ["get", "put"])]
        method: String,
        /// For --method put: the Content-Type the uploader must send
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Create the bucket (s3://BUCKET, default: --bucket)
    Mb {
        /// s3://BUCKET
        bucket: Option<String>,
    },
    /// Delete the bucket (s3://BUCKET, default: --bucket); it must be empty unless --force
    Rb {
        /// s3://BUCKET
        bucket: Option<String>,
        /// First delete every object in it and abort its pending uploads
        #[arg(long)]
        force: bool,
    },
    /// List the multipart uploads under PREFIX that were started and never completed or
    /// aborted (their parts cost storage), one JSON object per line
    PendingUploads {
        /// s3://BUCKET/PREFIX or a bare prefix (default: the whole bucket)
        #[arg(value_name = "PREFIX")]
        uploads_prefix: Option<String>,
    },
    /// Abort the pending multipart upload UPLOAD_ID of KEY, deleting its parts
    AbortUpload {
        /// s3://BUCKET/KEY or a bare key
        key: String,
        /// As pending-uploads lists it
        upload_id: String,
    },
    /// Print a shell completion script: `source <(storage-host completions bash)`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Run the embedded S3 server in the foreground (its bucket: --bucket, else
    /// "wasm-storages")
    ServeS3 {
        /// Port on 127.0.0.1 (default: any free one, printed)
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Data directory (default: a temp dir, removed on exit)
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Serve a wasi:http component (e.g. the composed file server) on 127.0.0.1, one
    /// instance per request, as `wasmtime serve` does
    ServeHttp {
        /// The component (.wasm)
        component: PathBuf,
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Environment for the component, NAME=VALUE (repeatable); the AWS_* variables of
        /// this process are passed too
        #[arg(short = 'e', long = "env", value_parser = parse_meta, value_name = "NAME=VALUE")]
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
        #[arg(long = "dir", value_parser = parse_dir, value_name = "HOST::GUEST")]
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
        /// Only the WASI 0.2 build beside the 0.3 build: sizes, in-guest cost, 64 × 1 KiB
        /// GETs and 8 × 64 MiB PUTs from one instance
        #[arg(long)]
        generations: bool,
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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The order of --include and --exclude, which the derived struct loses.
    let filters = matches.subcommand().map(|(_, m)| filters::in_order(m)).unwrap_or_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&Problem::from(anyhow::Error::from(e))),
    };
    let code = match runtime.block_on(run(cli, filters)) {
        Ok(code) => code,
        Err(problem) => fail(&problem),
    };
    // Without waiting for a read of stdin that may never return (an interrupted `put -`).
    runtime.shutdown_background();
    code
}

/// Opens stores on the buckets commands name, with the global options.
#[derive(Clone)]
pub struct Opener {
    global: Global,
}

impl Opener {
    /// `bucket`, or the default one.
    fn bucket<'a>(&'a self, bucket: Option<&'a str>) -> Result<&'a str, Problem> {
        let why = "no bucket: write s3://BUCKET/KEY, pass --bucket or set S3_BUCKET";
        bucket.or(self.global.bucket.as_deref()).ok_or_else(|| Error::InvalidConfig(why.into()).into())
    }

    fn config(&self, bucket: Option<&str>) -> Result<Config, Problem> {
        let g = &self.global;
        let mut config = host_test::config_for(self.bucket(bucket)?);
        config.region = g.region.clone();
        config.endpoint_url = g.endpoint.clone();
        config.prefix = g.prefix.clone();
        config.profile = g.profile.clone();
        config.verify_ssl = Some(!g.no_verify_ssl);
        config.addressing = g.path_style.then_some(AddressingStyle::Path);
        config.upload_checksum = g.upload_checksum.as_deref().map(|c| match c {
            "crc64nvme" => UploadChecksum::Crc64nvme,
            "crc32c" => UploadChecksum::Crc32c,
            "signed-sha256" => UploadChecksum::SignedSha256,
            "none" => UploadChecksum::None,
            _ => UploadChecksum::ContentMd5,
        });
        Ok(config)
    }

    /// A store on `bucket` (default: --bucket): its own component instance. `uploaded`
    /// counts the bytes it sends (progress); with `interrupt`, the host stops sending data
    /// once it fires.
    pub async fn open(&self, bucket: Option<&str>, uploaded: Option<progress::Counter>, interrupt: Option<&Interrupt>) -> Result<Storage, Problem> {
        let config = self.config(bucket)?;
        let mut host = HostOptions::from_process_env();
        host.stop = interrupt.map(Interrupt::stop);
        host.uploaded = uploaded;
        host.insecure_tls = self.global.no_verify_ssl;
        host.connection_pool = (!self.global.no_keepalive).then_some(config.max_pool_connections.unwrap_or(10) as usize);
        Ok(Storage::open(Runtime::shared()?, &host, config).await?)
    }

    /// `s3://bucket/key`.
    pub fn show(&self, remote: &Remote) -> String {
        remote.show(self.global.bucket.as_deref())
    }

    pub fn same_bucket(&self, a: &Remote, b: &Remote) -> bool {
        a.bucket.as_ref().or(self.global.bucket.as_ref()) == b.bucket.as_ref().or(self.global.bucket.as_ref())
    }
}

async fn run(cli: Cli, filters: Vec<(bool, String)>) -> Result<ExitCode, Problem> {
    let opener = Opener { global: cli.global.clone() };
    let quiet = cli.global.quiet;
    match cli.command {
        Command::ServeS3 { port, dir } => serve::serve_s3(port, dir, cli.global.bucket.clone()).await,
        Command::Demo => demo::demo().await,
        Command::ServeHttp { component, listen, env, embedded_s3, max_memory_mib, one_instance, dirs } => {
            let host = serve::ServeHost { env, embedded_s3, max_memory_mib, one_instance, insecure: cli.global.no_verify_ssl, dirs };
            serve::serve_http(&component, listen, host).await
        }
        Command::Bench { size_mib, small_ops, rounds, wan_mib, generations } => {
            let endpoint = match cli.global.endpoint.is_some() {
                true => Some(opener.config(None)?),
                false => None,
            };
            host_test::bench::run(host_test::bench::Bench { size_mib, small_ops, rounds, wan_mib, endpoint, generations }).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "storage-host", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Put { key, file, content_type, meta, tags, cache_control, content_disposition, content_encoding, content_language, storage_class } => {
            let attributes = host_test::Attributes { cache_control, content_disposition, content_encoding, content_language, expires: None, storage_class };
            let options = PutOptions { content_type, metadata: meta, size: None, condition: None, attributes, tags };
            single::put(&opener, quiet, &address::key(&key)?, &file, options, single::Report::Json).await
        }
        Command::Get { key, file, range, single } => {
            let range = range.as_deref().map(parse_range).transpose()?;
            single::get(&opener, quiet, &address::key(&key)?, file.as_deref(), range, single).await
        }
        Command::Cp { source, destination, recursive, transfer } => {
            many::copy(&opener, quiet, &source, &destination, recursive, false, &transfer, &filters).await
        }
        Command::Mv { source, destination, recursive, transfer } => {
            many::copy(&opener, quiet, &source, &destination, recursive, true, &transfer, &filters).await
        }
        Command::Sync { source, destination, delete, transfer } => many::sync(&opener, quiet, &source, &destination, delete, &transfer, &filters).await,
        Command::Rm { keys, recursive: true, dryrun, .. } => many::remove_folders(&opener, quiet, &keys, dryrun, &filters).await,
        Command::Rm { keys, recursive: false, dryrun, .. } => many::remove(&opener, quiet, &keys, dryrun).await,
        Command::Mb { bucket } => many::make_bucket(&opener, bucket.as_deref()).await,
        Command::Rb { bucket, force } => many::remove_bucket(&opener, quiet, bucket.as_deref(), force).await,
        Command::Ls { list_prefix, recursive, human_readable, summarize, json, limit, delimiter, start_after, versions } => {
            let at = address::key(list_prefix.as_deref().unwrap_or(""))?;
            let mut storage = opener.open(at.bucket.as_deref(), None, None).await?;
            let how = Ls { recursive, style: listing::Style { human: human_readable, recursive }, summarize, json, versions };
            ls(&mut storage, &at.key, how, ListOptions { limit, delimiter, start_after }).await
        }
        command => {
            let bucket = match &command {
                Command::Info { key, .. } | Command::Exists { key } | Command::Url { key, .. } | Command::AbortUpload { key, .. } => address::key(key)?.bucket,
                Command::PendingUploads { uploads_prefix: Some(prefix) } => address::key(prefix)?.bucket,
                _ => None,
            };
            let mut storage = opener.open(bucket.as_deref(), None, None).await?;
            other(&mut storage, command).await
        }
    }
}

/// How `ls` shows a listing.
struct Ls {
    recursive: bool,
    style: listing::Style,
    summarize: bool,
    json: bool,
    versions: bool,
}

async fn ls(storage: &mut Storage, prefix: &str, how: Ls, mut options: ListOptions) -> Result<ExitCode, Problem> {
    let stdout_failed = |e: std::io::Error| local("stdout", e);
    let mut out = std::io::stdout().lock();
    if how.versions {
        for entry in &storage.list_versions(prefix, &options).await? {
            let line = match entry {
                Entry::Version(v) => output::version_json(v),
                Entry::Folder(folder) => json!({ "folder": folder }),
                Entry::File(file) => file_json(file),
            };
            writeln!(out, "{}", json_line(&line)).map_err(stdout_failed)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    // aws s3 ls: one level, folders grouped at `/`, unless --recursive.
    if !how.json && !how.recursive && options.delimiter.is_none() {
        options.delimiter = Some("/".into());
    }
    let (mut objects, mut bytes) = (0u64, 0u64);
    storage
        .list_pages(prefix, &options, |mut page| {
            // As aws-cli prints a page: its folders, then its files.
            if !how.json {
                page.sort_by_key(|entry| !matches!(entry, Entry::Folder(_)));
            }
            page.iter().try_for_each(|entry| match (entry, how.json) {
                (Entry::File(file), true) => writeln!(out, "{}", json_line(&file_json(file))),
                (Entry::Folder(folder), true) => writeln!(out, "{}", json_line(&json!({ "folder": folder }))),
                (Entry::Version(v), _) => writeln!(out, "{}", json_line(&output::version_json(v))),
                (Entry::File(file), false) => {
                    objects += 1;
                    bytes += file.size;
                    writeln!(out, "{}", listing::file_line(&file.key, file.size, file.last_modified.map(|d| d.seconds), prefix, &how.style))
                }
                (Entry::Folder(folder), false) => writeln!(out, "{}", listing::folder_line(folder, prefix)),
            })
        })
        .await?;
    if how.summarize && !how.json {
        writeln!(out, "{}", listing::summary(objects, bytes, &how.style)).map_err(stdout_failed)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The commands on one key, which print JSON or a word.
async fn other(storage: &mut Storage, command: Command) -> Result<ExitCode, Problem> {
    let stdout_failed = |e: std::io::Error| local("stdout", e);
    match command {
        Command::Info { key, version_id } => {
            let options = InfoOptions { conditions: host_test::no_conditions(), version_id };
            println!("{}", json_line(&file_json(&storage.info_with(&address::key(&key)?.key, &options).await?)))
        }
        Command::Exists { key } => {
            let exists = storage.exists(&address::key(&key)?.key).await?;
            println!("{exists}");
            if !exists {
                return Ok(ExitCode::from(3));
            }
        }
        Command::PendingUploads { uploads_prefix } => {
            let prefix = address::key(uploads_prefix.as_deref().unwrap_or(""))?.key;
            let mut out = std::io::stdout().lock();
            for upload in storage.pending_uploads(&prefix).await? {
                let initiated = upload.initiated.map(|d| output::rfc3339(d.seconds));
                writeln!(out, "{}", json_line(&json!({"key": upload.key, "upload_id": upload.upload_id, "initiated": initiated}))).map_err(stdout_failed)?;
            }
        }
        Command::AbortUpload { key, upload_id } => storage.abort_upload(&address::key(&key)?.key, &upload_id).await?,
        Command::Url { key, expires, method, content_type } => {
            let method = Some(if method == "put" { PresignMethod::Put } else { PresignMethod::Get });
            let options = UrlOptions { method, expires_in: expires, content_type, ..host_test::url_options() };
            println!("{}", storage.url_with(&address::key(&key)?.key, options).await?)
        }
        _ => unreachable!("the other commands are handled by `run`"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_keep_the_order_typed_and_commands_without_them_have_none() {
        let matches = Cli::command().get_matches_from(["storage-host", "sync", "d", "s3://b/p", "--exclude", "*", "--include", "*.txt", "--exclude", "a/*"]);
        let (_, sub) = matches.subcommand().unwrap();
        let order = filters::in_order(sub);
        assert_eq!(order, [(false, "*".to_string()), (true, "*.txt".to_string()), (false, "a/*".to_string())]);
        let matches = Cli::command().get_matches_from(["storage-host", "info", "k"]);
        assert!(filters::in_order(matches.subcommand().unwrap().1).is_empty());
    }

    #[test]
    fn subcommand_help_puts_its_own_options_first_and_describes_them() {
        let mut cli = Cli::command();
        for sub in cli.get_subcommands_mut() {
            let name = sub.get_name().to_string();
            for arg in sub.get_arguments() {
                if arg.get_id() != "help" && arg.get_id() != "version" {
                    assert!(arg.get_help().is_some(), "{name}: {} has no description", arg.get_id());
                }
            }
            let help = sub.render_help().to_string();
            if let (Some(own), Some(global)) = (help.find("Options:"), help.find("Global options:")) {
                assert!(own < global, "{name}: its own options come first:\n{help}");
            }
        }
    }

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
