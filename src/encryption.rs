//! Server-side encryption: the headers each kind of request carries for the store's
//! `server-side-encryption`. SSE-S3 and SSE-KMS are asked for where an object is written
//! (PutObject, CreateMultipartUpload, CopyObject); a customer key (SSE-C) goes with every
//! request that writes or reads an object's bytes, and as the copy source's key on copies.

use md5::Digest as _;

use crate::error::{Error, invalid_config};
use crate::rules;
use crate::types::ServerSideEncryption;

/// SSE-C keys are AES-256 keys.
const CUSTOMER_KEY_BYTES: usize = 32;

/// The store's encryption, checked. Its `Debug` never shows a customer key.
#[derive(Clone, Default)]
pub enum Encryption {
    #[default]
    BucketDefault,
    S3Managed,
    Kms {
        key_id: Option<String>,
        bucket_key: Option<bool>,
    },
    /// The key and its MD5, both base64-encoded, as the headers carry them.
    CustomerKey {
        key: String,
        md5: String,
    },
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encryption::BucketDefault => f.write_str("BucketDefault"),
            Encryption::S3Managed => f.write_str("S3Managed"),
            Encryption::Kms { key_id, bucket_key } => f.debug_struct("Kms").field("key_id", key_id).field("bucket_key", bucket_key).finish(),
            Encryption::CustomerKey { .. } => f.write_str("CustomerKey(..)"),
        }
    }
}

impl Encryption {
    pub fn resolve(config: Option<ServerSideEncryption>) -> Result<Encryption, Error> {
        Ok(match config {
            None => Encryption::BucketDefault,
            Some(ServerSideEncryption::S3Managed) => Encryption::S3Managed,
            Some(ServerSideEncryption::Kms(kms)) => {
                if let Some(id) = &kms.key_id {
                    rules::header_text(id).map_err(|why| invalid_config(format!("server-side-encryption's KMS key id {why}")))?;
                }
                Encryption::Kms { key_id: kms.key_id, bucket_key: kms.bucket_key }
            }
            Some(ServerSideEncryption::CustomerKey(key)) => {
                if key.len() != CUSTOMER_KEY_BYTES {
                    // The length only: the key is a secret.
                    return Err(invalid_config(format!(
                        "server-side-encryption's customer key is {} bytes; SSE-C keys are {CUSTOMER_KEY_BYTES} (AES-256)",
                        key.len()
                    )));
                }
                let md5 = aws_smithy_types::base64::encode(md5::Md5::digest(&key));
                Encryption::CustomerKey { md5, key: aws_smithy_types::base64::encode(&key) }
            }
        })
    }

    pub fn is_customer_key(&self) -> bool {
        matches!(self, Encryption::CustomerKey { .. })
    }

    /// For a request that creates an object: PutObject, CreateMultipartUpload, CopyObject's
    /// destination.
    pub fn write_headers(&self) -> Vec<(String, String)> {
        let header = |name: &str, value: &str| (name.to_string(), value.to_string());
        match self {
            Encryption::BucketDefault => Vec::new(),
            Encryption::S3Managed => vec![header("x-amz-server-side-encryption", "AES256")],
            Encryption::Kms { key_id, bucket_key } => {
                let mut headers = vec![header("x-amz-server-side-encryption", "aws:kms")];
                if let Some(id) = key_id {
                    headers.push(header("x-amz-server-side-encryption-aws-kms-key-id", id));
                }
                if let Some(on) = bucket_key {
                    headers.push(header("x-amz-server-side-encryption-bucket-key-enabled", if *on { "true" } else { "false" }));
                }
                headers
            }
            Encryption::CustomerKey { .. } => self.key_headers("x-amz-server-side-encryption"),
        }
    }

    /// For a request that reads or adds to an object's bytes: GET, HEAD, UploadPart,
    /// UploadPartCopy's destination. Only a customer key has any.
    pub fn key_headers_for_bytes(&self) -> Vec<(String, String)> {
        self.key_headers("x-amz-server-side-encryption")
    }

    /// For a copy whose source is this store's: the source's customer key.
    pub fn copy_source_headers(&self) -> Vec<(String, String)> {
        self.key_headers("x-amz-copy-source-server-side-encryption")
    }

    fn key_headers(&self, prefix: &str) -> Vec<(String, String)> {
        let Encryption::CustomerKey { key, md5 } = self else { return Vec::new() };
        vec![
            (format!("{prefix}-customer-algorithm"), "AES256".to_string()),
            (format!("{prefix}-customer-key"), key.clone()),
            (format!("{prefix}-customer-key-md5"), md5.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::KmsEncryption;

    #[test]
    fn each_kind_sends_its_headers_and_a_customer_key_is_never_shown() {
        assert!(Encryption::resolve(None).unwrap().write_headers().is_empty());
        assert_eq!(
            Encryption::resolve(Some(ServerSideEncryption::S3Managed)).unwrap().write_headers(),
            [("x-amz-server-side-encryption".to_string(), "AES256".to_string())]
        );
        let kms = Encryption::resolve(Some(ServerSideEncryption::Kms(KmsEncryption { key_id: Some("alias/k".into()), bucket_key: Some(true) }))).unwrap();
        assert_eq!(kms.write_headers().len(), 3);
        assert!(kms.key_headers_for_bytes().is_empty() && kms.copy_source_headers().is_empty());

        let c = Encryption::resolve(Some(ServerSideEncryption::CustomerKey(vec![7; 32]))).unwrap();
        let headers = c.key_headers_for_bytes();
        assert_eq!(headers[0], ("x-amz-server-side-encryption-customer-algorithm".to_string(), "AES256".to_string()));
        assert_eq!(headers[1].1, aws_smithy_types::base64::encode([7u8; 32]));
        assert_eq!(headers[2].1, aws_smithy_types::base64::encode(md5::Md5::digest([7u8; 32])));
        assert_eq!(c.write_headers(), headers);
        assert!(c.copy_source_headers()[1].0.starts_with("x-amz-copy-source-server-side-encryption-customer-key"));
        assert_eq!(format!("{c:?}"), "CustomerKey(..)");
        for bad in [vec![7; 16], vec![]] {
            let e = Encryption::resolve(Some(ServerSideEncryption::CustomerKey(bad))).unwrap_err();
            assert!(matches!(&e, Error::InvalidConfig(m) if !m.contains("BwcH")), "{e:?}");
        }
    }
}
