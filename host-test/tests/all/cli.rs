//! `storage-host` as a user runs it: commands, JSON output, exit codes, one-line errors.

use crate::common;
use common::servers::Capability;

use std::process::{Command, Output, Stdio};

use common::Target;

pub struct Cli<'a> {
    pub t: &'a Target,
    secret: String,
}

impl<'a> Cli<'a> {
    pub fn new(t: &'a Target) -> Self {
        Cli { t, secret: t.secret_key.clone() }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_storage-host"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            // Never the instance metadata service, whatever a test takes away.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", &self.t.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_REGION", &self.t.region)
            .env("S3_BUCKET", &self.t.bucket)
            .args(["--endpoint", &self.t.endpoint, "--prefix", &self.t.root])
            .args(args);
        if let Some(cache) = std::env::var_os("WASM_STORAGES_CACHE") {
            cmd.env("WASM_STORAGES_CACHE", cache);
        }
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
    }

    pub async fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut cmd = self.command(args);
        let stdin = stdin.to_vec();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            child.stdin.take().unwrap().write_all(&stdin).unwrap();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn json(out: &Output) -> serde_json::Value {
    assert_eq!(code(out), 0, "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// An error is exactly one line on stderr, with no panic or trap text.
pub fn one_line_error(out: &Output) -> String {
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "stderr: {err:?}");
    assert!(err.starts_with("storage-host: "), "{err:?}");
    for noise in ["panicked", "backtrace", "wasm trap", "RUST_BACKTRACE"] {
        assert!(!err.contains(noise), "{err:?}");
    }
    err
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_with_json_output_and_exit_codes() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli").await;
    let cli = Cli::new(&t);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.txt");
    std::fs::write(&file, b"quarterly numbers\n").unwrap();
    let file = file.to_str().unwrap();

    let put = json(
        &cli.run(&["put", "docs/report.txt", file, "--content-type", "text/plain", "--meta", "original-name=report.txt", "--meta", "uploaded-by=user-123"])
            .await,
    );
    assert_eq!(put["key"], "docs/report.txt");
    assert_eq!(put["size"], 18);
    assert_eq!(put["content_type"], "text/plain");
    assert_eq!(put["metadata"]["uploaded-by"], "user-123");
    assert!(put["etag"].is_string());

    let info = json(&cli.run(&["info", "docs/report.txt"]).await);
    for field in ["key", "size", "content_type", "etag", "metadata"] {
        assert_eq!(info[field], put[field], "{field}");
    }
    let modified = info["last_modified"].as_str().unwrap();
    assert!(modified.len() == 20 && modified.ends_with('Z') && modified.starts_with("20"), "{modified}");

    let from_stdin = json(&cli.run_with_stdin(&["put", "docs/stdin.bin", "-"], b"piped bytes").await);
    assert_eq!((from_stdin["size"].as_u64(), from_stdin["content_type"].as_str()), (Some(11), Some("application/octet-stream")));

    let out = cli.run(&["exists", "docs/report.txt"]).await;
    assert_eq!((code(&out), stdout(&out).trim()), (0, "true"));
    let out = cli.run(&["exists", "docs/nope"]).await;
    assert_eq!((code(&out), stdout(&out).trim()), (3, "false"));

    let out = cli.run(&["get", "docs/report.txt"]).await;
    assert_eq!((code(&out), out.stdout.as_slice()), (0, &b"quarterly numbers\n"[..]));
    let target = dir.path().join("downloaded.txt");
    assert_eq!(code(&cli.run(&["get", "docs/stdin.bin", target.to_str().unwrap()]).await), 0);
    assert_eq!(std::fs::read(&target).unwrap(), b"piped bytes");

    let out = cli.run(&["ls", "--json", "docs/"]).await;
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|l| l["key"].as_str().unwrap()).collect::<Vec<_>>(), ["docs/report.txt", "docs/stdin.bin"]);
    assert_eq!(stdout(&cli.run(&["ls", "--json", "docs/", "--limit", "1"]).await).lines().count(), 1);

