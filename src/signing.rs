//! SigV4 with aws-sigv4: header signatures for requests (to S3, and to STS for assumed
//! roles), query signatures for presigned URLs. S3 signs the path exactly as sent: single
//! encoding, no normalization. It signs with an identity, whoever provides it.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;

use crate::error::{Error, transport};

pub use aws_smithy_runtime_api::client::identity::Identity;

fn settings(location: SignatureLocation) -> SigningSettings {
    let mut s = SigningSettings::default();
    s.percent_encoding_mode = PercentEncodingMode::Single;
    s.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    s.signature_location = location;
    s.payload_checksum_kind = match location {
        SignatureLocation::Headers => PayloadChecksumKind::XAmzSha256,
        _ => PayloadChecksumKind::NoHeader,
    };
    s
}

/// What the signature says of the body.
pub enum Payload<'a> {
    /// Its SHA-256 is signed, so the server refuses a body altered in transit.
    Signed(&'a [u8]),
    /// `UNSIGNED-PAYLOAD`: the body is protected some other way (a signed Content-MD5).
    Unsigned,
}

/// The SigV4 signature of `method` on `url` with `headers` and `body`, under `settings`:
/// what `sign_headers` and `presign` both ask of aws-sigv4.
#[allow(clippy::too_many_arguments)]
fn signed(
    identity: &Identity,
    service: &str,
    region: &str,
    time: SystemTime,
    settings: SigningSettings,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: SignableBody<'_>,
) -> Result<aws_sigv4::http_request::SigningInstructions, Error> {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| transport(format!("signing: {e}")))?
        .into();
    let request =
        SignableRequest::new(method, url, headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), body).map_err(|e| transport(format!("signing: {e}")))?;
    let (instructions, _signature) = sign(request, &params).map_err(|e| transport(format!("signing: {e}")))?.into_parts();
    Ok(instructions)
}

/// Signs a request for `url` (already percent-encoded) and returns the headers to add:
/// `authorization`, `x-amz-date`, `x-amz-content-sha256` and, with temporary
/// credentials, `x-amz-security-token`. `headers` are those that will be sent; all are signed.
pub fn sign_headers(
    identity: &Identity,
    region: &str,
    time: SystemTime,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    payload: Payload,
) -> Result<Vec<(String, String)>, Error> {
    let body = match payload {
        Payload::Signed(body) => SignableBody::Bytes(body),
        Payload::Unsigned => SignableBody::UnsignedPayload,
    };
    header_list(signed(identity, "s3", region, time, settings(SignatureLocation::Headers), method, url, headers, body)?)
}

/// Signs an STS request (a form POST to `url`): the headers to add. STS wants no
/// `x-amz-content-sha256` and normalized, double-encoded paths (the SDKs' defaults).
pub fn sign_sts(
    identity: &Identity,
    region: &str,
    time: SystemTime,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<(String, String)>, Error> {
    header_list(signed(identity, "sts", region, time, SigningSettings::default(), "POST", url, headers, SignableBody::Bytes(body))?)
}

/// The headers a header signature adds.
fn header_list(instructions: aws_sigv4::http_request::SigningInstructions) -> Result<Vec<(String, String)>, Error> {
    let (signed, _params) = instructions.into_parts();
    Ok(signed.into_iter().map(|h| (h.name().to_string(), h.value().to_string())).collect())
}

/// A presigned URL: `url` plus the `X-Amz-*` query parameters, valid for `expires_in` s.
/// `headers` (e.g. a content type) are signed too: the URL's user must send them as given.
pub fn presign(
    identity: &Identity,
    region: &str,
    time: SystemTime,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    expires_in: u64,
) -> Result<String, Error> {
    let mut settings = settings(SignatureLocation::QueryParams);
    settings.expires_in = Some(Duration::from_secs(expires_in));
    let instructions = signed(identity, "s3", region, time, settings, method, url, headers, SignableBody::UnsignedPayload)?;
    let (_headers, query) = instructions.into_parts();
    let mut out = String::from(url);
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for (name, value) in query {
        out.push(sep);
        out.push_str(name);
        out.push('=');
        out.push_str(&crate::keys::encode_query(&value));
        sep = '&';
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;
    use crate::credentials::Credentials;

    fn creds(token: Option<&str>) -> Credentials {
        Credentials::explicit(Some("AKIDEXAMPLE".into()), Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()), token.map(str::to_string), &Env(&[]))
            .unwrap()
            .unwrap()
    }

    fn time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600) // 2013-05-24T00:00:00Z
    }

    /// The worked example from AWS's S3 SigV4 documentation ("GET Object" with a Range header).
    #[test]
    fn matches_the_aws_documented_get_object_example() {
        let creds = Credentials::explicit(Some("AKIAIOSFODNN7EXAMPLE".into()), Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()), None, &Env(&[]))
            .unwrap()
            .unwrap();
        let headers = vec![("range".to_string(), "bytes=0-9".to_string())];
        let signed =
            sign_headers(&creds.identity(), "us-east-1", time(), "GET", "https://examplebucket.s3.amazonaws.com/test.txt", &headers, Payload::Signed(b""))
                .unwrap();
        let auth = signed.iter().find(|(k, _)| k == "authorization").unwrap();
        assert_eq!(
            auth.1,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn signs_with_port_payload_hash_and_token() {
        let signed =
            sign_headers(&creds(Some("TOKEN")).identity(), "us-east-1", time(), "PUT", "http://127.0.0.1:9000/b/k", &[], Payload::Signed(b"hello")).unwrap();
        let get = |n: &str| signed.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("x-amz-content-sha256").unwrap(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(get("x-amz-security-token").unwrap(), "TOKEN");
        assert!(get("authorization").unwrap().contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token"));
    }

    /// AWS's documented presigned URL example (GET test.txt, 86400 s).
    #[test]
    fn presign_matches_the_aws_documented_example() {
        let creds = Credentials::explicit(Some("AKIAIOSFODNN7EXAMPLE".into()), Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()), None, &Env(&[]))
            .unwrap()
            .unwrap();
        let url = presign(&creds.identity(), "us-east-1", time(), "GET", "https://examplebucket.s3.amazonaws.com/test.txt", &[], 86400).unwrap();
        assert!(url.starts_with("https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&"), "{url}");
        assert!(url.contains("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"), "{url}");
        assert!(url.contains("X-Amz-Expires=86400") && url.contains("X-Amz-SignedHeaders=host"), "{url}");
        assert!(url.ends_with("X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"), "{url}");
    }

    #[test]
    fn presigned_put_signs_the_content_type() {
        let headers = vec![("content-type".to_string(), "image/png".to_string())];
        let url = presign(&creds(None).identity(), "us-east-1", time(), "PUT", "http://h/b/k", &headers, 60).unwrap();
        assert!(url.contains("X-Amz-SignedHeaders=content-type%3Bhost"), "{url}");
    }

    #[test]
    fn presigned_urls_never_carry_the_secret() {
        let url = presign(&creds(Some("TOKENVALUE")).identity(), "us-east-1", time(), "GET", "http://h/b/k", &[], 60).unwrap();
        assert!(!url.contains("wJalrXUtnFEMI") && !url.contains("EXAMPLEKEY"), "{url}");
        assert!(url.contains("X-Amz-Security-Token=TOKENVALUE"), "{url}");
    }
}
