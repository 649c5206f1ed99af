//! Integrity of downloads: the body is checked against what the response's headers say the
//! object is, so a damaged transfer is an error, never silent.
//!
//! - Length: always, against Content-Length (wasi:http hosts need not check it).
//! - Content: against the object's full-object checksum when the server sends one
//!   (`x-amz-checksum-*`, asked for with `x-amz-checksum-mode: ENABLED`: S3 adds a
//!   CRC64NVME to every new object, SDKs send CRC32), else against the ETag when it is a
//!   plain MD5 (a single-part upload without KMS or customer-key encryption, as every
//!   object this component puts in one request).
//! - Not checkable: ranges (checksums cover the whole object), multipart ETags and
//!   composite checksums (`-N`: per part), SHA-1 checksums (no SHA-1 here, to stay small).

use md5::Digest as _;

use crate::checksums::{self, Algorithm};
use crate::error::{Error, transport};
use crate::sys::http::Response;

/// The running check of one body.
pub struct Verifier {
    expected_len: Option<u64>,
    seen: u64,
    check: Check,
}

enum Check {
    None,
    Sha256(sha2::Sha256, String),
    Crc(checksums::Digest, Algorithm, String),
    Md5(md5::Md5, String),
}

impl Verifier {
    /// Checks only that `resp`'s body is as long as it says (XML replies, ranges).
    pub fn length_only(resp: &Response) -> Self {
        Verifier { expected_len: resp.body_length(), seen: 0, check: Check::None }
    }

    /// Checks `resp`, a reply carrying a whole object, against its checksum or MD5 ETag too.
    pub fn whole_object(resp: &Response) -> Self {
        Verifier { expected_len: resp.body_length(), seen: 0, check: Check::for_response(resp) }
    }

    /// Whether any bytes went through.
    pub fn started(&self) -> bool {
        self.seen > 0
    }

    pub fn update(&mut self, data: &[u8]) {
        self.seen += data.len() as u64;
        match &mut self.check {
            Check::None => {}
            Check::Sha256(h, _) => sha2::Digest::update(h, data),
            Check::Crc(d, _, _) => d.update(data),
            Check::Md5(h, _) => h.update(data),
        }
    }

    /// At the end of the body: its length and content were as promised.
    pub fn finish(self) -> Result<(), Error> {
        if let Some(n) = self.expected_len.filter(|n| *n != self.seen) {
            let how = if self.seen < n { "truncated" } else { "longer than its Content-Length" };
            return Err(transport(format!("response body {how}: got {} of {n} bytes", self.seen)));
        }
        let b64 = |bytes: &[u8]| aws_smithy_types::base64::encode(bytes);
        let (name, expected, got) = match self.check {
            Check::None => return Ok(()),
            Check::Sha256(h, want) => ("x-amz-checksum-sha256", want, b64(&sha2::Digest::finalize(h))),
            Check::Crc(d, alg, want) => (alg.header(), want, alg.encode(d.finish())),
            Check::Md5(h, want) => ("ETag (MD5)", want, hex(&h.finalize())),
        };
        if got == expected {
            Ok(())
        } else {
            Err(transport(format!("the body does not match its {name}: expected {expected}, got {got} (damaged in transfer)")))
        }
    }
}

/// Reads `resp`'s whole body (up to `limit` bytes), refusing any other length than its
/// Content-Length promised: a truncated reply is an error, never a short result.
pub async fn read_all(resp: Response, limit: u64) -> Result<Vec<u8>, Error> {
    let verifier = Verifier::length_only(&resp);
    read_verified(resp, limit, verifier).await
}