    let b = &t.bucket;
    let out = cli.run(&["cp", &format!("s3://{b}/docs/report.txt"), &format!("s3://{b}/published/report.txt")]).await;
    assert_eq!((code(&out), stdout(&out)), (0, format!("copy: s3://{b}/docs/report.txt to s3://{b}/published/report.txt\n")));
    assert_eq!(json(&cli.run(&["info", "published/report.txt"]).await)["metadata"]["original-name"], "report.txt");
    // A destination ending in / takes the source's name.
    let out = cli.run(&["mv", &format!("s3://{b}/docs/stdin.bin"), &format!("s3://{b}/archive/")]).await;
    assert_eq!((code(&out), stdout(&out)), (0, format!("move: s3://{b}/docs/stdin.bin to s3://{b}/archive/stdin.bin\n")));
    assert_eq!(code(&cli.run(&["exists", "docs/stdin.bin"]).await), 3);
    assert_eq!(json(&cli.run(&["info", &format!("s3://{b}/archive/stdin.bin")]).await)["size"], 11);

    // s3:// addresses anywhere a key is taken; a file's content type from its extension.
    let page = dir.path().join("page.html");
    std::fs::write(&page, b"<p>hello</p>").unwrap();
    let put = json(&cli.run(&["put", &format!("s3://{b}/site/page.html"), page.to_str().unwrap()]).await);
    assert_eq!((put["key"].as_str(), put["content_type"].as_str()), (Some("site/page.html"), Some("text/html")));
    assert_eq!(code(&cli.run(&["exists", "s3://{b}/site/page.html"]).await), 2, "a bad bucket name is a usage error");
    assert_eq!(cli.run(&["get", &format!("s3://{b}/site/page.html")]).await.stdout, b"<p>hello</p>");

