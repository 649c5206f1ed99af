//! A working configuration for each S3-compatible service, and the shape of the requests
//! it produces: URL, Host, signing region, signed headers, and nothing a provider is known
//! to refuse. No network: the host records each request and answers it with a canned
//! reply. The README's provider table is this table.

use crate::common;

use std::sync::{Arc, Mutex};

use host_test::sender::{CannedReply, Sent};
use host_test::{AddressingStyle, Config, HostOptions, PutOptions, Runtime, Storage};

struct Provider {
    name: &'static str,
    endpoint: Option<&'static str>,
    region: &'static str,
    addressing: Option<AddressingStyle>,
    /// Where requests for key `k` of bucket `my-bucket` go.
    host: &'static str,
    path: &'static str,
    /// Uploads are checked with Content-MD5 by default: the service refuses checksum
    /// headers, or isn't known to take them (README "Providers" has the sources).
    md5: bool,
}

const PROVIDERS: &[Provider] = &[
    Provider { name: "AWS S3", endpoint: None, region: "eu-west-1", addressing: None, host: "my-bucket.s3.eu-west-1.amazonaws.com", path: "/k", md5: false },
    Provider {
        name: "Cloudflare R2",
        endpoint: Some("https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"),
        region: "auto",
        addressing: None,
        host: "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
        path: "/my-bucket/k",
        md5: false,
    },
    Provider {
        name: "DigitalOcean Spaces",
        endpoint: Some("https://nyc3.digitaloceanspaces.com"),
        region: "nyc3",
        addressing: None,
        host: "nyc3.digitaloceanspaces.com",
        path: "/my-bucket/k",
        md5: true,
    },
    Provider {
        name: "MinIO",
        endpoint: Some("http://127.0.0.1:9000"),
        region: "us-east-1",
        addressing: None,
        host: "127.0.0.1:9000",
        path: "/my-bucket/k",
        md5: false,
    },
    Provider {
        name: "Backblaze B2",
        endpoint: Some("https://s3.us-west-004.backblazeb2.com"),
        region: "us-west-004",
        addressing: None,
        host: "s3.us-west-004.backblazeb2.com",
        path: "/my-bucket/k",
        md5: true,
    },
    Provider {
        name: "Linode Object Storage",
        endpoint: Some("https://us-east-1.linodeobjects.com"),
        region: "us-east-1",
        addressing: Some(AddressingStyle::VirtualHosted),
        host: "my-bucket.us-east-1.linodeobjects.com",
        path: "/k",
        md5: true,
    },
    Provider {
        name: "Wasabi",
        endpoint: Some("https://s3.eu-central-1.wasabisys.com"),
        region: "eu-central-1",
        addressing: None,
        host: "s3.eu-central-1.wasabisys.com",
        path: "/my-bucket/k",
        md5: true,
    },
];

/// Headers some providers refuse (B2 and R2 among them refused the trailing checksums
/// AWS SDKs began sending in 2025) or that S3 PutObject refuses (chunked bodies).
const REFUSED: &[&str] = &["x-amz-sdk-checksum-algorithm", "x-amz-trailer", "x-amz-decoded-content-length", "transfer-encoding"];

/// The header value of `data`'s CRC64NVME, computed by s3s (not the component's code).
fn crc64nvme(data: &[u8]) -> String {
    use base64::Engine as _;
    use s3s::crypto::Checksum as _;
    base64::engine::general_purpose::STANDARD.encode(s3s::crypto::Crc64Nvme::checksum(data))
}

fn canned() -> CannedReply {
    Arc::new(|parts: &http::request::Parts| {
        // The MD5 of the canned object "hi": downloads are checked against it.
        let etag = ("etag", "\"49f68a5c8493ec2c0bf489821c21fc3b\"".to_string());
        let query = parts.uri.query().unwrap_or("");
        let xml = |body: String| (200, vec![("content-type", "application/xml".to_string()), ("content-length", body.len().to_string())], body.into_bytes());
        match parts.method.as_str() {
            "POST" if query.contains("uploads") => xml("<InitiateMultipartUploadResult><UploadId>upload-1</UploadId></InitiateMultipartUploadResult>".into()),
            "POST" => xml("<CompleteMultipartUploadResult><ETag>\"abc-2\"</ETag></CompleteMultipartUploadResult>".into()),
            "GET" if query.contains("list-type=2") => {
                xml("<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>".into())
            }
            "GET" => (200, vec![("content-length", "2".into()), etag], b"hi".to_vec()),
            "HEAD" => (200, vec![("content-length", "2".into()), etag], vec![]),
            _ => (200, vec![("content-length", "0".into()), etag], vec![]),
        }
    })
}

