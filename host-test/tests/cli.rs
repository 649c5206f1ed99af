//! `storage-host` as a user runs it: commands, JSON output, exit codes, one-line errors.

mod common;

use std::process::{Command, Output, Stdio};

use common::Target;

struct Cli<'a> {
    t: &'a Target,
    secret: String,
}

impl<'a> Cli<'a> {
    fn new(t: &'a Target) -> Self {
        Cli { t, secret: t.secret_key.clone() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_storage-host"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
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

    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
    }

    async fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
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

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert_eq!(code(out), 0, "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// An error is exactly one line on stderr, with no panic or trap text.
fn one_line_error(out: &Output) -> String {
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

    let put = json(&cli.run(&["put", "docs/report.txt", file, "--content-type", "text/plain", "--meta", "original-name=report.txt", "--meta", "uploaded-by=user-123"]).await);
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

    let out = cli.run(&["ls", "docs/"]).await;
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|l| l["key"].as_str().unwrap()).collect::<Vec<_>>(), ["docs/report.txt", "docs/stdin.bin"]);
    assert_eq!(stdout(&cli.run(&["ls", "docs/", "--limit", "1"]).await).lines().count(), 1);

    assert_eq!(json(&cli.run(&["cp", "docs/report.txt", "published/report.txt"]).await)["metadata"]["original-name"], "report.txt");
    assert_eq!(json(&cli.run(&["mv", "docs/stdin.bin", "archive/stdin.bin"]).await)["key"], "archive/stdin.bin");
    assert_eq!(code(&cli.run(&["exists", "docs/stdin.bin"]).await), 3);

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
    assert_eq!(code(&cli.run(&["cp", "missing.txt", "x"]).await), 3);

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

    let wrong = Cli { t: &t, secret: format!("{}-wrong", t.secret_key) };
    let out = wrong.run(&["info", "k"]).await;
    assert_eq!(code(&out), 1);
    let line = one_line_error(&out);
    assert!(line.contains("access denied") && !line.contains(&wrong.secret), "{line}");

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
    for step in ["1. Started the embedded S3 server", "2. put drafts/report.txt", "3. info", "matches the upload: true", "images/logo.png", "A plain HTTP GET of it: HTTP 200", "7. Published the draft", "not found: drafts/report.txt", "exists(\"drafts/report.txt\") = false"] {
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

    // Without any source, one line says what was tried, and the exit code is 1.
    let mut cmd = cli.command(&["info", "profile.txt"]);
    cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("absent")).env("AWS_EC2_METADATA_DISABLED", "true");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.starts_with("storage-host: credentials: no credentials found") && err.lines().count() == 1, "{err}");
}