    let out = cli.run(&["url", "published/report.txt", "--expires", "300"]).await;
    let url = stdout(&out).trim().to_string();
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let reply = host_test::http_client::get(&url).await.unwrap();
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"quarterly numbers\n"[..]));

    let out = cli.run(&["get", "published/report.txt", "--range", "0-8"]).await;
    assert_eq!((code(&out), out.stdout.as_slice()), (0, &b"quarterly"[..]));
    let out = cli.run(&["get", "published/report.txt", "--range", "-8"]).await;
    assert_eq!(out.stdout.as_slice(), b"numbers\n");
    let out = cli.run(&["get", "published/report.txt", "--range", "100-"]).await;
    assert_eq!(code(&out), 2);
    assert!(one_line_error(&out).contains("range not satisfiable"));

    let out = cli.run(&["url", "uploads/new.txt", "--method", "put", "--content-type", "text/plain"]).await;
    let put_url = stdout(&out).trim().to_string();
    let reply = host_test::http_client::request("PUT", &put_url, &[("content-type", "text/plain")], b"via presigned PUT".to_vec()).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(cli.run(&["get", "uploads/new.txt"]).await.stdout, b"via presigned PUT");

    assert_eq!(code(&cli.run(&["rm", "published/report.txt"]).await), 0);
    assert_eq!(code(&cli.run(&["rm", "published/report.txt"]).await), 0, "rm of a missing key succeeds");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_one_line_with_the_documented_exit_code() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-errors").await;
    let cli = Cli::new(&t);

    let out = cli.run(&["get", "missing.txt"]).await;
    assert_eq!(code(&out), 3);
    assert!(one_line_error(&out).contains("not found: missing.txt"));
    assert_eq!(code(&cli.run(&["info", "missing.txt"]).await), 3);
    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("x");
    let out = cli.run(&["cp", &format!("s3://{}/missing.txt", t.bucket), into.to_str().unwrap()]).await;
    assert_eq!(code(&out), 3);
    assert!(one_line_error(&out).contains("not found: missing.txt"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file left");
    let out = cli.run(&["cp", "a.txt", "b.txt"]).await;
    assert_eq!(code(&out), 2, "two local paths");
    assert!(one_line_error(&out).contains("one side must be s3://"));
    let out = cli.run(&["cp", dir.path().to_str().unwrap(), &format!("s3://{}/d/", t.bucket)]).await;
    assert_eq!(code(&out), 2);
    assert!(one_line_error(&out).contains("is a directory: add --recursive"));
    let out = cli.run(&["ls", "s3:///x"]).await;
    assert_eq!(code(&out), 2);
    assert!(one_line_error(&out).contains("names no bucket"));

    let out = cli.run(&["put", "../escape", "/dev/null"]).await;
    assert_eq!(code(&out), 2);
    assert!(one_line_error(&out).contains("invalid key"));

    let out = cli.run(&["url", "k", "--expires", "999999999"]).await;
    assert_eq!(code(&out), 2);
    one_line_error(&out);

    let out = cli.run(&["frobnicate"]).await;
    assert_eq!(code(&out), 2, "usage errors exit 2");
    let out = cli.run(&["serve-http", "app.wasm", "--dir", "/no/such/dir::/tmp"]).await;
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/dir is not a directory"));

    let out = cli.run(&["--endpoint", "ftp://x", "info", "k"]).await;
    assert_eq!(code(&out), 2);
    assert!(one_line_error(&out).contains("invalid config"));

    if !common::servers::skip_without(Capability::ChecksSignatures, "a wrong secret's exit code") {
        let wrong = Cli { t: &t, secret: format!("{}-wrong", t.secret_key) };
        let out = wrong.run(&["info", "k"]).await;
        assert_eq!(code(&out), 1);
        let line = one_line_error(&out);
        assert!(line.contains("access denied") && !line.contains(&wrong.secret), "{line}");
    }

    let out = cli.run(&["put", "k", "/no/such/file"]).await;
    assert_eq!(code(&out), 1);
    one_line_error(&out);

    let mut no_bucket = cli.command(&["info", "k"]);
    no_bucket.env_remove("S3_BUCKET");
    let out = tokio::task::spawn_blocking(move || no_bucket.output().unwrap()).await.unwrap();
    assert_eq!(code(&out), 2);
    assert!(one_line_error(&out).contains("bucket"));

    let out = cli.run(&["--endpoint", "http://127.0.0.1:9", "info", "k"]).await;
    assert_eq!(code(&out), 1);
    assert!(one_line_error(&out).contains("transport error"));
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_walks_through_the_story() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let out = tokio::task::spawn_blocking(|| Command::new(env!("CARGO_BIN_EXE_storage-host")).arg("demo").output().unwrap()).await.unwrap();
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for step in [
        "1. Started the embedded S3 server",
        "2. put drafts/report.txt",
        "3. info",
        "matches the upload: true",
        "images/logo.png",
        "A plain HTTP GET of it: HTTP 200",
        "7. Published the draft",
        "not found: drafts/report.txt",
        "exists(\"drafts/report.txt\") = false",
    ] {
        assert!(text.contains(step), "missing {step:?} in:\n{text}");
    }
}

/// The CLI finds credentials as an AWS SDK would: here a named profile in a shared
/// credentials file, which the host lets the component read.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_come_from_a_shared_file_profile() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-profile").await;
    let cli = Cli::new(&t);
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, format!("[ci]\naws_access_key_id = {}\naws_secret_access_key = {}\n", t.access_key, t.secret_key)).unwrap();
    let payload = dir.path().join("payload.txt");
    std::fs::write(&payload, "from a profile").unwrap();
    let mut cmd = cli.command(&["put", "profile.txt", payload.to_str().unwrap()]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_PROFILE", "ci")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let got = cli.run(&["get", "profile.txt"]).await;
    assert_eq!(stdout(&got), "from a profile");
    // --profile names it as AWS_PROFILE does; --endpoint-url is --endpoint.
    let mut cmd = cli.command(&["--profile", "ci", "--endpoint-url", &t.endpoint, "cp", payload.to_str().unwrap(), &format!("s3://{}/by-flag.txt", t.bucket)]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout(&cli.run(&["get", "by-flag.txt"]).await), "from a profile");

    // Without any source, one line says what was tried, and the exit code is 1.
    let mut cmd = cli.command(&["info", "profile.txt"]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("absent"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.starts_with("storage-host: credentials: no credentials found") && err.lines().count() == 1, "{err}");
}

/// Sends `signal` (`INT`, `TERM`) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args(["-s", signal, &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -s {signal} {pid}");
}

/// Waits (up to a minute) until `ready` says so.
pub async fn until<F: std::future::Future<Output = bool>>(what: &str, mut ready: impl FnMut() -> F) {
    for _ in 0..600 {
        if ready().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A spawned `storage-host`, its output read once it ends.
pub struct Running {
    pub child: std::process::Child,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        Running { child: cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap() }
    }

    /// Waits for the exit (stdin, if still held, stays open until then): code, stdout, stderr.
    pub async fn finish(mut self) -> (i32, String, String) {
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let status = self.child.wait().unwrap();
            let (mut out, mut err) = (String::new(), String::new());
            if let Some(mut stdout) = self.child.stdout.take() {
                stdout.read_to_string(&mut out).unwrap();
            }
            if let Some(mut stderr) = self.child.stderr.take() {
                stderr.read_to_string(&mut err).unwrap();
            }
            (status.code().unwrap_or(-1), out, err)
        })
        .await
        .unwrap()
    }
}