fn config(p: &Provider) -> Config {
    let mut c = host_test::config_for("my-bucket");
    c.endpoint_url = p.endpoint.map(str::to_string);
    c.region = Some(p.region.into());
    c.addressing = p.addressing;
    c.access_key_id = Some("AKIDEXAMPLE".into());
    c.secret_access_key = Some("example-secret".into());
    c.part_size = Some(5 << 20);
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn each_provider_gets_requests_it_accepts() {
    if common::skip_on_memory("S3 request shapes per provider") {
        return;
    }
    for p in PROVIDERS {
        let log: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let sink = log.clone();
        let host = HostOptions { canned: Some(canned()), observer: Some(Arc::new(move |s| sink.lock().unwrap().push(s))), ..Default::default() };
        let mut s = Storage::open(Runtime::shared().unwrap(), &host, config(p)).await.unwrap();
        let plain = PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() };
        s.put("k", b"hi", &plain).await.unwrap();
        s.put_stream("k", std::io::Cursor::new(vec![7u8; 6 << 20]), &plain).await.unwrap();
        assert_eq!(s.get_bytes("k").await.unwrap(), b"hi");
        s.info("k").await.unwrap();
        assert_eq!(s.list("", None).await.unwrap().len(), 1);
        s.delete("k").await.unwrap();
        let url = s.url("k", Some(600)).await.unwrap();

        let scheme = if p.endpoint.is_some_and(|e| e.starts_with("http://")) { "http" } else { "https" };
        assert!(url.starts_with(&format!("{scheme}://{}{}?", p.host, p.path)), "{}: {url}", p.name);
        assert!(url.contains(&format!("%2F{}%2Fs3%2Faws4_request", p.region)), "{}: {url}", p.name);

        let log = log.lock().unwrap();
        assert_eq!(log.len(), 9, "{}: put, create + 2 parts + complete, get, head, list, delete", p.name);
        for sent in log.iter() {
            let what = format!("{}: {} {}", p.name, sent.method, sent.uri);
            assert_eq!(sent.uri.scheme_str(), Some(scheme), "{what}");
            assert_eq!(sent.uri.authority().unwrap().as_str(), p.host, "{what}");
            if sent.uri.query().is_none_or(|q| !q.contains("list-type")) {
                assert!(sent.uri.path().starts_with(p.path), "{what}");
            }
            let header = |name: &str| sent.headers.get(name).and_then(|v| v.to_str().ok());
            let auth = header("authorization").unwrap_or_default();
            assert!(auth.contains(&format!("/{}/s3/aws4_request", p.region)), "{what}: {auth}");
            assert!(auth.contains("SignedHeaders=") && auth.contains("host;") && auth.contains("x-amz-content-sha256;x-amz-date"), "{what}: {auth}");
            for name in sent.headers.keys() {
                // `x-amz-checksum-mode` asks for the object's checksum on GET (the SDKs
                // send it too); checksums go only to services that take them.
                let checksum = name.as_str().starts_with("x-amz-checksum-") && name != "x-amz-checksum-mode";
                assert!(!REFUSED.contains(&name.as_str()), "{what}: sends {name}");
                assert!(!checksum || !p.md5, "{what}: sends {name}");
            }
            assert!(header("content-encoding").is_none_or(|e| !e.contains("aws-chunked")), "{what}");
            if matches!(sent.method.as_str(), "PUT" | "POST" | "DELETE") {
                assert!(header("content-length").is_some(), "{what}: no Content-Length");
            }
            // Object bodies are integrity-checked in a way the provider supports: a signed
            // Content-MD5, or one CRC64NVME header (R2 refuses two checksums in one request),
            // the multipart upload declared FULL_OBJECT and completed with the whole CRC.
            let is_data = sent.method == "PUT" && header("x-amz-copy-source").is_none();
            let crc = header("x-amz-checksum-crc64nvme");
            let query = sent.uri.query().unwrap_or("");
            if is_data && p.md5 {
                assert!(header("content-md5").is_some() && auth.contains("content-md5;"), "{what}: no signed Content-MD5");
            }
            if is_data && !p.md5 {
                let body: &[u8] = if query.contains("partNumber=1") {
                    &[7; 5 << 20]
                } else if query.contains("partNumber=2") {
                    &[7; 1 << 20]
                } else {
                    b"hi"
                };
                assert_eq!(crc, Some(crc64nvme(body).as_str()), "{what}");
                assert!(auth.contains("x-amz-checksum-crc64nvme;") && header("content-md5").is_none(), "{what}: {auth}");
            }
            if sent.method == "POST" && !p.md5 {
                assert_eq!(header("x-amz-checksum-type"), Some("FULL_OBJECT"), "{what}");
                if query.contains("uploads") {
                    assert_eq!(header("x-amz-checksum-algorithm"), Some("CRC64NVME"), "{what}");
                } else {
                    assert_eq!(crc, Some(crc64nvme(&[7; 6 << 20]).as_str()), "{what}: the whole object's CRC");
                }
            }
        }
    }
}
