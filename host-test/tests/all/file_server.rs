//! The file-server example, composed with the S3 component by `examples/compose.sh` (wac
//! plug) into one component that imports only WASI, served over HTTP by the host
//! (`host_test::http_server`, what `storage-host serve-http` runs), and driven by a plain
//! HTTP client against the embedded S3 server (or the suite's endpoint).

use crate::common;

use std::sync::OnceLock;

use common::{Target, bytes, open, sha256};
use host_test::api::Generation;
use host_test::http_client::{self, Reply};
use host_test::http_server::HttpServer;
use host_test::{HostOptions, PutOptions};

const MIB: usize = 1 << 20;

/// The file server composed with the S3 component, built once per test run: their WASI 0.3
/// builds when the suite runs on the 0.3 build (`STORAGE_BACKEND=p3`), else their 0.2 ones.
fn composed() -> &'static [u8] {
    match host_test::runtime::backend_generation() {
        Generation::P3 => composed_p3(),
        Generation::P2 => composed_p2(),
    }
}

/// The file server composed with the S3 component, their WASI 0.2 builds.
fn composed_p2() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| compose(env!("STORAGE_COMPONENT_PATH")))
}

/// The WASI 0.3 file server composed with the S3 component's 0.3 build.
fn composed_p3() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| common::compose(env!("P3_FILE_SERVER_COMPONENT_PATH"), std::path::Path::new(env!("P3_STORAGE_COMPONENT_PATH"))))
}

/// The file server composed with the storage component at `storage`.
fn compose(storage: &str) -> Vec<u8> {
    common::compose(env!("FILE_SERVER_COMPONENT_PATH"), std::path::Path::new(storage))
}

/// What the file server is told, to store under `t`'s root: the server, keys, bucket, prefix.
fn settings(t: &Target) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", &t.endpoint),
        ("AWS_ACCESS_KEY_ID", &t.access_key),
        ("AWS_SECRET_ACCESS_KEY", &t.secret_key),
        ("AWS_REGION", &t.region),
        ("FILE_SERVER_BUCKET", &t.bucket),
        ("FILE_SERVER_PREFIX", &t.root),
    ]
    .map(|(name, value)| (name.to_string(), value.clone()))
    .to_vec()
}