/// Ctrl-C or SIGTERM during an upload: the multipart upload is aborted (none stays
/// pending), nothing is stored, and the exit code says which signal (130, 143).
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_upload_leaves_nothing_behind() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-interrupt-put").await;
    let cli = Cli::new(&t);
    let mut s = t.store("").await;

    // From stdin, which then stalls with two parts' worth sent: the upload has begun.
    let mut running = Running::spawn(cli.command(&["put", "piped.bin", "-"]));
    let mut stdin = running.child.stdin.take().unwrap();
    let first = common::bytes(20 << 20, 1);
    let stdin = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        stdin.write_all(&first).unwrap();
        stdin
    })
    .await
    .unwrap();
    until("the multipart upload to begin", || async { !common::pending_uploads(&t, &mut t.store("").await).await.is_empty() }).await;
    signal(running.child.id(), "INT");
    let (code, _, err) = running.finish().await;
    drop(stdin);
    assert_eq!(code, 130, "{err}");
    assert!(err.starts_with("storage-host: interrupted (SIGINT)") && err.lines().count() == 1, "{err}");
    common::assert_no_pending_uploads(&t, &mut s).await;
    assert!(!s.exists("piped.bin").await.unwrap());

    // From a file, over a slow link: its parts are all in flight when SIGTERM comes.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    std::fs::write(&file, common::bytes(24 << 20, 2)).unwrap();
    let slow = common::slow_proxy(&t.endpoint, 4 << 20).await;
    let running = Running::spawn(cli.command(&["--endpoint", &slow, "put", "file.bin", file.to_str().unwrap()]));
    until("the multipart upload to begin", || async { !common::pending_uploads(&t, &mut t.store("").await).await.is_empty() }).await;
    signal(running.child.id(), "TERM");
    let (code, _, err) = running.finish().await;
    assert_eq!(code, 143, "{err}");
    assert!(err.starts_with("storage-host: interrupted (SIGTERM)"), "{err}");
    common::assert_no_pending_uploads(&t, &mut s).await;
    assert!(!s.exists("file.bin").await.unwrap());
}

/// Ctrl-C during a download: no file is left, under its name or a partial one.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_download_leaves_no_file() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-interrupt-get").await;
    let cli = Cli::new(&t);
    let mut s = t.store("").await;
    s.put_stream(
        "big.bin",
        std::io::Cursor::new(common::bytes(16 << 20, 3)),
        &host_test::PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let slow = common::slow_proxy(&t.endpoint, 2 << 20).await;
    let running = Running::spawn(cli.command(&["--endpoint", &slow, "get", "big.bin", dir.path().to_str().unwrap()]));
    let entries = || std::fs::read_dir(dir.path()).unwrap().count();
    let written = || std::fs::read_dir(dir.path()).unwrap().any(|e| e.unwrap().metadata().unwrap().len() > 0);
    until("the download to be under way", || async { written() }).await;
    signal(running.child.id(), "INT");
    let (code, _, err) = running.finish().await;
    assert_eq!(code, 130, "{err}");
    assert!(err.starts_with("storage-host: interrupted (SIGINT)"), "{err}");
    assert_eq!(entries(), 0, "nothing left in the directory");
}

