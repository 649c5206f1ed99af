//! What each real S3 server the suite runs against is known not to do, and why. A test of
//! something the server lacks skips that part, printing the server and the reason: never a
//! silent pass. The server is named by `S3_TEST_SERVER` (set by `host-test/scripts/*.sh`);
//! an endpoint without it, like the embedded server, is held to everything.

/// A capability some S3-compatible servers lack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Capability {
    /// Refuses a request whose SigV4 signature (header or presigned URL) is wrong.
    ChecksSignatures,
    /// Refuses a body whose `Content-MD5` doesn't match it.
    ChecksContentMd5,
    /// Refuses a body whose `x-amz-checksum-crc64nvme` or `-crc32c` doesn't match it.
    ChecksChecksumHeaders,
    /// Keeps a `FULL_OBJECT` CRC of a multipart object and returns it on GET, so a
    /// download of it can be checked end to end.
    KeepsFullObjectChecksums,
    /// Keeps an `x-amz-checksum-*` sent as a plain header and returns it on GET with
    /// `x-amz-checksum-mode: ENABLED`.
    KeepsHeaderChecksums,
    /// Answers CreateBucket of a bucket the caller already owns with 409
    /// (`BucketAlreadyOwnedByYou`), as S3 does outside us-east-1, rather than 200.
    RefusesRecreatingOwnedBuckets,
    /// Serves a GET's `response-content-disposition` (and `-type`, `-cache-control`)
    /// instead of the stored headers.
    ResponseOverrides,
    /// Encrypts with a customer's key (SSE-C) and refuses reads without it.
    CustomerKeys,
    /// Keeps object versions once a bucket's versioning is turned on.
    Versioning,
    /// Lists versions (ListObjectVersions), also of a bucket that never kept any.
    ListsVersions,
    /// Keeps object tags (`x-amz-tagging`, GetObjectTagging).
    Tagging,
}

/// The server under test: `S3_TEST_SERVER`, else "embedded" without `S3_TEST_ENDPOINT`.
pub fn name() -> String {
    match std::env::var("S3_TEST_SERVER") {
        Ok(name) if !name.is_empty() => name,
        _ if std::env::var("S3_TEST_ENDPOINT").is_ok_and(|e| !e.is_empty()) => "the S3_TEST_ENDPOINT server".into(),
        _ => "embedded".into(),
    }
}

/// Why the server under test lacks `capability`, or `None` when it has it (or is not known
/// to lack it).
pub fn lacks(capability: Capability) -> Option<&'static str> {
    use Capability::*;
    match (name().as_str(), capability) {
        ("moto", ChecksSignatures) => Some("moto accepts any signature; the embedded server and Garage test signing"),
        ("moto", ChecksContentMd5) => Some("moto stores a body whose Content-MD5 doesn't match"),
        ("moto", ChecksChecksumHeaders) => Some("moto stores a body whose x-amz-checksum-* doesn't match"),
        ("embedded", KeepsFullObjectChecksums) => Some("s3s-fs keeps no checksum for multipart objects"),
        ("moto", KeepsHeaderChecksums) => Some("moto keeps x-amz-checksum-* only from aws-chunked trailers, not from a plain header"),
        ("moto", RefusesRecreatingOwnedBuckets) => Some("moto answers 200 to re-creating an owned bucket, like AWS in us-east-1"),
        ("moto", ResponseOverrides) => Some("moto 5.2.1 serves the stored headers whatever the response-* parameters say"),
        ("moto", CustomerKeys) => Some("moto 5.2.1 serves SSE-C objects without the key"),
        ("garage", Versioning) => Some("Garage 2.5 keeps no object versions"),
        ("garage", ListsVersions) => Some("Garage 2.5 does not implement ListObjectVersions"),
        ("garage", Tagging) => Some("Garage 2.5 keeps no object tags"),
        ("embedded", Tagging) => Some("s3s-fs keeps no object tags"),
        ("embedded", Versioning) => Some("s3s-fs keeps no object versions"),
        ("embedded", ListsVersions) => Some("s3s-fs does not implement ListObjectVersions"),
        ("embedded", CustomerKeys) => Some("s3s-fs ignores SSE-C headers: it stores and serves plain bytes"),
        ("embedded", ResponseOverrides) => Some("s3s-fs serves the stored headers whatever the response-* parameters say"),
        _ => None,
    }
}

/// True, after printing which server lacks what and why, when the test (or the part of it
/// that follows) can't run here.
pub fn skip_without(capability: Capability, what: &str) -> bool {
    match lacks(capability) {
        Some(why) => {
            eprintln!("skipped on {}: {what}: {why}", name());
            true
        }
        None => false,
    }
}