/// The composed file server on a free port, storing under `t`'s root.
async fn serve(t: &Target, extra: &[(&str, &str)], max_memory: Option<usize>) -> HttpServer {
    let mut env = settings(t);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let host = HostOptions { env, max_memory, ..Default::default() };
    HttpServer::start(composed(), host, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.body)))
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// A multipart/form-data body with one file field.
fn form(field: &str, file_name: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----wasm-storages-test-boundary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n").into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_against_a_real_server() {
    if common::skip_on_memory("this one composes the file server with the S3 component; see the_file_server_runs_on_the_memory_backend_by_composition_alone") {
        return;
    }
    let t = Target::new("file-server").await;
    let server = serve(&t, &[], None).await;
    let base = server.url();
    let mut store = t.store("").await;

    // A form upload: stored under uploads/NAME with its type and original name.
    let report = b"Quarterly report\n".repeat(1000);
    let (content_type, body) = form("file", "Q3 report.txt", "text/plain", &report);
    let reply = http_client::request("POST", &format!("{base}/upload"), &[("content-type", &content_type)], body).await.unwrap();
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    let uploaded = json(&reply);
    assert_eq!(uploaded["key"], "uploads/Q3 report.txt");
    assert_eq!(uploaded["size"], report.len());
    assert_eq!(uploaded["content_type"], "text/plain");
    let fetched = http_client::get(uploaded["download_url"].as_str().unwrap()).await.unwrap();
    assert_eq!((fetched.status, fetched.body.as_slice()), (200, report.as_slice()), "the 24 h presigned URL serves the file");
    let info = store.info("uploads/Q3 report.txt").await.unwrap();
    assert_eq!(info.metadata, [("original-name".to_string(), "Q3 report.txt".to_string())]);

    // A raw body with ?key=, then the file streamed back as an attachment.
    let data = bytes(300_000, 5);
    let reply =
        http_client::request("POST", &format!("{base}/upload?key=data%20set.bin"), &[("content-type", "application/x-test")], data.clone()).await.unwrap();
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(json(&reply)["key"], "uploads/data set.bin");
    let file = http_client::get(&format!("{base}/files/uploads/data%20set.bin")).await.unwrap();
    assert_eq!(file.status, 200);
    assert_eq!(file.body, data);
    assert_eq!(header(&file, "content-type"), "application/x-test");
    assert_eq!(header(&file, "content-length"), data.len().to_string());
    assert_eq!(header(&file, "content-disposition"), "attachment; filename=\"data set.bin\"; filename*=UTF-8''data%20set%2Ebin");

    // A 30-minute URL, and a redirect to a 5-minute one.
    let reply = http_client::get(&format!("{base}/files/uploads/data%20set.bin/download-url")).await.unwrap();
    assert_eq!(reply.status, 200);
    let answer = json(&reply);
    assert_eq!(answer["expires_in"], 1800);
    let url = answer["download_url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Expires=1800"), "{url}");
    assert_eq!(http_client::get(url).await.unwrap().body, data);
    let reply = http_client::get(&format!("{base}/files/uploads/data%20set.bin/download")).await.unwrap();
    assert_eq!(reply.status, 302);
    let location = header(&reply, "location");
    assert!(location.contains("X-Amz-Expires=300"), "{location}");
    assert_eq!(http_client::get(location).await.unwrap().body, data);

    // Publishing moves drafts/KEY to published/KEY.
    let plain = PutOptions {
        content_type: Some("text/markdown".into()),
        metadata: vec![],
        size: None,
        condition: None,
        attributes: host_test::no_attributes(),
        tags: Vec::new(),
    };
    store.put("drafts/post.md", b"# Hello", &plain).await.unwrap();
    let reply = http_client::request("POST", &format!("{base}/publish/post.md"), &[], Vec::new()).await.unwrap();
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(json(&reply)["key"], "published/post.md");
    assert!(!store.exists("drafts/post.md").await.unwrap());
    assert_eq!(store.get_bytes("published/post.md").await.unwrap(), b"# Hello");

    // Missing keys: 404 with a JSON body, on every endpoint.
    for (method, path) in
        [("GET", "/files/uploads/nope"), ("GET", "/files/uploads/nope/download-url"), ("GET", "/files/uploads/nope/download"), ("POST", "/publish/nope")]
    {
        let reply = http_client::request(method, &format!("{base}{path}"), &[], Vec::new()).await.unwrap();
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(json(&reply)["error"], "not found", "{method} {path}");
    }
    // Bad keys and bad uploads: 400.
    for (method, path, body) in [
        ("GET", "/files/uploads/a/../b", Vec::new()),
        ("GET", "/files/%FF", Vec::new()),
        ("POST", "/upload", b"no key".to_vec()),
        ("POST", "/upload?key=..", b"dots".to_vec()),
    ] {
        let reply = http_client::request(method, &format!("{base}{path}"), &[], body).await.unwrap();
        assert_eq!(reply.status, 400, "{method} {path}: {}", String::from_utf8_lossy(&reply.body));
        assert!(json(&reply)["error"].is_string());
    }
    let (content_type, body) = form("attachment", "", "text/plain", b"x");
    let reply = http_client::request("POST", &format!("{base}/upload"), &[("content-type", &content_type)], body).await.unwrap();
    assert_eq!(reply.status, 400, "a form without a file field");
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_over_the_limit_are_refused_and_leave_nothing() {
    if common::skip_on_memory("this one composes the file server with the S3 component; see the_file_server_runs_on_the_memory_backend_by_composition_alone") {
        return;
    }
    let t = Target::new("file-server-limit").await;
    let server = serve(&t, &[("FILE_SERVER_MAX_UPLOAD_BYTES", "10000")], None).await;
    let base = server.url();
    let mut store = t.store("").await;
    let big = bytes(20_000, 6);

    // Said up front (Content-Length), found while streaming a form, and found while
    // streaming a chunked body of unknown length.
    let reply = http_client::request("POST", &format!("{base}/upload?key=a.bin"), &[], big.clone()).await.unwrap();
    assert_eq!(reply.status, 413);
    let (content_type, body) = form("file", "b.bin", "application/octet-stream", &big);
    // The form's own Content-Length is over the limit too: send it chunked to reach the parser.
    let chunks: Vec<Vec<u8>> = body.chunks(4096).map(<[u8]>::to_vec).collect();
    let reply = http_client::request_chunked("POST", &format!("{base}/upload"), &[("content-type", &content_type)], chunks).await.unwrap();
    assert_eq!(reply.status, 413, "{}", String::from_utf8_lossy(&reply.body));
    let reply = http_client::request_chunked("POST", &format!("{base}/upload?key=c.bin"), &[], big.chunks(4096).map(<[u8]>::to_vec).collect()).await.unwrap();
    assert_eq!(reply.status, 413);
    for key in ["uploads/a.bin", "uploads/b.bin", "uploads/c.bin"] {
        assert!(!store.exists(key).await.unwrap(), "{key}");
    }
    // Within the limit, a chunked body is stored whole.
    let small = bytes(9_000, 7);
    let reply = http_client::request_chunked("POST", &format!("{base}/upload?key=d.bin"), &[], small.chunks(1000).map(<[u8]>::to_vec).collect()).await.unwrap();
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(store.get_bytes("uploads/d.bin").await.unwrap(), small);
}