/// `get KEY DIR` writes DIR/<last segment of KEY>, as `cp` does (`.`, `dir/`, an
/// existing directory); a failed download leaves nothing, not even a partial file.
#[tokio::test(flavor = "multi_thread")]
async fn downloads_into_directories_and_never_leave_partial_files() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-get-dir").await;
    let cli = Cli::new(&t);
    let mut s = t.store("").await;
    s.put(
        "docs/2024/report.txt",
        b"numbers",
        &host_test::PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let names = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };

    let mut here = cli.command(&["get", "docs/2024/report.txt", "."]);
    here.current_dir(dir.path());
    let out = tokio::task::spawn_blocking(move || here.output().unwrap()).await.unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(names(dir.path()), ["report.txt"]);
    let sub = dir.path().join("sub/");
    assert_eq!(code(&cli.run(&["get", "docs/2024/report.txt", &format!("{}/", sub.display())]).await), 0);
    assert_eq!(std::fs::read(sub.join("report.txt")).unwrap(), b"numbers");
    assert_eq!(code(&cli.run(&["get", "docs/2024/report.txt", dir.path().to_str().unwrap()]).await), 0);
    assert_eq!(names(dir.path()), ["report.txt", "sub"]);

    // Failures leave no file at all.
    let empty = tempfile::tempdir().unwrap();
    let out = cli.run(&["get", "docs/missing.txt", empty.path().join("x.txt").to_str().unwrap()]).await;
    assert_eq!(code(&out), 3);
    let out = cli.run(&["get", "docs/2024/report.txt", empty.path().to_str().unwrap(), "--range", "100-"]).await;
    assert_eq!(code(&out), 2);
    let out = cli.run(&["get", "docs/missing.txt", empty.path().to_str().unwrap()]).await;
    assert_eq!(code(&out), 3);
    assert!(names(empty.path()).is_empty(), "left: {:?}", names(empty.path()));
}

/// Uploads left pending (a crashed client) are listed and aborted from the CLI.
#[tokio::test(flavor = "multi_thread")]
async fn pending_uploads_are_listed_and_aborted() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-pending").await;
    let cli = Cli::new(&t);
    // Started by another client, never finished.
    let reply = common::foreign_request(&t, "POST", "left/behind.bin?uploads", &[], Vec::new()).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let out = cli.run(&["pending-uploads"]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["key"], "left/behind.bin");
    assert!(lines[0]["initiated"].as_str().is_some_and(|d| d.ends_with('Z')), "{lines:?}");
    assert_eq!(stdout(&cli.run(&["pending-uploads", "other/"]).await), "");
    let id = lines[0]["upload_id"].as_str().unwrap();
    assert_eq!(code(&cli.run(&["abort-upload", "left/behind.bin", id]).await), 0);
    assert_eq!(stdout(&cli.run(&["pending-uploads"]).await), "");
}

/// What a server says reaches the terminal with its control characters escaped: a
/// hostile `<Message>` can't clear the screen or retitle the window.
#[tokio::test(flavor = "multi_thread")]
async fn server_text_reaches_the_terminal_escaped() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-escape").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = vec![0u8; 16 * 1024];
            let _ = socket.read(&mut head).await;
            let body = "<Error><Code>AccessDenied</Code><Message>\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31mgone\r\nfake line</Message></Error>";
            let reply = format!("HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    let cli = Cli::new(&t);
    // (A GET: the answer to a HEAD has no body to carry a message.)
    let out = cli.run(&["--endpoint", &endpoint, "get", "k"]).await;
    assert_eq!(code(&out), 1);
    let err = one_line_error(&out);
    assert!(!err.trim_end_matches('\n').chars().any(char::is_control), "{err:?}");
    assert!(err.contains("\\u{1b}[2J") && err.contains("gone"), "{err:?}");
}

/// Errors say what failed: the path of a local file, the endpoint that refused, http://
/// for a TLS handshake with a plain-HTTP port; a directory given as FILE and a reversed
/// range are usage errors (2).
#[tokio::test(flavor = "multi_thread")]
async fn errors_name_what_failed() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-names").await;
    let cli = Cli::new(&t);
    let dir = tempfile::tempdir().unwrap();

    let out = cli.run(&["put", "k", dir.path().to_str().unwrap()]).await;
    assert_eq!(code(&out), 2);
    assert!(one_line_error(&out).contains("is a directory"));
    let out = cli.run(&["put", "k", "/no/such/file"]).await;
    assert_eq!(code(&out), 1);
    assert!(one_line_error(&out).contains("/no/such/file"));
    let out = cli.run(&["get", "k", "--range", "10-2"]).await;
    assert_eq!(code(&out), 2);
    let err = one_line_error(&out);
    assert!(err.contains("invalid argument") && err.contains("10-2"), "{err}");

    let out = cli.run(&["--endpoint", "http://127.0.0.1:9", "info", "k"]).await;
    assert_eq!(code(&out), 1);
    let err = one_line_error(&out);
    assert!(err.contains("http://127.0.0.1:9") && err.contains("refused"), "{err}");
    if let Some(plain) = t.endpoint.strip_prefix("http://") {
        let out = cli.run(&["--endpoint", &format!("https://{plain}"), "info", "k"]).await;
        let err = one_line_error(&out);
        assert!(err.contains("TLS") && err.contains("http://"), "{err}");
    }

    let mut cmd = cli.command(&["info", "k"]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/no/such/dir/credentials")
        .env("AWS_PROFILE", "ci")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let err = one_line_error(&out);
    assert!(err.contains("/no/such/dir/credentials (not found)") && !err.contains("preopen"), "{err}");
}

