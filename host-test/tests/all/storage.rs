//! Every storage operation through the component, against a real SigV4-checking server
//! (the embedded s3s-fs by default, any S3 endpoint with `S3_TEST_*`; see `common`).

use crate::common;
use common::servers::Capability;

use common::{Target, bare_config, bytes, open, sha256, storage_error};
use host_test::{Error, HostOptions, PutOptions, Runtime, Storage};

fn opts(content_type: Option<&str>, metadata: &[(&str, &str)]) -> PutOptions {
    PutOptions {
        content_type: content_type.map(str::to_string),
        metadata: metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        size: None,
        condition: None,
        attributes: host_test::no_attributes(),
        tags: Vec::new(),
    }
}

fn plain() -> PutOptions {
    opts(None, &[])
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_and_content_type_round_trip() {
    let t = Target::new("metadata").await;
    let mut s = t.store("").await;
    let data = b"<html>hello</html>".to_vec();
    let meta = [("Original-Name", "résumé 😀.html"), ("uploaded-by", "user-123"), ("empty", "")];
    let put = s.put("pages/index.html", &data, &opts(Some("text/html; charset=utf-8"), &meta)).await.unwrap();
    let expected_meta: Vec<(String, String)> =
        vec![("empty".into(), "".into()), ("original-name".into(), "résumé 😀.html".into()), ("uploaded-by".into(), "user-123".into())];
    assert_eq!((put.key.as_str(), put.size, put.content_type.as_deref()), ("pages/index.html", data.len() as u64, Some("text/html; charset=utf-8")));
    assert_eq!(put.metadata, expected_meta);
    assert!(put.etag.is_some());

    let info = s.info("pages/index.html").await.unwrap();
    assert_eq!((info.key.as_str(), info.size, info.content_type.as_deref()), ("pages/index.html", data.len() as u64, Some("text/html; charset=utf-8")));
    assert_eq!(info.metadata, expected_meta);
    assert_eq!(info.etag, put.etag);
    let modified = info.last_modified.expect("HEAD has Last-Modified").seconds;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(modified.abs_diff(now) < 600, "last-modified {modified} vs now {now}");

    let mut got = Vec::new();
    let streamed = s
        .get("pages/index.html", |c| {
            let _: () = got.extend_from_slice(c);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(got, data);
    assert_eq!((streamed.content_type, streamed.metadata), (info.content_type, expected_meta));

    // Without a content type the object is application/octet-stream, both ways.
    let put = s.put("raw.bin", &[0, 1, 2], &plain()).await.unwrap();
    assert_eq!(put.content_type.as_deref(), Some("application/octet-stream"));
    assert_eq!(s.info("raw.bin").await.unwrap().content_type.as_deref(), Some("application/octet-stream"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_metadata_is_refused_before_sending() {
    let t = Target::new("bad-metadata").await;
    let mut s = t.store("").await;
    for bad in [opts(None, &[("a b", "v")]), opts(None, &[("k", "v"), ("K", "w")]), opts(Some("text/plain\r\nx-evil: 1"), &[])] {
        assert!(matches!(storage_error(s.put("k", b"x", &bad).await), Error::InvalidArgument(_)));
    }
    assert!(!s.exists("k").await.unwrap(), "a refused put must not leave an object");
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_get_of_a_multi_mib_object_equals_what_was_put() {
    let t = Target::new("stream").await;
    let mut s = t.store("").await;
    let data = bytes(6 * 1024 * 1024 + 123, 7);
    s.put("big.bin", &data, &plain()).await.unwrap();

    let (mut chunks, mut received) = (0usize, Vec::new());
    let info = s
        .get("big.bin", |chunk| {
            chunks += 1;
            received.extend_from_slice(chunk);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(sha256(&received), sha256(&data));
    assert!(chunks > 1, "the body should arrive in pieces, got {chunks} chunk(s)");
    assert_eq!(sha256(&s.get_bytes("big.bin").await.unwrap()), sha256(&data));

    // An empty object is an object too.
    s.put("empty", b"", &plain()).await.unwrap();
    assert_eq!(s.get_bytes("empty").await.unwrap(), b"");
    assert_eq!(s.info("empty").await.unwrap().size, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_follows_continuation_tokens_in_order_relative_to_the_prefix() {
    let t = Target::new("list").await;
    const N: usize = 1050;
    // Four instances upload in parallel to keep the test quick.
    let mut tasks = Vec::new();
    for part in 0..4 {
        let config = t.config("app/");
        tasks.push(tokio::spawn(async move {
            let mut s = open(config).await.unwrap();
            for i in (part..N).step_by(4) {
                s.put(&format!("many/{i:05}"), format!("{i}").as_bytes(), &plain()).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut s = t.store("app/").await;
    s.put("other/x", b"x", &plain()).await.unwrap();
    s.put("manyx", b"x", &plain()).await.unwrap();

    let expected: Vec<String> = (0..N).map(|i| format!("many/{i:05}")).collect();
    let mut pages = 0;
    let mut listed = Vec::new();
    s.list_pages("many/", &host_test::list_options(None), |page| {
        pages += 1;
        assert!(page.len() <= 1000);
        listed.extend(page.into_iter().map(|e| match e {
            host_test::Entry::File(f) => f,
            other => panic!("not a file: {other:?}"),
        }));
        Ok(())
    })
    .await
    .unwrap();
    assert!(pages >= 2, "1,050 keys need more than one page, got {pages}");
    assert_eq!(listed.iter().map(|f| f.key.clone()).collect::<Vec<_>>(), expected);
    assert_eq!(listed[17].size, 2);
    assert!(listed[17].last_modified.is_some());

    for limit in [1, 7, 1000, 1001] {
        let keys: Vec<String> = s.list("many/", Some(limit)).await.unwrap().into_iter().map(|f| f.key).collect();
        assert_eq!(keys, expected[..limit as usize], "limit {limit}");
    }
    assert!(s.list("many/", Some(0)).await.unwrap().is_empty());
    let all: Vec<String> = s.list("", None).await.unwrap().into_iter().map(|f| f.key).collect();
    assert_eq!(all.len(), N + 2);
    assert_eq!((all[0].as_str(), all[N].as_str(), all[N + 1].as_str()), ("many/00000", "manyx", "other/x"));
    assert!(s.list("nothing-here/", None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn stores_with_different_prefixes_cannot_see_or_touch_each_other() {
    let t = Target::new("tenants").await;
    // "tenant-a" is a folder: it must not match "tenant-ab/..." either.
    let mut a = t.store("tenant-a").await;
    let mut ab = t.store("tenant-ab").await;
    let mut root = t.store("").await;

    a.put("secret.txt", b"a's data", &plain()).await.unwrap();
    assert!(!ab.exists("secret.txt").await.unwrap());
    assert!(matches!(storage_error(ab.get_bytes("secret.txt").await), Error::NotFound(k) if k == "secret.txt"));
    assert!(matches!(storage_error(ab.copy("secret.txt", "stolen.txt").await), Error::NotFound(_)));
    assert!(ab.list("", None).await.unwrap().is_empty());
    ab.delete("secret.txt").await.unwrap();
    assert_eq!(a.get_bytes("secret.txt").await.unwrap(), b"a's data");

    ab.put("secret.txt", b"ab's data", &plain()).await.unwrap();
    assert_eq!(a.get_bytes("secret.txt").await.unwrap(), b"a's data");
    assert_eq!(a.list("", None).await.unwrap().into_iter().map(|f| f.key).collect::<Vec<_>>(), ["secret.txt"]);
    let everything: Vec<String> = root.list("", None).await.unwrap().into_iter().map(|f| f.key).collect();
    assert_eq!(everything, ["tenant-a/secret.txt", "tenant-ab/secret.txt"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_that_could_escape_the_prefix_are_invalid() {
    let t = Target::new("traversal").await;
    let mut s = t.store("jail/").await;
    s.put("inside", b"x", &plain()).await.unwrap();
    // Traversal in every form a server might normalize: `\\` separates on Windows, NFKC
    // makes `．．` (fullwidth) and `‥` (U+2025) into `..`; empty segments alias other keys.
    let bad = [
        "..",
        ".",
        "../x",
        "../../etc/passwd",
        "a/../../b",
        "a/./b",
        "a/..",
        "/abs",
        "/",
        "",
        "ctl\u{1}",
        "nul\u{0}",
        "a\\..\\b",
        "..\\x",
        "\u{FF0E}\u{FF0E}",
        "a/\u{FF0E}\u{FF0E}/b",
        "\u{2024}\u{2024}",
        "x/\u{2025}",
        "a\u{FF0F}..",
        "a//b",
        "a/",
        "//a",
        "dir/",
    ];
    for key in bad {
        let is_invalid = |e: Error| matches!(e, Error::InvalidKey(_));
        assert!(is_invalid(storage_error(s.put(key, b"x", &plain()).await)), "put {key:?}");
        assert!(is_invalid(storage_error(s.get_bytes(key).await)), "get-bytes {key:?}");
        assert!(is_invalid(storage_error(s.get(key, |_| Ok(())).await)), "get {key:?}");
        assert!(is_invalid(storage_error(s.info(key).await)), "info {key:?}");
        assert!(is_invalid(storage_error(s.exists(key).await)), "exists {key:?}");
        assert!(is_invalid(storage_error(s.delete(key).await)), "delete {key:?}");
        assert!(is_invalid(storage_error(s.url(key, None).await)), "url {key:?}");
        assert!(is_invalid(storage_error(s.copy("inside", key).await)), "copy to {key:?}");
        assert!(is_invalid(storage_error(s.copy(key, "inside2").await)), "copy from {key:?}");
        assert!(is_invalid(storage_error(s.move_("inside", key).await)), "move to {key:?}");
    }
    for prefix in ["..", "../x", "/", "/abs", "a/../", "a//", "\u{FF0E}\u{FF0E}/"] {
        assert!(matches!(storage_error(s.list(prefix, None).await), Error::InvalidKey(_)), "list {prefix:?}");
        assert!(matches!(storage_error(s.pending_uploads(prefix).await), Error::InvalidKey(_)), "pending-uploads {prefix:?}");
    }
    let too_long = "k".repeat(1025 - t.root.len() - "jail/".len());
    assert!(matches!(storage_error(s.put(&too_long, b"x", &plain()).await), Error::InvalidKey(_)));
    let mut root = t.store("").await;
    assert_eq!(root.list("", None).await.unwrap().into_iter().map(|f| f.key).collect::<Vec<_>>(), ["jail/inside"]);
}

const SPECIAL_KEYS: &[&str] = &[
    "with space.txt",
    "plus+sign",
    "percent%20literal%",
    "question?mark",
    "hash#tag",
    "emoji 😀/ünïcødé/日本語.txt",
    "amp&eq=semi;colon:at@",
    "tilde~star*bang!",
    "quotes'\"back\\slash",
    "brackets[]{}()<>",
    "comma,dollar$caret^pipe|",
    "dots/...hidden/.x/x.",
    "look\u{2215}alike\u{FF0E}dots\u{2026}",
];

#[tokio::test(flavor = "multi_thread")]
async fn special_character_and_unicode_keys_round_trip() {
    let t = Target::new("special").await;
    let mut s = t.store("").await;
    let keys = SPECIAL_KEYS.to_vec();
    for (i, key) in keys.iter().enumerate() {
        let data = format!("object {i}: {key}").into_bytes();
        let put = s.put(key, &data, &opts(Some("text/plain"), &[])).await.unwrap_or_else(|e| panic!("put {key:?}: {e}"));
        assert_eq!(put.key, *key);
        assert_eq!(s.get_bytes(key).await.unwrap_or_else(|e| panic!("get {key:?}: {e}")), data, "{key:?}");
        assert_eq!(s.info(key).await.unwrap().key, *key);

        let copy = format!("copies/{key}");
        assert_eq!(s.copy(key, &copy).await.unwrap_or_else(|e| panic!("copy {key:?}: {e}")).key, copy);
        assert_eq!(s.get_bytes(&copy).await.unwrap(), data, "copy of {key:?}");

        let url = s.url(key, None).await.unwrap();
        // (The memory backend's URLs can't be fetched.)
        if !common::memory_backend() {
            let reply = host_test::http_client::get(&url).await.unwrap();
            assert_eq!((reply.status, reply.body), (200, data), "presigned GET of {key:?}: {url}");
        }
    }
    let mut listed: Vec<String> = s.list("", None).await.unwrap().into_iter().map(|f| f.key).collect();
    let mut expected: Vec<String> = keys.iter().flat_map(|k| [k.to_string(), format!("copies/{k}")]).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    let emoji: Vec<String> = s.list("emoji 😀/", None).await.unwrap().into_iter().map(|f| f.key).collect();
    assert_eq!(emoji, ["emoji 😀/ünïcødé/日本語.txt"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn presigned_urls_work_for_plain_http_and_tampering_is_refused() {
    if common::skip_on_memory("the memory backend's URLs (memory://) can't be fetched over HTTP") {
        return;
    }
    let t = Target::new("presign").await;
    let mut config = t.config("");
    config.presigned_expiry = Some(120);
    let mut s = open(config).await.unwrap();
    s.put("doc.pdf", b"%PDF-1.7 hello", &opts(Some("application/pdf"), &[])).await.unwrap();

    let url = s.url("doc.pdf", None).await.unwrap();
    assert!(url.contains("X-Amz-Expires=120"), "{url}");
    assert!(!url.contains(&t.secret_key), "the secret must never be in a URL");
    let reply = host_test::http_client::get(&url).await.unwrap();
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"%PDF-1.7 hello"[..]));
    assert_eq!(reply.headers.get("content-type").unwrap(), "application/pdf");

    let custom = s.url("doc.pdf", Some(30)).await.unwrap();
    assert!(custom.contains("X-Amz-Expires=30"), "{custom}");

    // A changed signature, a changed key and a longer expiry are all refused.
    if common::servers::skip_without(Capability::ChecksSignatures, "tampered URLs") {
        return;
    }
    let sig_at = url.rfind("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.clone();
    let flipped = if &url[sig_at..sig_at + 1] == "0" { "1" } else { "0" };
    tampered.replace_range(sig_at..sig_at + 1, flipped);
    let other_key = url.replace("doc.pdf", "doc.pdX");
    let longer = url.replace("X-Amz-Expires=120", "X-Amz-Expires=604800");
    for bad in [tampered, other_key, longer] {
        let status = host_test::http_client::get(&bad).await.unwrap().status;
        assert_eq!(status, 403, "{bad}");
    }

    assert!(matches!(storage_error(s.url("doc.pdf", Some(7 * 24 * 3600 + 1)).await), Error::InvalidArgument(_)));
    assert!(matches!(storage_error(s.url("doc.pdf", Some(0)).await), Error::InvalidArgument(_)));
    assert!(s.url("doc.pdf", Some(7 * 24 * 3600)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secret_is_access_denied_not_absence() {
    if common::skip_on_memory("the memory backend takes no credentials") {
        return;
    }
    if common::servers::skip_without(Capability::ChecksSignatures, "a wrong secret") {
        return;
    }
    let t = Target::new("denied").await;
    let mut good = t.store("").await;
    good.put("k", b"v", &plain()).await.unwrap();
    let mut config = t.config("");
    config.secret_access_key = Some(format!("{}x", t.secret_key));
    let mut bad = open(config).await.unwrap();
    for err in [
        storage_error(bad.put("k2", b"v", &plain()).await),
        storage_error(bad.get_bytes("k").await),
        storage_error(bad.info("k").await),
        storage_error(bad.exists("k").await),
        storage_error(bad.list("", None).await),
    ] {
        match err {
            Error::AccessDenied(e) => {
                assert_eq!(e.status, 403);
                assert!(!format!("{e:?}").contains(&t.secret_key), "no secret in errors");
            }
            other => panic!("expected access-denied, got {other:?}"),
        }
    }
    assert!(!good.exists("k2").await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_keys_are_not_found_and_delete_is_idempotent() {
    let t = Target::new("missing").await;
    let mut s = t.store("p").await;
    let not_found = |e: Error| matches!(e, Error::NotFound(k) if k == "nope/a b.txt");
    assert!(not_found(storage_error(s.get_bytes("nope/a b.txt").await)));
    assert!(not_found(storage_error(s.get("nope/a b.txt", |_| Ok(())).await)));
    assert!(not_found(storage_error(s.info("nope/a b.txt").await)));
    assert!(not_found(storage_error(s.copy("nope/a b.txt", "dst").await)));
    assert!(not_found(storage_error(s.move_("nope/a b.txt", "dst").await)));
    assert!(!s.exists("nope/a b.txt").await.unwrap());
    assert!(!s.exists("dst").await.unwrap(), "a failed copy leaves nothing");
    s.delete("nope/a b.txt").await.unwrap();

    s.put("here", b"1", &plain()).await.unwrap();
    assert!(s.exists("here").await.unwrap());
    s.delete("here").await.unwrap();
    s.delete("here").await.unwrap();
    assert!(!s.exists("here").await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_is_a_service_error_not_a_missing_key() {
    if common::skip_on_memory("in memory a bucket exists once a store is opened on it") {
        return;
    }
    let t = Target::new("no-bucket").await;
    let mut config = t.config("");
    config.bucket = "wasm-storages-no-such-bucket".into();
    let mut s = open(config).await.unwrap();
    // (Listing, not PUT or GET: s3s-fs creates bucket directories on PUT and answers GET
    // with NoSuchKey. The NoSuchBucket-is-not-not-found mapping has a unit test.)
    match storage_error(s.list("", None).await) {
        Error::Service(e) => assert_eq!((e.status, e.code.as_str()), (404, "NoSuchBucket")),
        Error::AccessDenied(e) => assert_eq!(e.status, 403), // some servers hide unknown buckets
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn buckets_are_created_and_deleted_only_when_empty() {
    if common::skip_on_memory("in memory every bucket exists (see examples/memory-storage)") {
        return;
    }
    let t = Target::new("buckets").await;
    let mut config = t.config("");
    // Outside us-east-1 (Garage's region is `garage`) the request names the region.
    config.bucket = common::unique_bucket(&t, "bucket");
    let mut s = open(config).await.unwrap();
    if !common::bucket_created(&t, s.create_bucket().await) {
        return;
    }
    if common::servers::lacks(Capability::RefusesRecreatingOwnedBuckets).is_some() {
        s.create_bucket().await.expect("re-creating an owned bucket where the server answers 200");
    } else {
        assert!(matches!(storage_error(s.create_bucket().await), Error::AlreadyExists(b) if b.starts_with("ws-bucket-")));
    }
    assert!(s.list("", None).await.unwrap().is_empty());
    s.put("k", b"v", &plain()).await.unwrap();
    match storage_error(s.delete_bucket().await) {
        Error::Service(e) => assert_eq!((e.status, e.code.as_str()), (409, "BucketNotEmpty")),
        other => panic!("{other:?}"),
    }
    s.delete("k").await.unwrap();
    s.delete_bucket().await.unwrap();
    match storage_error(s.list("", None).await) {
        Error::Service(e) => assert_eq!(e.code, "NoSuchBucket"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_and_move_keep_content_type_and_metadata() {
    let t = Target::new("copy").await;
    let mut s = t.store("").await;
    let meta = [("original-name", "draft.md"), ("uploaded-by", "user-123")];
    s.put("drafts/post.md", b"# Title", &opts(Some("text/markdown"), &meta)).await.unwrap();

    let copied = s.copy("drafts/post.md", "published/post.md").await.unwrap();
    assert_eq!((copied.key.as_str(), copied.size, copied.content_type.as_deref()), ("published/post.md", 7, Some("text/markdown")));
    assert_eq!(copied.metadata, [("original-name".to_string(), "draft.md".to_string()), ("uploaded-by".to_string(), "user-123".to_string())]);
    assert_eq!(s.get_bytes("drafts/post.md").await.unwrap(), b"# Title", "copy keeps the source");

    let moved = s.move_("drafts/post.md", "archive/post.md").await.unwrap();
    assert_eq!((moved.content_type.as_deref(), moved.metadata.len()), (Some("text/markdown"), 2));
    assert!(!s.exists("drafts/post.md").await.unwrap(), "move removes the source");
    assert_eq!(s.get_bytes("archive/post.md").await.unwrap(), b"# Title");

    // Onto itself: nothing to do, nothing lost.
    assert_eq!(s.copy("archive/post.md", "archive/post.md").await.unwrap().size, 7);
    assert_eq!(s.move_("archive/post.md", "archive/post.md").await.unwrap().size, 7);
    assert!(s.exists("archive/post.md").await.unwrap());

    // Overwrite replaces data and metadata.
    s.put("archive/post.md", b"new", &opts(Some("text/plain"), &[])).await.unwrap();
    let info = s.info("archive/post.md").await.unwrap();
    assert_eq!((info.size, info.content_type.as_deref(), info.metadata.len()), (3, Some("text/plain"), 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_configs_are_refused_by_open() {
    if common::skip_on_memory("endpoint, region, credential and bucket-name rules are the S3 component's (the memory one checks bucket, prefix and expiry)") {
        return;
    }
    let t = Target::new("config").await;
    let cases: Vec<(&str, host_test::Config)> = vec![
        ("bucket is required", bare_config("")),
        ("lowercase", {
            let mut c = t.config("");
            c.bucket = "Bad_Bucket".into();
            c
        }),
        ("3 to 63", {
            let mut c = t.config("");
            c.bucket = "ab".into();
            c
        }),
        ("http or https", {
            let mut c = t.config("");
            c.endpoint_url = Some("ftp://127.0.0.1".into());
            c
        }),
        ("no path", {
            let mut c = t.config("");
            c.endpoint_url = Some("http://127.0.0.1:9000/x".into());
            c
        }),
        ("7 days", {
            let mut c = t.config("");
            c.presigned_expiry = Some(8 * 24 * 3600);
            c
        }),
        ("max-pool-connections", {
            let mut c = t.config("");
            c.max_pool_connections = Some(0);
            c
        }),
        ("secret-access-key is not", {
            let mut c = t.config("");
            c.secret_access_key = None;
            c
        }),
        ("must not start with '/'", {
            let mut c = t.config("");
            c.prefix = Some("/abs".into());
            c
        }),
        ("'..'", {
            let mut c = t.config("");
            c.prefix = Some("a/../b".into());
            c
        }),
        ("region", {
            let mut c = t.config("");
            c.region = Some("us east 1".into());
            c
        }),
    ];
    for (why, config) in cases {
        match storage_error(open(config).await) {
            Error::InvalidConfig(msg) => {
                assert!(msg.contains(why), "expected {why:?} in {msg:?}");
                assert!(!msg.contains(&t.secret_key));
            }
            other => panic!("expected invalid-config ({why}), got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_region_and_endpoint_come_from_the_environment() {
    let t = Target::new("env").await;
    let env = vec![
        ("AWS_ACCESS_KEY_ID".to_string(), t.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), t.secret_key.clone()),
        ("AWS_DEFAULT_REGION".to_string(), t.region.clone()),
        ("AWS_ENDPOINT_URL".to_string(), t.endpoint.clone()),
    ];
    let mut config = bare_config(&t.bucket);
    config.prefix = Some(t.root.clone());
    let host = HostOptions { env, ..Default::default() };
    let mut s = Storage::open(Runtime::shared().unwrap(), &host, config).await.unwrap();
    s.put("from-env", b"ok", &plain()).await.unwrap();
    assert_eq!(s.get_bytes("from-env").await.unwrap(), b"ok");

    // Only the AWS_* variables the component reads are forwarded.
    let forwarded = HostOptions::from_process_env();
    assert!(forwarded.env.iter().all(|(k, _)| host_test::runtime::FORWARDED_ENV.contains(&k.as_str())));
}

/// Always against the embedded server in its self-signed TLS mode, whatever the target:
/// no S3 service hands out a certificate we can choose to distrust.
#[tokio::test(flavor = "multi_thread")]
async fn verify_ssl_is_enforced_by_the_host() {
    if common::skip_on_memory("the memory backend makes no connections") {
        return;
    }
    use host_test::testkit::s3_server::{self, EmbeddedS3, ServerOptions};
    let server = EmbeddedS3::start_with(ServerOptions { tls: true, ..Default::default() }).await.unwrap();
    assert!(server.endpoint.starts_with("https://"));
    let mut config = server.config("");
    let rt = Runtime::shared().unwrap();

    // Refused by default: on a new connection each time, and through the pool.
    for pool in [None, Some(2)] {
        let mut verified = Storage::open(rt, &HostOptions { connection_pool: pool, ..Default::default() }, config.clone()).await.unwrap();
        match storage_error(verified.put("k", b"v", &plain()).await) {
            Error::Transport(msg) => assert!(msg.to_lowercase().contains("tls") || msg.contains("certificate"), "pool {pool:?}: {msg}"),
            other => panic!("pool {pool:?}: a self-signed certificate must be refused by default, got {other:?}"),
        }
    }

    config.verify_ssl = Some(false);
    let mut insecure = Storage::open(rt, &HostOptions { insecure_tls: true, ..Default::default() }, config).await.unwrap();
    insecure.put("k", b"over tls", &plain()).await.unwrap();
    assert_eq!(insecure.get_bytes("k").await.unwrap(), b"over tls");
    assert!(server.dir.join(s3_server::BUCKET).join("k").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_values_never_traps() {
    // A store keeps working after every kind of error.
    let t = Target::new("resilience").await;
    let mut s = t.store("").await;
    let _ = s.get_bytes("missing").await;
    let _ = s.put("..", b"", &plain()).await;
    let _ = s.url("x", Some(0)).await;
    s.put("after", b"still fine", &plain()).await.unwrap();
    assert_eq!(s.get_bytes("after").await.unwrap(), b"still fine");
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn range_reads_first_middle_suffix_and_past_the_end() {
    use host_test::{ByteRange, Span};
    let t = Target::new("ranges").await;
    let mut s = t.store("").await;
    let data = bytes(3 * 1024 * 1024 + 7, 11);
    let size = data.len() as u64;
    s.put("obj", &data, &plain()).await.unwrap();

    let cases = [
        (ByteRange::Span(Span { start: 0, end: 100 }), 0..100),
        (ByteRange::Span(Span { start: 1_000_000, end: 2_500_001 }), 1_000_000..2_500_001),
        (ByteRange::Span(Span { start: size - 10, end: size + 1000 }), data.len() - 10..data.len()),
        (ByteRange::StartingAt(size - 5), data.len() - 5..data.len()),
        (ByteRange::Last(17), data.len() - 17..data.len()),
    ];
    for (range, expected) in cases {
        let mut got = Vec::new();
        let (info, span) = s
            .get_range("obj", Some(range), |c| {
                let _: () = got.extend_from_slice(c);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(got, data[expected.clone()], "{range:?}");
        assert_eq!(info.size, size, "info has the whole object's size for {range:?}");
        let span = span.expect("a range response says which bytes it carries");
        assert_eq!((span.start, span.end), (expected.start as u64, expected.end as u64), "{range:?}");
    }

    // First bytes arrive before the rest: a reader can stop early.
    let mut first = None;
    s.get("obj", |c| {
        first.get_or_insert_with(|| c.to_vec());
        Ok(())
    })
    .await
    .unwrap();
    assert!(first.unwrap().len() < data.len());

    for past in [ByteRange::Span(Span { start: size, end: size + 10 }), ByteRange::StartingAt(size + 100)] {
        match storage_error(s.get_range("obj", Some(past), |_| Ok(())).await) {
            Error::RangeNotSatisfiable(reported) => assert!(reported.is_none() || reported == Some(size), "{reported:?}"),
            other => panic!("{past:?}: {other:?}"),
        }
    }
    for empty in [ByteRange::Span(Span { start: 5, end: 5 }), ByteRange::Last(0)] {
        assert!(matches!(storage_error(s.get_range("obj", Some(empty), |_| Ok(())).await), Error::InvalidArgument(_)));
    }
    assert!(matches!(storage_error(s.get_range("missing", Some(ByteRange::Last(1)), |_| Ok(())).await), Error::NotFound(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn presigned_put_lets_a_plain_http_client_upload() {
    if common::skip_on_memory("the memory backend's URLs (memory://) can't be fetched over HTTP") {
        return;
    }
    let t = Target::new("presign-put").await;
    let mut s = t.store("uploads").await;

    let url = s.presigned_put_url("incoming/a b.bin", Some(300), None).await.unwrap();
    assert!(!url.contains(&t.secret_key));
    let reply = host_test::http_client::request("PUT", &url, &[], b"uploaded by a browser".to_vec()).await.unwrap();
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(s.get_bytes("incoming/a b.bin").await.unwrap(), b"uploaded by a browser");

    // A content type bound into the URL must be sent exactly.
    if common::servers::skip_without(Capability::ChecksSignatures, "URLs used for what they were not signed for") {
        return;
    }
    let url = s.presigned_put_url("incoming/pic.png", Some(300), Some("image/png")).await.unwrap();
    let wrong = host_test::http_client::request("PUT", &url, &[("content-type", "text/html")], b"<script>".to_vec()).await.unwrap();
    assert_eq!(wrong.status, 403);
    assert!(!s.exists("incoming/pic.png").await.unwrap());
    let right = host_test::http_client::request("PUT", &url, &[("content-type", "image/png")], b"\x89PNG".to_vec()).await.unwrap();
    assert_eq!(right.status, 200);
    assert_eq!(s.info("incoming/pic.png").await.unwrap().content_type.as_deref(), Some("image/png"));

    // A GET URL doesn't allow a PUT, nor a PUT URL a GET of another key.
    let get_url = s.url("incoming/pic.png", None).await.unwrap();
    assert_eq!(host_test::http_client::request("PUT", &get_url, &[], b"x".to_vec()).await.unwrap().status, 403);
    let bad = host_test::UrlOptions { content_type: Some("text/plain".into()), ..host_test::url_options() };
    assert!(matches!(storage_error(s.url_with("k", bad).await), Error::InvalidArgument(_)));
}

/// The benchmarks' simulated far server (`sender::Shaping`) really is far: every request
/// waits a round trip, a new connection one more, and a body moves no faster than the
/// bandwidth. (Lower bounds only: a loaded machine is slower, never faster.)
#[tokio::test(flavor = "multi_thread")]
async fn the_simulated_wide_area_path_delays_and_throttles() {
    if common::skip_on_memory("the memory backend makes no connections") {
        return;
    }
    let t = Target::new("shaping").await;
    let shaping = host_test::sender::Shaping { rtt: std::time::Duration::from_millis(80), bits_per_second: 8_000_000 };
    let data = bytes(256 * 1024, 3);
    for (pool, least_ms) in [(None, 160), (Some(2), 80)] {
        let host = HostOptions { shaping: Some(shaping), connection_pool: pool, ..Default::default() };
        let mut s = Storage::open(Runtime::shared().unwrap(), &host, t.config("")).await.unwrap();
        s.put("warm", b"x", &plain()).await.unwrap();
        let start = std::time::Instant::now();
        s.put("small", b"x", &plain()).await.unwrap();
        let small = start.elapsed();
        assert!(small.as_millis() >= least_ms, "pool {pool:?}: a small PUT took {small:?}");
        // 256 KiB at 1 MB/s: at least 0.26 s on top, each way.
        let start = std::time::Instant::now();
        s.put("big", &data, &plain()).await.unwrap();
        assert_eq!(s.get_bytes("big").await.unwrap(), data);
        let big = start.elapsed();
        assert!(big.as_millis() >= 2 * least_ms + 2 * 262, "pool {pool:?}: 256 KiB up and down took {big:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_reuses_connections_when_asked() {
    if common::skip_on_memory("the memory backend makes no connections") {
        return;
    }
    use host_test::testkit::s3_server::{EmbeddedS3, ServerOptions};
    // Always the embedded server: it counts the connections it accepts. Plain http, and
    // https (self-signed: the host told to accept it).
    for tls in [false, true] {
        let server = EmbeddedS3::start_with(ServerOptions { tls, ..Default::default() }).await.unwrap();
        let mut config = server.config("");
        config.verify_ssl = Some(!tls);
        let rt = Runtime::shared().unwrap();

        let host = HostOptions { connection_pool: Some(4), insecure_tls: tls, ..Default::default() };
        let mut pooled = Storage::open(rt, &host, config.clone()).await.unwrap();
        let data = bytes(3 * 1024 * 1024, 9);
        for i in 0..20 {
            pooled.put(&format!("k{i}"), &data[..1000 + i], &plain()).await.unwrap();
            assert_eq!(pooled.get_bytes(&format!("k{i}")).await.unwrap(), data[..1000 + i]);
        }
        pooled.put("big", &data, &plain()).await.unwrap();
        let mut got = Vec::new();
        pooled
            .get("big", |c| {
                let _: () = got.extend_from_slice(c);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(got, data);
        assert_eq!(pooled.list("", None).await.unwrap().len(), 21);
        let reused = server.connections();
        assert!(reused <= 4, "tls {tls}: 43 requests over a pool of 4 took {reused} connections");

        let mut fresh = Storage::open(rt, &HostOptions { insecure_tls: tls, ..Default::default() }, config).await.unwrap();
        for i in 0..10 {
            fresh.info(&format!("k{i}")).await.unwrap();
        }
        assert_eq!(server.connections() - reused, 10, "tls {tls}: without a pool, one connection per request");
    }
}

/// `read` with any `max` (even u64::MAX) gives the object, then the end, and the end again.
#[tokio::test(flavor = "multi_thread")]
async fn checked_reads_take_any_max_and_stay_ended() {
    let t = Target::new("read-max").await;
    let mut s = t.store("").await;
    let data = common::bytes(200_000, 3);
    s.put("k", &data, &opts(None, &[])).await.unwrap();
    for max in [1, 4096, u64::MAX] {
        let (first, again) = s.read_then_again("k", max).await.unwrap();
        assert_eq!(first.unwrap(), data, "max {max}");
        assert!(again.unwrap().is_empty(), "max {max}");
    }
}

/// Keys that name one object on a server that maps keys to paths (s3s-fs, MinIO: `a//b`
/// is the file `a/b`) are refused, so a move can never delete the copy it just made, nor
/// a delete or a store prefix reach another key.
#[tokio::test(flavor = "multi_thread")]
async fn keys_a_server_folds_together_never_alias() {
    let t = Target::new("alias").await;
    let mut s = t.store("").await;
    s.put("a/b", b"kept", &plain()).await.unwrap();
    for other in ["a//b", "a/b/", "a\\b", "a\u{FF0F}b"] {
        let e = storage_error(s.move_("a/b", other).await);
        assert!(matches!(e, Error::InvalidKey(_)), "mv a/b {other:?}: {e:?}");
        assert!(matches!(storage_error(s.copy("a/b", other).await), Error::InvalidKey(_)), "cp a/b {other:?}");
        assert_eq!(s.get_bytes("a/b").await.unwrap(), b"kept", "after mv and cp to {other:?}");
    }
    for alias in ["a//b", "a/b/", "a/./b"] {
        assert!(matches!(storage_error(s.delete(alias).await), Error::InvalidKey(_)), "rm {alias:?}");
    }
    // `a\\b` is a key of its own where `\\` separates nothing: removing it (it isn't
    // there) leaves `a/b` alone.
    s.delete("a\\b").await.unwrap();
    assert_eq!(s.get_bytes("a/b").await.unwrap(), b"kept");
    // A real move still moves.
    s.move_("a/b", "a/c").await.unwrap();
    assert_eq!(s.get_bytes("a/c").await.unwrap(), b"kept");
    assert!(!s.exists("a/b").await.unwrap());

    // A store prefix with an empty segment is refused, not taken as the shorter one.
    let mut tenant = t.store("tenant-a").await;
    tenant.put("secret", b"a's", &plain()).await.unwrap();
    for prefix in ["tenant-a//", "//tenant-a", "tenant-a/./", "tenant-a\\..\\x"] {
        let e = common::open(t.config(prefix)).await.map(|_| ());
        assert!(matches!(storage_error(e), Error::InvalidConfig(_)), "prefix {prefix:?}");
    }
}

/// Every metadata value comes back byte for byte as written: values that look like RFC
/// 2047 encoded words, long non-ASCII ones (which some servers return as several encoded
/// words), empty ones, white space at either end, control characters.
#[tokio::test(flavor = "multi_thread")]
async fn metadata_values_come_back_exactly_as_written() {
    let t = Target::new("metadata-exact").await;
    let mut s = t.store("").await;
    let long = "ü".repeat(200);
    let values: Vec<(&str, &str)> = vec![
        ("looks-encoded", "=?UTF-8?B?PHNjcmlwdD4=?="),
        ("looks-encoded-twice", "=?UTF-8?B?eA==?= =?UTF-8?Q?y?="),
        ("starts-like-one", "=?"),
        ("holds-one", "a =?UTF-8?B?eA==?= b"),
        ("long", &long),
        ("cjk", "日本語のファイル名.pdf"),
        ("empty", ""),
        ("spaces", "  both ends  "),
        ("tab", "a\tb"),
        ("mark", "\u{FEFF}x"),
        ("plain", "user-123"),
    ];
    let options = PutOptions { metadata: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..plain() };
    let mut expected: Vec<(String, String)> = options.metadata.clone();
    expected.sort();
    let put = s.put("meta.bin", b"x", &options).await.unwrap();
    assert_eq!(put.metadata, expected);
    assert_eq!(s.info("meta.bin").await.unwrap().metadata, expected, "as HEAD returns it");
    assert_eq!(s.get("meta.bin", |_| Ok(())).await.unwrap().metadata, expected, "as GET returns it");
    s.copy("meta.bin", "copied.bin").await.unwrap();
    assert_eq!(s.info("copied.bin").await.unwrap().metadata, expected, "kept by a copy");
}

/// On a case-insensitive or normalizing filesystem behind the server (s3s-fs or MinIO on
/// macOS or Windows) two different keys can be one file, and a move between them would
/// delete it. A move first checks that the destination isn't the source itself under
/// another name. Played here with a hard link in the embedded server's data directory:
/// two keys, one file.
#[tokio::test(flavor = "multi_thread")]
async fn a_move_never_deletes_its_source_under_another_name() {
    if common::skip_on_memory("the memory backend has no files to alias") {
        return;
    }
    let t = Target::new("alias-file").await;
    let Some(server) = &t.server else {
        eprintln!("skipped: it links files in the embedded server's data directory");
        return;
    };
    let mut s = t.store("").await;
    s.put("Report.txt", b"quarterly", &plain()).await.unwrap();
    let dir = server.dir.join(&server.bucket).join(t.root.trim_end_matches('/'));
    std::fs::hard_link(dir.join("Report.txt"), dir.join("report.txt")).unwrap();
    match storage_error(s.move_("Report.txt", "report.txt").await) {
        Error::InvalidArgument(why) => assert!(why.contains("one object under two names"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.get_bytes("Report.txt").await.unwrap(), b"quarterly", "nothing was moved");
    // A destination that is another object moves as ever: one of another size under a
    // name that differs only in case, and one of the same size under another name.
    s.put("REPORT.txt", b"a different size", &plain()).await.unwrap();
    s.move_("Report.txt", "REPORT.txt").await.unwrap();
    assert_eq!(s.get_bytes("REPORT.txt").await.unwrap(), b"quarterly");
    assert!(!s.exists("Report.txt").await.unwrap());
    s.put("other.txt", b"same size", &plain()).await.unwrap();
    s.move_("REPORT.txt", "other.txt").await.unwrap();
    assert_eq!(s.get_bytes("other.txt").await.unwrap(), b"quarterly");
}