/// 100 MiB up (raw body and form) and down through instances capped at 32 MiB of linear
/// memory: uploads hold two 8 MiB parts, downloads are spliced and hold nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_100_mib_file_goes_up_and_down_in_constant_memory() {
    if common::skip_on_memory("this one composes the file server with the S3 component; see the_file_server_runs_on_the_memory_backend_by_composition_alone") {
        return;
    }
    const CAP: usize = 32 << 20;
    let t = Target::new("file-server-large").await;
    let server = serve(&t, &[("FILE_SERVER_PARTS_IN_FLIGHT", "2")], Some(CAP)).await;
    let base = server.url();
    let data = bytes(100 * MIB, 8);

    let reply = http_client::request("POST", &format!("{base}/upload?key=big.bin"), &[], data.clone()).await.unwrap();
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    eprintln!("file server, 100 MiB: guest memory peak {:.1} MiB (raw upload)", server.peak_memory() as f64 / MIB as f64);
    let (content_type, body) = form("file", "big-form.bin", "application/octet-stream", &data);
    let reply = http_client::request("POST", &format!("{base}/upload"), &[("content-type", &content_type)], body).await.unwrap();
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    let up = server.peak_memory();

    for key in ["big.bin", "big-form.bin"] {
        let file = http_client::get(&format!("{base}/files/uploads/{key}")).await.unwrap();
        assert_eq!(file.status, 200);
        assert_eq!(sha256(&file.body), sha256(&data), "{key}");
    }
    eprintln!("file server, 100 MiB: guest memory peak {:.1} MiB (uploads), {:.1} MiB (all)", up as f64 / MIB as f64, server.peak_memory() as f64 / MIB as f64);
    assert!(server.peak_memory() <= CAP);
    let mut clean = open(t.config("")).await.unwrap();
    assert_eq!(clean.info("uploads/big-form.bin").await.unwrap().size, data.len() as u64);
}

/// The same file server composed with the memory backend instead of the S3 component runs
/// unchanged: nothing but the composition differs. (One long-lived instance, so that the
/// memory lasts from one request to the next; downloads take the `read` path, as the
/// memory backend has no host stream to hand over.)
#[tokio::test(flavor = "multi_thread")]
async fn the_file_server_runs_on_the_memory_backend_by_composition_alone() {
    let wasm = compose(env!("MEMORY_COMPONENT_PATH"));
    let host = HostOptions { env: vec![("FILE_SERVER_BUCKET".into(), "files".into())], ..Default::default() };
    let server = HttpServer::start_with(&wasm, host, "127.0.0.1:0".parse().unwrap(), true).await.unwrap();
    let base = server.url();

    let data = bytes(3 * MIB + 17, 9);
    let reply = http_client::request("POST", &format!("{base}/upload?key=a.bin"), &[("content-type", "application/x-test")], data.clone()).await.unwrap();
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(json(&reply)["size"], data.len());
    assert!(json(&reply)["download_url"].as_str().unwrap().starts_with("memory://files/uploads/a.bin?"));
    let (content_type, body) = form("file", "notes.txt", "text/plain", b"some notes");
    let reply = http_client::request("POST", &format!("{base}/upload"), &[("content-type", &content_type)], body).await.unwrap();
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));

    let file = http_client::get(&format!("{base}/files/uploads/a.bin")).await.unwrap();
    assert_eq!((file.status, header(&file, "content-type")), (200, "application/x-test"));
    assert_eq!(sha256(&file.body), sha256(&data));
    assert_eq!(http_client::get(&format!("{base}/files/uploads/notes.txt")).await.unwrap().body, b"some notes");
    let reply = http_client::get(&format!("{base}/files/uploads/a.bin/download-url")).await.unwrap();
    assert_eq!(json(&reply)["expires_in"], 1800);
    let reply = http_client::get(&format!("{base}/files/uploads/a.bin/download")).await.unwrap();
    assert_eq!(reply.status, 302);
    for (method, path, status) in [("GET", "/files/uploads/nope", 404), ("POST", "/publish/nope", 404), ("GET", "/files/a/../b", 400)] {
        let reply = http_client::request(method, &format!("{base}{path}"), &[], Vec::new()).await.unwrap();
        assert_eq!(reply.status, status, "{method} {path}");
    }
}