/// [`read_all`], checking the body with `verifier` (built from this response).
pub async fn read_verified(resp: Response, limit: u64, mut verifier: Verifier) -> Result<Vec<u8>, Error> {
    if let Some(n) = verifier.expected_len.filter(|n| *n > limit) {
        return Err(transport(format!("response of {n} bytes is larger than the {limit} bytes allowed")));
    }
    let mut body = resp.into_body()?;
    // Preallocate what the server announced, within reason: the header is not trusted.
    let mut out = Vec::with_capacity(verifier.expected_len.unwrap_or(0).min(8 << 20) as usize);
    while let Some(chunk) = body.read(READ_CHUNK).await? {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(transport(format!("response is larger than the {limit} bytes allowed")));
        }
        // Running out of guest memory is an error to report, not an abort.
        if out.try_reserve(chunk.len()).is_err() {
            return Err(transport(format!("out of memory after {} bytes of the response", out.len())));
        }
        verifier.update(&chunk);
        out.extend_from_slice(&chunk);
    }
    verifier.finish()?;
    Ok(out)
}

/// Whole bodies are read in chunks of this size.
const READ_CHUNK: u64 = 64 * 1024;

impl Check {
    fn for_response(resp: &Response) -> Check {
        // A composite checksum (of part checksums, "…-N") can't be checked against the bytes.
        // A multipart object's checksum counts as whole only when the server says so
        // (`FULL_OBJECT`): some servers send composite ones without the "-N".
        // A weak ETag (`W/`) allows different bytes (a proxy's transform): nothing to check.
        let etag = resp.header("etag").map(str::trim).filter(|e| !e.starts_with("W/")).map(|e| e.trim_matches('"').to_ascii_lowercase());
        let multipart = etag.as_deref().is_some_and(|e| e.contains('-'));
        let kind = resp.header("x-amz-checksum-type").map(str::trim);
        let whole = match kind {
            Some(t) => t.eq_ignore_ascii_case("FULL_OBJECT"),
            None => !multipart,
        };
        // A value of the wrong length is a server's mislabel, not a damaged body (moto
        // without its optional CRC libraries stores a CRC32 as the CRC64NVME): not checked.
        let full = |name: &str, encoded_len: usize| resp.header(name).map(str::trim).filter(|v| whole && v.len() == encoded_len).map(str::to_string);
        if let Some(v) = full("x-amz-checksum-sha256", 44) {
            return Check::Sha256(<sha2::Sha256 as sha2::Digest>::new(), v);
        }
        for alg in [Algorithm::Crc64Nvme, Algorithm::Crc32c, Algorithm::Crc32] {
            if let Some(v) = full(alg.header(), alg.encoded_len()) {
                return Check::Crc(alg.digest(), alg, v);
            }
        }
        // SSE-KMS and SSE-C objects have ETags that are not the MD5 of their bytes.
        let encrypted = resp.header("x-amz-server-side-encryption").is_some_and(|v| v.to_ascii_lowercase().starts_with("aws:kms"))
            || resp.header("x-amz-server-side-encryption-customer-algorithm").is_some();
        match etag {
            Some(etag) if !encrypted && is_md5_hex(&etag) => Check::Md5(md5::Md5::new(), etag),
            _ => Check::None,
        }
    }
}

fn is_md5_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Lower-case hex, as ETags spell MD5s.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The values S3's documentation and the SDKs give for these bytes.
    #[test]
    fn checksums_are_encoded_as_s3_sends_them() {
        let data = b"Hello world";
        assert_eq!(Algorithm::Crc32.encode(Algorithm::Crc32.checksum(data)), "i9aeUg==");
        assert_eq!(Algorithm::Crc32c.encode(Algorithm::Crc32c.checksum(data)), "crUfeA==");
        assert_eq!(Algorithm::Crc64Nvme.encode(Algorithm::Crc64Nvme.checksum(data)), "OOJZ0D8xKts=");
        assert_eq!(hex(&md5::Md5::digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert!(is_md5_hex("d41d8cd98f00b204e9800998ecf8427e"));
        assert!(!is_md5_hex("d41d8cd98f00b204e9800998ecf8427e-2"));
    }
}