/// `serve-s3` serves the bucket it is given, answers NoSuchBucket for any other (a
/// mistyped name never springs into being), and SIGTERM stops it and removes its data.
#[tokio::test(flavor = "multi_thread")]
async fn serve_s3_serves_its_bucket_and_cleans_up() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_storage-host"));
    cmd.args(["serve-s3", "--bucket", "my-data"]).env_remove("S3_BUCKET");
    let mut running = Running::spawn(cmd);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(running.child.stdout.take().unwrap()));
    let (mut endpoint, mut data) = (String::new(), String::new());
    while let Some(line) = lines.next().map(Result::unwrap) {
        if let Some(dir) = line.strip_prefix("embedded S3 server (s3s-fs, SigV4 checked) serving ") {
            data = dir.to_string();
        }
        if let Some(url) = line.strip_prefix("export AWS_ENDPOINT_URL=") {
            endpoint = url.to_string();
        }
        if line == "export S3_BUCKET=my-data" {
            break;
        }
    }
    assert!(std::path::Path::new(&data).is_dir() && !endpoint.is_empty(), "{data} {endpoint}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"x").unwrap();
    let run = |bucket: &'static str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_storage-host"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("AWS_ACCESS_KEY_ID", host_test::testkit::s3_server::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", host_test::testkit::s3_server::SECRET_KEY)
            .args(["--endpoint", &endpoint, "--bucket", bucket, "put", "k", file.path().to_str().unwrap()]);
        c.output().unwrap()
    };
    let out = run("my-data");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let out = run("my-dta");
    assert_eq!(code(&out), 1);
    assert!(one_line_error(&out).contains("NoSuchBucket"));
    assert!(!std::path::Path::new(&data).join("my-dta").exists(), "a mistyped bucket was made");

    signal(running.child.id(), "TERM");
    let (code, _, err) = running.finish().await;
    assert_eq!(code, 0, "{err}");
    assert!(!std::path::Path::new(&data).exists(), "{data} was left behind");
}

/// Attributes and tags on `put`, shown by `info`; folders in `ls --delimiter`.
#[tokio::test(flavor = "multi_thread")]
async fn attributes_tags_and_folders_from_the_command_line() {
    if common::skip_on_memory("the CLI runs the S3 component") {
        return;
    }
    let t = Target::new("cli-attributes").await;
    let cli = Cli { t: &t, secret: t.secret_key.clone() };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"report").unwrap();
    let path = file.path().to_str().unwrap();
    let out = cli
        .run(&["put", "docs/r.pdf", path, "--cache-control", "max-age=60", "--content-disposition", "attachment; filename=\"r.pdf\"", "--tag", "team=data"])
        .await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let info = json(&cli.run(&["info", "docs/r.pdf"]).await);
    assert_eq!(info["attributes"]["cache-control"], "max-age=60");
    assert_eq!(info["attributes"]["content-disposition"], "attachment; filename=\"r.pdf\"");
    if !common::servers::skip_without(common::servers::Capability::Tagging, "tags read back") {
        assert_eq!(info["tags"]["team"], "data");
    }
    let out = cli.run(&["put", "top.txt", path]).await;
    assert_eq!(code(&out), 0);
    let lines: Vec<serde_json::Value> =
        stdout(&cli.run(&["ls", "--json", "--delimiter", "/"]).await).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((lines[0]["folder"].as_str(), lines[1]["key"].as_str()), (Some("docs/"), Some("top.txt")), "{lines:?}");
    let bad = cli.run(&["put", "x", path, "--tag", "a=b&c"]).await;
    assert_eq!(code(&bad), 2, "a tag outside S3's alphabet is a usage error");
}
