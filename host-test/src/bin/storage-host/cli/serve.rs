//! `serve-s3` and `serve-http`: servers in the foreground until SIGINT or SIGTERM, after
//! which they stop and clean up (a temp data dir is removed).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use host_test::HostOptions;
use host_test::testkit::s3_server::{self, EmbeddedS3, ServerOptions};

use super::output::{Problem, local};

/// A future that resolves at the first SIGINT or SIGTERM; the handlers are in place once
/// this returns (before the server says it is ready, so a signal sent then is caught).
fn stop_signal() -> Result<impl std::future::Future<Output = ()>, Problem> {
    use tokio::signal::unix::{SignalKind, signal};
    let failed = |e: std::io::Error| Problem::from(anyhow::Error::from(e).context("listening for signals"));
    let mut int = signal(SignalKind::interrupt()).map_err(failed)?;
    let mut term = signal(SignalKind::terminate()).map_err(failed)?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

pub async fn serve_s3(port: u16, dir: Option<PathBuf>, bucket: Option<String>) -> Result<ExitCode, Problem> {
    if let Some(bucket) = &bucket
        && !s3s::path::check_bucket_name(bucket)
    {
        return Err(Problem::Usage(format!("--bucket {bucket:?} is not a valid S3 bucket name")));
    }
    let server = EmbeddedS3::start_with(ServerOptions { port, dir, bucket, ..Default::default() }).await?;
    let stopped = stop_signal()?;
    println!("embedded S3 server (s3s-fs, SigV4 checked) serving {}", server.dir.display());
    println!("export AWS_ENDPOINT_URL={}", server.endpoint);
    println!("export AWS_ACCESS_KEY_ID={}", s3_server::ACCESS_KEY);
    println!("export AWS_SECRET_ACCESS_KEY={}", s3_server::SECRET_KEY);
    println!("export AWS_REGION={}", s3_server::REGION);
    println!("export S3_BUCKET={}", server.bucket);
    println!("(Ctrl-C or SIGTERM stops it; other buckets exist once created with CreateBucket)");
    let _ = std::io::stdout().flush();
    stopped.await;
    // Dropping the server removes its temp data dir.
    drop(server);
    Ok(ExitCode::SUCCESS)
}

/// How `serve-http` runs the component.
pub struct ServeHost {
    pub env: Vec<(String, String)>,
    pub embedded_s3: bool,
    pub max_memory_mib: Option<usize>,
    pub one_instance: bool,
    pub insecure: bool,
    pub dirs: Vec<(PathBuf, String)>,
}

pub async fn serve_http(component: &std::path::Path, listen: std::net::SocketAddr, how: ServeHost) -> Result<ExitCode, Problem> {
    let wasm = std::fs::read(component).map_err(|e| local(component.display(), e))?;
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
        // Any component finds the server the standard way (the AWS_* variables the S3
        // component and the AWS SDKs read) and its bucket in the generic S3_BUCKET; -e wins.
        host.env.retain(|(k, _)| !k.starts_with("AWS_"));
        let mut set = s3.env();
        set.push(("S3_BUCKET".into(), s3.bucket.clone()));
        set.retain(|(k, _)| !env.iter().any(|(given, _)| given == k));
        println!("embedded S3 server (s3s-fs, SigV4 checked) at {}, data in {}", s3.endpoint, s3.dir.display());
        println!("--embedded-s3 gives the component:");
        for (k, v) in &set {
            println!("  {k}={v}");
        }
        host.env.extend(set);
    }
    // A variable given with -e replaces the one passed on from this process, and the last
    // -e of a name wins: a guest's lookup takes the first it finds.
    host.env.retain(|(k, _)| !env.iter().any(|(given, _)| given == k));
    for (i, (k, v)) in env.iter().enumerate() {
        if !env[i + 1..].iter().any(|(later, _)| later == k) {
            host.env.push((k.clone(), v.clone()));
        }
    }
    let http = host_test::http_server::HttpServer::start_with(&wasm, host, listen, how.one_instance).await?;
    let stopped = stop_signal()?;
    println!("serving {} at {} (Ctrl-C or SIGTERM stops it)", component.display(), http.url());
    let _ = std::io::stdout().flush();
    tokio::select! {
        _ = http.wait() => {}
        () = stopped => {}
    }
    drop(server);
    Ok(ExitCode::SUCCESS)
}