/// `storage-host serve-http COMPONENT --embedded-s3`, as the README tells users to run it.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_serves_the_composed_component() {
    if common::skip_on_memory("this one composes the file server with the S3 component") {
        return;
    }
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file-server.wasm");
    std::fs::write(&path, composed()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_storage-host"))
        .args(["serve-http", path.to_str().unwrap(), "--embedded-s3", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (printed, base) = tokio::task::spawn_blocking(move || {
        let mut printed = Vec::new();
        for line in stdout.lines().map_while(Result::ok) {
            // "serving PATH at http://127.0.0.1:PORT (Ctrl-C stops it)"
            if let Some(url) = line.strip_prefix("serving ").and_then(|l| l.split(" at ").nth(1)).and_then(|l| l.split_whitespace().next()) {
                return (printed, Some(url.to_string()));
            }
            printed.push(line);
        }
        (printed, None)
    })
    .await
    .unwrap();
    let base = base.unwrap_or_else(|| panic!("serve-http never said where it serves: {printed:#?}"));
    // Any component finds the server the standard way, and is told what it was given: the
    // file server reads the generic S3_BUCKET (no FILE_SERVER_BUCKET is set).
    for name in ["AWS_ENDPOINT_URL=http://127.0.0.1:", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_REGION=", "S3_BUCKET="] {
        assert!(printed.iter().any(|line| line.trim_start().starts_with(name)), "serve-http did not print {name}: {printed:#?}");
    }
    let reply = http_client::request("POST", &format!("{base}/upload?key=hello.txt"), &[("content-type", "text/plain")], b"hello".to_vec()).await.unwrap();
    let file = http_client::get(&format!("{base}/files/uploads/hello.txt")).await.unwrap();
    let missing = http_client::get(&format!("{base}/files/uploads/nope")).await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!((file.status, file.body.as_slice()), (200, b"hello".as_slice()));
    assert_eq!(missing.status, 404);
}

/// Sends a POST /upload of `content_type` whose body is `head`, then `fill` bytes of `pad`,
/// then `tail` (chunked, or with a Content-Length), over a raw connection that reads the
/// answer while it is still sending: a server that answers early and stops reading is seen
/// answering, never as a reset. Returns the status and the whole answer.
async fn hostile_upload(base: &str, content_type: &str, chunked: bool, head: Vec<u8>, pad: u8, fill: usize, tail: Vec<u8>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base.trim_start_matches("http://").trim_end_matches('/').to_string();
    let socket = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let (mut read, mut write) = socket.into_split();
    let length = if chunked { "transfer-encoding: chunked".to_string() } else { format!("content-length: {}", head.len() + fill + tail.len()) };
    let request_head = format!("POST /upload HTTP/1.1\r\nhost: {authority}\r\ncontent-type: {content_type}\r\n{length}\r\nconnection: close\r\n\r\n");
    let writer = tokio::spawn(async move {
        // (An empty chunk would end a chunked body.)
        let frame = |data: &[u8]| match chunked && !data.is_empty() {
            true => [format!("{:x}\r\n", data.len()).into_bytes(), data.to_vec(), b"\r\n".to_vec()].concat(),
            false => data.to_vec(),
        };
        write.write_all(request_head.as_bytes()).await?;
        write.write_all(&frame(&head)).await?;
        let block = vec![pad; MIB];
        let mut left = fill;
        while left > 0 {
            let n = left.min(MIB);
            write.write_all(&frame(&block[..n])).await?;
            left -= n;
        }
        write.write_all(&frame(&tail)).await?;
        if chunked {
            write.write_all(b"0\r\n\r\n").await?;
        }
        std::io::Result::Ok(())
    });
    let mut answer = Vec::new();
    let _ = read.read_to_end(&mut answer).await;
    writer.abort();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

/// The upload limit holds for the whole request body, whatever its shape: 150 MB before
/// the first boundary, or inside a part's header section, chunked or not, is answered 413
/// by an instance capped at 32 MiB of memory (which could not have buffered it), and
/// nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_forms_are_refused_within_bounded_memory() {
    if common::skip_on_memory("this one composes the file server with the S3 component; see the_file_server_runs_on_the_memory_backend_by_composition_alone") {
        return;
    }
    let t = Target::new("file-server-hostile").await;
    let limited = serve(&t, &[("FILE_SERVER_MAX_UPLOAD_BYTES", "10000000")], Some(32 * MIB)).await;
    let roomy = serve(&t, &[], Some(32 * MIB)).await;
    let boundary = "b0undary";
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let part = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n\r\n").into_bytes();
    let end = format!("hello\r\n--{boundary}--\r\n").into_bytes();
    let fill = 150 * 1000 * 1000;
    for (server, chunked) in [(&limited, true), (&limited, false), (&roomy, true), (&roomy, false)] {
        // Before the first boundary.
        let (status, answer) =
            hostile_upload(&server.url(), &content_type, chunked, Vec::new(), b'p', fill, [b"\r\n".to_vec(), part.clone(), end.clone()].concat()).await;
        assert_eq!(status, 413, "preamble, chunked {chunked}: {}", &answer[..answer.len().min(300)]);
        // Inside a part's header section.
        let head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"y.bin\"\r\nX-Pad: ").into_bytes();
        let (status, answer) = hostile_upload(
            &server.url(),
            &content_type,
            chunked,
            head,
            b'h',
            fill,
            [b"\r\n\r\nhello\r\n--".to_vec(), format!("{boundary}--\r\n").into_bytes()].concat(),
        )
        .await;
        assert_eq!(status, 413, "header section, chunked {chunked}: {}", &answer[..answer.len().min(300)]);
    }
    let mut store = t.store("").await;
    for key in ["uploads/x.bin", "uploads/y.bin"] {
        assert!(!store.exists(key).await.unwrap(), "{key}");
    }
    // A form within the limits still works on the same instances.
    let (content_type, body) = form("file", "ok.bin", "application/octet-stream", b"fine");
    let reply = http_client::request("POST", &format!("{}/upload", limited.url()), &[("content-type", &content_type)], body).await.unwrap();
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
}

/// What a browser or a cache sends: conditional GETs and HEADs, ranges; answered with the
/// object's validators, 304, 412, 206 and 416 through the storage API's read conditions.
#[tokio::test(flavor = "multi_thread")]
async fn browsers_get_validators_conditional_answers_and_ranges() {
    if common::skip_on_memory("this one composes the file server with the S3 component") {
        return;
    }
    let t = Target::new("file-server-http").await;
    let server = serve(&t, &[], None).await;
    let base = server.url();
    let mut store = t.store("").await;
    let data = bytes(10_000, 8);
    let options = PutOptions {
        content_type: Some("image/png".into()),
        attributes: host_test::Attributes { cache_control: Some("public, max-age=60".into()), ..host_test::no_attributes() },
        ..host_test::put_options()
    };
    store.put("site/logo.png", &data, &options).await.unwrap();
    let url = format!("{base}/files/site/logo.png");

    let full = http_client::get(&url).await.unwrap();
    assert_eq!((full.status, full.body.len()), (200, data.len()));
    let (etag, modified) = (header(&full, "etag").to_string(), header(&full, "last-modified").to_string());
    assert!(etag.starts_with('"') && !modified.is_empty(), "{etag} {modified}");
    assert_eq!((header(&full, "cache-control"), header(&full, "accept-ranges")), ("public, max-age=60", "bytes"));

    // Revalidation: 304 with the validators and no body; a changed ETag gets the object.
    for validator in [("if-none-match", etag.as_str()), ("if-modified-since", modified.as_str())] {
        let reply = http_client::request("GET", &url, &[validator], Vec::new()).await.unwrap();
        assert_eq!((reply.status, reply.body.len()), (304, 0), "{validator:?}");
        assert_eq!(header(&reply, "etag"), etag);
    }
    let changed = http_client::request("GET", &url, &[("if-none-match", "\"something-else\"")], Vec::new()).await.unwrap();
    assert_eq!((changed.status, changed.body.len()), (200, data.len()));
    let old = httpdate::fmt_http_date(std::time::SystemTime::now() - std::time::Duration::from_secs(86_400));
    let reply = http_client::request("GET", &url, &[("if-unmodified-since", old.as_str())], Vec::new()).await.unwrap();
    assert_eq!(reply.status, 412);
    let reply = http_client::request("GET", &url, &[("if-match", "\"other\"")], Vec::new()).await.unwrap();
    assert_eq!(reply.status, 412);

    // Ranges: 206 with Content-Range; the last bytes; past the end 416 with the size.
    let part = http_client::request("GET", &url, &[("range", "bytes=100-199")], Vec::new()).await.unwrap();
    assert_eq!((part.status, part.body.as_slice()), (206, &data[100..200]));
    assert_eq!((header(&part, "content-range"), header(&part, "content-length")), ("bytes 100-199/10000", "100"));
    let tail = http_client::request("GET", &url, &[("range", "bytes=-10")], Vec::new()).await.unwrap();
    assert_eq!((tail.status, tail.body.as_slice()), (206, &data[9_990..]));
    let past = http_client::request("GET", &url, &[("range", "bytes=20000-")], Vec::new()).await.unwrap();
    assert_eq!((past.status, header(&past, "content-range")), (416, "bytes */10000"));
    // Several ranges, or a malformed one: the whole object, as RFC 9110 allows.
    for range in ["bytes=0-1,5-6", "lines=1-2", "bytes=9-3"] {
        let reply = http_client::request("GET", &url, &[("range", range)], Vec::new()).await.unwrap();
        assert_eq!((reply.status, reply.body.len()), (200, data.len()), "{range}");
    }

    // HEAD: the same headers, no body; conditional too.
    let head = http_client::request("HEAD", &url, &[], Vec::new()).await.unwrap();
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!((header(&head, "etag"), header(&head, "content-length"), header(&head, "content-type")), (etag.as_str(), "10000", "image/png"));
    let head = http_client::request("HEAD", &url, &[("if-none-match", etag.as_str())], Vec::new()).await.unwrap();
    assert_eq!(head.status, 304);
    let missing = http_client::request("HEAD", &format!("{base}/files/site/none.png"), &[], Vec::new()).await.unwrap();
    assert_eq!(missing.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn folders_are_listed_as_json_page_by_page() {
    if common::skip_on_memory("this one composes the file server with the S3 component") {
        return;
    }
    let t = Target::new("file-server-list").await;
    let server = serve(&t, &[], None).await;
    let base = server.url();
    let mut store = t.store("").await;
    for key in ["docs/a.txt", "docs/b.txt", "docs/img/x.png", "docs/img/y.png", "docs/z.txt", "top.txt"] {
        store.put(key, b"x", &host_test::put_options()).await.unwrap();
    }
    let reply = http_client::get(&format!("{base}/files/?prefix=docs/")).await.unwrap();
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let page = json(&reply);
    assert_eq!(page["folders"], serde_json::json!(["docs/img/"]));
    let keys: Vec<&str> = page["files"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["docs/a.txt", "docs/b.txt", "docs/z.txt"]);
    assert_eq!((page["files"][0]["size"].as_u64(), page["next"].is_null()), (Some(1), true));

    // Two at a time, following `next`.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let reply = http_client::get(&format!("{base}/files/?prefix=docs/&limit=2&after={after}")).await.unwrap();
        let page = json(&reply);
        seen.extend(page["folders"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()));
        seen.extend(page["files"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => after = next.replace('/', "%2F"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    let top = json(&http_client::get(&format!("{base}/files/")).await.unwrap());
    assert_eq!((top["folders"].clone(), top["files"][0]["key"].clone()), (serde_json::json!(["docs/"]), serde_json::json!("top.txt")));
    assert_eq!(http_client::get(&format!("{base}/files/?limit=0")).await.unwrap().status, 400);
}

/// `/download` sends the browser to S3 with the original file name as the attachment's.
#[tokio::test(flavor = "multi_thread")]
async fn the_download_redirect_saves_under_the_original_name() {
    if common::skip_on_memory("this one composes the file server with the S3 component")
        || common::servers::skip_without(common::servers::Capability::ResponseOverrides, "the attachment name a presigned URL asks for")
    {
        return;
    }
    let t = Target::new("file-server-download").await;
    let server = serve(&t, &[], None).await;
    let base = server.url();
    let (content_type, body) = form("file", "Année 2024.pdf", "application/pdf", b"%PDF");
    let reply = http_client::request("POST", &format!("{base}/upload"), &[("content-type", &content_type)], body).await.unwrap();
    assert_eq!(reply.status, 201);
    let key = json(&reply)["key"].as_str().unwrap().replace(' ', "%20");
    let redirect = http_client::get(&format!("{base}/files/{key}/download")).await.unwrap();
    assert_eq!(redirect.status, 302);
    let file = http_client::get(header(&redirect, "location")).await.unwrap();
    assert_eq!((file.status, file.body.as_slice()), (200, &b"%PDF"[..]));
    assert_eq!(header(&file, "content-disposition"), "attachment; filename=\"Ann_e 2024.pdf\"; filename*=UTF-8''Ann%C3%A9e%202024%2Epdf");
}

/// The WASI 0.3 file server serves many requests at once from one instance: 32 uploads and
/// 32 downloads in flight together (each a task of its own in the instance, the uploads'
/// bodies streaming into `put-stream`, the objects' streams into the responses), every byte
/// checked, and the uploads then read back.
#[tokio::test(flavor = "multi_thread")]
async fn the_0_3_file_server_serves_32_uploads_and_32_downloads_at_once_from_one_instance() {
    if common::skip_on_memory("this one composes the file server with the S3 component") {
        return;
    }
    let t = Target::new("file-server-p3-concurrent").await;
    let host = HostOptions { env: settings(&t), ..Default::default() };
    let server = HttpServer::start(composed_p3(), host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = server.url();
    // Sizes from a few bytes to past a part (8 MiB: a multipart upload, parts in flight).
    let size = |i: usize| match i % 8 {
        0 => 9 * MIB + i,
        1 => 3,
        _ => 40_000 * i + 7,
    };
    let seeded: Vec<(String, Vec<u8>)> = (0..32).map(|i| (format!("seed-{i}.bin"), bytes(size(i), 300 + i as u64))).collect();
    let fresh: Vec<(String, Vec<u8>)> = (0..32).map(|i| (format!("fresh-{i}.bin"), bytes(size(i + 3), 400 + i as u64))).collect();
    let mut s = open(t.config("")).await.unwrap();
    for (name, data) in &seeded {
        s.put(&format!("uploads/{name}"), data, &host_test::put_options()).await.unwrap();
    }

    // The instance made by a first request (a burst before it would start an instance per
    // request still waiting for one, as `wasmtime serve` does too).
    assert_eq!(http_client::get(&format!("{base}/files/?limit=1")).await.unwrap().status, 200);
    let mut all = tokio::task::JoinSet::new();
    for ((up, up_data), (down, down_data)) in fresh.clone().into_iter().zip(seeded) {
        let url = base.clone();
        all.spawn(async move {
            let base = url;
            let reply =
                http_client::request("POST", &format!("{base}/upload?key={up}"), &[("content-type", "application/x-test")], up_data.clone()).await.unwrap();
            assert_eq!(reply.status, 201, "{up}: {}", String::from_utf8_lossy(&reply.body));
            assert_eq!(json(&reply)["size"], up_data.len());
        });
        let base = base.clone();
        all.spawn(async move {
            let reply = http_client::get(&format!("{base}/files/uploads/{down}")).await.unwrap();
            assert_eq!(reply.status, 200, "{down}");
            assert_eq!((reply.body.len(), sha256(&reply.body)), (down_data.len(), sha256(&down_data)), "{down}");
        });
    }
    while let Some(done) = all.join_next().await {
        done.unwrap();
    }
    for (name, data) in &fresh {
        let reply = http_client::get(&format!("{base}/files/uploads/{name}")).await.unwrap();
        assert_eq!((reply.status, sha256(&reply.body)), (200, sha256(data)), "{name}");
        assert_eq!(header(&reply, "content-type"), "application/x-test");
    }
    assert_eq!(server.instances(), 1, "one instance served every request");
    common::assert_no_pending_uploads(&t, &mut s).await;
}

/// A 0.3 download is the object's checked stream: one whose bytes fail their checksum on
/// the way fails the response (cut short of its Content-Length), never a 200 of wrong
/// bytes that looks whole.
#[tokio::test(flavor = "multi_thread")]
async fn the_0_3_file_server_cuts_a_download_that_fails_its_checks_short() {
    if common::skip_on_memory("checksums of S3 transfers") {
        return;
    }
    let t = Target::new("file-server-p3-damaged").await;
    let data = bytes(2 * MIB + 5, 77);
    let mut s = open(t.config("")).await.unwrap();
    s.put("uploads/checked.bin", &data, &host_test::put_options()).await.unwrap();
    let host = HostOptions { env: settings(&t), ..Default::default() };
    let server = HttpServer::start(composed_p3(), host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let whole = http_client::get(&format!("{}/files/uploads/checked.bin", server.url())).await.unwrap();
    assert_eq!((whole.status, sha256(&whole.body)), (200, sha256(&data)));

    // One bit of every object body flipped on its way from the S3 server, the length unchanged.
    let fault = host_test::sender::Fault::Random { seed: 5, percent: 100, kind: host_test::sender::Mischief::FlippedBit };
    let host = HostOptions { env: settings(&t), fault: Some(fault), ..Default::default() };
    let damaged = HttpServer::start(composed_p3(), host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    match http_client::get(&format!("{}/files/uploads/checked.bin", damaged.url())).await {
        Err(_) => {}
        Ok(reply) => panic!("a damaged download looked whole: {} with {} of {} bytes", reply.status, reply.body.len(), data.len()),
    }
}

/// The wasmtime CLI the suite serves components with (`host-test/scripts/wasmtime-cli.sh`
/// installs 48.0.8 into the cache; `WASMTIME_CLI` names another), if there is one.
fn wasmtime_cli() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("WASMTIME_CLI") {
        return Some(path.into());
    }
    let cache = std::env::var_os("WASM_STORAGES_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cache/wasm-storages")))?;
    Some(cache.join("wasmtime-cli-48.0.8/bin/wasmtime")).filter(|path| path.is_file())
}

/// `wasmtime serve`, as people deploy the composed file server (README "Deploy it"), both
/// builds: uploads and downloads through it against the real server, several at once, bytes
/// checked. (The CLI serves a 0.3 service from one instance, many requests at once.)
#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_serve_runs_the_composed_file_server() {
    if common::skip_on_memory("this one composes the file server with the S3 component") {
        return;
    }
    let Some(wasmtime) = wasmtime_cli() else {
        eprintln!("skipped: no wasmtime CLI (host-test/scripts/wasmtime-cli.sh install puts 48.0.8 in the cache; .ci/run does)");
        return;
    };
    for (generation, wasm) in [("0.2", composed_p2()), ("0.3", composed_p3())] {
        let t = Target::new(&format!("wasmtime-serve-{}", generation.replace('.', ""))).await;
        wasmtime_serve(&wasmtime, wasm, &t, Given::Environment).await;
    }
}

/// The `proxy` composition, made as the README says: `examples/compose.sh --proxy` (the S3
/// component's and the file server's `proxy` builds, with `examples/proxy-adapter` plugged
/// into each; the build script has built them, so its cargo build has nothing to do).
fn composed_proxy() -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = std::process::Command::new(root.join("examples/compose.sh")).arg("--proxy").output().expect("running examples/compose.sh --proxy");
    assert!(out.status.success(), "examples/compose.sh --proxy failed: {}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let path = printed.lines().last().expect("compose.sh prints what it wrote");
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// For hosts that offer nothing beyond `wasi:http/proxy`: the `proxy` composition imports
/// that world's interfaces and `wasi:config/store` alone, and `wasmtime serve` runs it with
/// no `-Scli` (no environment, no filesystem), every setting given as runtime config
/// (`-Sconfig-var`, some keys in lowercase as Spin names variables).
#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_build_needs_only_the_proxy_world_and_runtime_config() {
    if common::skip_on_memory("this one composes the file server with the S3 component") {
        return;
    }
    let wasm = composed_proxy();
    let rt = host_test::runtime::Runtime::shared().unwrap();
    let component = wasmtime::component::Component::new(rt.engine(), &wasm).unwrap();
    let ty = component.component_type();
    let mut imports: Vec<String> = ty.imports(rt.engine()).map(|(name, _)| name.to_string()).collect();
    imports.sort();
    // `world proxy` of wit/deps/http/http.wit, and the runtime config.
    let mut allowed: Vec<String> = [
        "wasi:io/poll",
        "wasi:io/error",
        "wasi:io/streams",
        "wasi:clocks/monotonic-clock",
        "wasi:clocks/wall-clock",
        "wasi:random/random",
        "wasi:cli/stdin",
        "wasi:cli/stdout",
        "wasi:cli/stderr",
        "wasi:http/types",
        "wasi:http/outgoing-handler",
    ]
    .iter()
    .map(|name| format!("{name}@0.2.12"))
    .chain(["wasi:config/store@0.2.0-rc.1".to_string()])
    .collect();
    allowed.sort();
    let beyond: Vec<&String> = imports.iter().filter(|import| !allowed.contains(import)).collect();
    assert!(beyond.is_empty(), "imports beyond wasi:http/proxy and wasi:config/store: {beyond:?} (all: {imports:#?})");
    assert!(imports.contains(&"wasi:config/store@0.2.0-rc.1".to_string()), "{imports:?}");

    let Some(wasmtime) = wasmtime_cli() else {
        eprintln!("skipped the wasmtime serve part: no wasmtime CLI (host-test/scripts/wasmtime-cli.sh install puts 48.0.8 in the cache; .ci/run does)");
        return;
    };
    let t = Target::new("wasmtime-serve-proxy").await;
    wasmtime_serve(&wasmtime, &wasm, &t, Given::RuntimeConfig).await;
}

/// How `wasmtime serve` gives the composition its settings.
#[derive(Clone, Copy, PartialEq)]
enum Given {
    /// `-Scli --env NAME=VALUE`: the environment (and every wasi:cli interface).
    Environment,
    /// `-Sconfig -Sconfig-var=name=value`, nothing of wasi:cli but stdio: WASI runtime config.
    RuntimeConfig,
}

async fn wasmtime_serve(wasmtime: &std::path::Path, wasm: &[u8], t: &Target, given: Given) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file-server.wasm");
    std::fs::write(&path, wasm).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut serve = std::process::Command::new(wasmtime);
    serve.args(["serve", "--addr", &format!("127.0.0.1:{port}")]);
    let mut env = settings(t);
    env.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into()));
    match given {
        Given::Environment => {
            serve.arg("-Scli");
            for (name, value) in env {
                serve.arg("--env").arg(format!("{name}={value}"));
            }
        }
        Given::RuntimeConfig => {
            serve.arg("-Sconfig");
            // (`-S` takes comma-separated options: no value here has a comma.)
            for (i, (name, value)) in env.into_iter().enumerate() {
                assert!(!value.contains(','), "{name}");
                let name = if i % 2 == 0 { name.to_ascii_lowercase() } else { name };
                serve.arg(format!("-Sconfig-var={name}={value}"));
            }
        }
    }
    let child = serve.arg(&path).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Stopped however the test ends, a failed assertion included: no server is left running.
    let mut child = Stopped(child);
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            up = true;
            break;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
            panic!("wasmtime serve exited ({status}): {err}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "wasmtime serve never listened on {base}");

    let files: Vec<(String, Vec<u8>)> =
        (0..6).map(|i| (format!("served-{i}.bin"), bytes(if i == 0 { 12 * MIB } else { 200_000 + i * 1000 }, 40 + i as u64))).collect();
    let mut uploads = tokio::task::JoinSet::new();
    for (name, data) in files.clone() {
        let base = base.clone();
        uploads.spawn(async move {
            http_client::request("POST", &format!("{base}/upload?key={name}"), &[("content-type", "application/x-test")], data).await.unwrap()
        });
    }
    while let Some(reply) = uploads.join_next().await {
        let reply = reply.unwrap();
        assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    }
    let mut downloads = tokio::task::JoinSet::new();
    for (name, data) in files {
        let base = base.clone();
        downloads.spawn(async move { (http_client::get(&format!("{base}/files/uploads/{name}")).await.unwrap(), data) });
    }
    while let Some(joined) = downloads.join_next().await {
        let (reply, data) = joined.unwrap();
        assert_eq!((reply.status, sha256(&reply.body)), (200, sha256(&data)));
    }
    let missing = http_client::get(&format!("{base}/files/uploads/nope")).await.unwrap();
    assert_eq!(missing.status, 404);
}

/// A child process killed and reaped when dropped.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
