//! s3s-fs with S3's Content-MD5 and `x-amz-checksum-*` semantics. s3s-fs checks them only
//! on PutObject, and only after it has stored the body, so a damaged upload is refused but
//! left in place; it never checks UploadPart's. S3 checks both before storing anything.
//! This wrapper checks the digests as the body streams in and fails the stream before
//! s3s-fs commits it, then answers `BadDigest` as S3 does. (A `FULL_OBJECT` checksum on
//! CompleteMultipartUpload is not checked: s3s-fs keeps none for multipart objects.) s3s-fs also deletes a bucket with everything in
//! it; S3 refuses (`BucketNotEmpty`), and so does this wrapper. And re-creating a bucket is
//! `BucketAlreadyOwnedByYou`, S3's answer (outside us-east-1) to its owner: this server has
//! one account. s3s-fs makes a missing bucket's directory for a PutObject (and answers
//! others with NoSuchKey): S3 answers `NoSuchBucket` to every request about a bucket that
//! does not exist, and so does this wrapper, so a mistyped bucket never appears. s3s-fs
//! has no ListMultipartUploads: this wrapper answers it from the files s3s-fs keeps for each
//! pending upload. Every other operation goes straight to s3s-fs.
//!
//! With `ignore_conditions` it plays a server that ignores `If-None-Match` / `If-Match`
//! (as some S3-compatible services do), for the tests that must catch one.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use futures_core::Stream;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::*;
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3, S3Request, S3Response, S3Result, StdError, s3_error};
use s3s_fs::FileSystem;

pub struct StrictFs {
    pub fs: FileSystem,
    /// s3s-fs's root: a bucket is the directory of that name, its objects the files in it.
    pub root: std::path::PathBuf,
    pub ignore_conditions: bool,
}

/// Makes `body` fail at its end unless its MD5 is `md5` (base64) and its CRCs and SHAs
/// are those `stated` (`x-amz-checksum-*`); returns the flag that says which one differed.
fn check_digests(body: &mut Option<StreamingBlob>, md5: Option<&str>, stated: Checksum) -> S3Result<Option<Arc<Mismatch>>> {
    let md5: Option<[u8; 16]> = md5
        .map(|m| {
            base64::engine::general_purpose::STANDARD
                .decode(m)
                .ok()
                .and_then(|d| d.try_into().ok())
                .ok_or_else(|| s3_error!(InvalidDigest, "Content-MD5 is not a base64 MD5"))
        })
        .transpose()?;
    let hasher = ChecksumHasher {
        crc32: stated.checksum_crc32.is_some().then(Default::default),
        crc32c: stated.checksum_crc32c.is_some().then(Default::default),
        sha1: stated.checksum_sha1.is_some().then(Default::default),
        sha256: stated.checksum_sha256.is_some().then(Default::default),
        crc64nvme: stated.checksum_crc64nvme.is_some().then(Default::default),
    };
    let any_checksum = [&stated.checksum_crc32, &stated.checksum_crc32c, &stated.checksum_sha1, &stated.checksum_sha256, &stated.checksum_crc64nvme]
        .iter()
        .any(|c| c.is_some());
    if md5.is_none() && !any_checksum {
        return Ok(None);
    }
    let Some(inner) = body.take() else { return Ok(None) };
    let mismatch = Arc::new(Mismatch::default());
    *body = Some(StreamingBlob::new(Checked { inner, md5: md5.map(|m| (Md5::new(), m)), hasher: Some((hasher, stated)), mismatch: mismatch.clone() }));
    Ok(Some(mismatch))
}

/// Which stated digest the body did not match, once its end was reached.
#[derive(Default)]
struct Mismatch(std::sync::Mutex<Option<&'static str>>);

fn bad_digest<T>(result: S3Result<T>, mismatch: Option<Arc<Mismatch>>) -> S3Result<T> {
    match mismatch.and_then(|m| *m.0.lock().unwrap()) {
        Some("MD5") => Err(s3_error!(BadDigest, "The Content-MD5 you specified did not match what we received.")),
        Some(name) => Err(s3_error!(BadDigest, "The {name} you specified did not match the calculated checksum.")),
        None => result,
    }
}

struct Checked {
    inner: StreamingBlob,
    md5: Option<(Md5, [u8; 16])>,
    hasher: Option<(ChecksumHasher, Checksum)>,
    mismatch: Arc<Mismatch>,
}

impl Checked {
    /// The first stated digest the body does not match.
    fn differs(&mut self) -> Option<&'static str> {
        if self.md5.take().is_some_and(|(md5, want)| md5.finalize() != want) {
            return Some("MD5");
        }
        let (hasher, stated) = self.hasher.take()?;
        let got = hasher.finalize();
        [
            ("CRC32", got.checksum_crc32, stated.checksum_crc32),
            ("CRC32C", got.checksum_crc32c, stated.checksum_crc32c),
            ("SHA1", got.checksum_sha1, stated.checksum_sha1),
            ("SHA256", got.checksum_sha256, stated.checksum_sha256),
            ("CRC64NVME", got.checksum_crc64nvme, stated.checksum_crc64nvme),
        ]
        .into_iter()
        .find(|(_, got, want)| got != want)
        .map(|(name, _, _)| name)
    }
}

impl Stream for Checked {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                if let Some((md5, _)) = this.md5.as_mut() {
                    md5.update(&bytes);
                }
                if let Some((hasher, _)) = this.hasher.as_mut() {
                    hasher.update(&bytes);
                }
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(None) => {
                if let Some(name) = this.differs() {
                    *this.mismatch.0.lock().unwrap() = Some(name);
                    return Poll::Ready(Some(Err(format!("{name} mismatch").into())));
                }
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

impl ByteStream for Checked {
    fn remaining_length(&self) -> RemainingLength {
        self.inner.remaining_length()
    }
}

/// The checksums a request states in its `x-amz-checksum-*` headers.
macro_rules! stated {
    ($input:expr) => {
        Checksum {
            checksum_crc32: $input.checksum_crc32.clone(),
            checksum_crc32c: $input.checksum_crc32c.clone(),
            checksum_sha1: $input.checksum_sha1.clone(),
            checksum_sha256: $input.checksum_sha256.clone(),
            checksum_crc64nvme: $input.checksum_crc64nvme.clone(),
            ..Default::default()
        }
    };
}

impl StrictFs {
    /// S3's answer about a bucket that was never created.
    fn bucket_exists(&self, bucket: &str) -> S3Result<()> {
        match s3s::path::check_bucket_name(bucket) && self.root.join(bucket).is_dir() {
            true => Ok(()),
            false => Err(s3_error!(NoSuchBucket, "The specified bucket does not exist")),
        }
    }
}

/// The uploads s3s-fs has pending in `root`: (bucket, key, upload id, when it began). It
/// keeps `.upload-<id>.json` per pending upload, and the object's attributes in
/// `.bucket-<base64 bucket>.object-<base64 key>.upload-<id>.metadata.json`.
fn pending_uploads(root: &std::path::Path) -> Vec<(String, String, String, std::time::SystemTime)> {
    let names: Vec<(String, std::time::SystemTime)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.metadata().ok()?.modified().ok()?)))
        .collect();
    let decode = |text: &str| String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?).ok();
    names
        .iter()
        .filter_map(|(name, _)| name.strip_prefix(".bucket-")?.strip_suffix(".metadata.json"))
        .filter_map(|rest| {
            let (bucket, rest) = rest.split_once(".object-")?;
            let (key, id) = rest.split_once(".upload-")?;
            let began = names.iter().find(|(n, _)| *n == format!(".upload-{id}.json"))?.1;
            Some((decode(bucket)?, decode(key)?, id.to_string(), began))
        })
        .collect()
}

/// Whether `dir` or a directory below it holds a file (an object).
fn holds_a_file(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().flatten().any(|entry| match entry.file_type() {
        Ok(t) if t.is_dir() => holds_a_file(&entry.path()),
        Ok(_) => true,
        Err(_) => false,
    })
}

/// The `S3` impl: `put_object`, `upload_part` and the bucket operations check, the listed
/// operations forward once their bucket is known to exist.
/// (One macro for the whole impl, as `async_trait` must see every method expanded.)
macro_rules! strict_s3 {
    ($($name:ident($input:ident) -> $output:ident;)*) => {
        #[async_trait::async_trait]
        impl S3 for StrictFs {
            async fn put_object(&self, mut req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
                self.bucket_exists(&req.input.bucket)?;
                if self.ignore_conditions {
                    req.input.if_none_match = None;
                    req.input.if_match = None;
                }
                let stated = stated!(req.input);
                let mismatch = check_digests(&mut req.input.body, req.input.content_md5.as_deref(), stated)?;
                bad_digest(self.fs.put_object(req).await, mismatch)
            }

            async fn upload_part(&self, mut req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
                self.bucket_exists(&req.input.bucket)?;
                let stated = stated!(req.input);
                let mismatch = check_digests(&mut req.input.body, req.input.content_md5.as_deref(), stated)?;
                bad_digest(self.fs.upload_part(req).await, mismatch)
            }

            async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
                if self.root.join(&req.input.bucket).is_dir() {
                    return Err(s3_error!(BucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it."));
                }
                self.fs.create_bucket(req).await
            }

            async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
                if holds_a_file(&self.root.join(&req.input.bucket)) {
                    return Err(s3_error!(BucketNotEmpty, "The bucket you tried to delete is not empty"));
                }
                self.fs.delete_bucket(req).await
            }

            async fn complete_multipart_upload(&self, mut req: S3Request<CompleteMultipartUploadInput>) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
                self.bucket_exists(&req.input.bucket)?;
                if self.ignore_conditions {
                    req.input.if_none_match = None;
                    req.input.if_match = None;
                }
                self.fs.complete_multipart_upload(req).await
            }

            async fn list_multipart_uploads(&self, req: S3Request<ListMultipartUploadsInput>) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
                let input = req.input;
                self.bucket_exists(&input.bucket)?;
                let prefix = input.prefix.clone().unwrap_or_default();
                let mut found: Vec<_> = pending_uploads(&self.root).into_iter().filter(|(b, k, _, _)| *b == input.bucket && k.starts_with(&prefix)).collect();
                found.sort_by(|a, b| (&a.1, a.3).cmp(&(&b.1, b.3)));
                // One page, whole: the embedded server never has many.
                let uploads = found
                    .into_iter()
                    .map(|(_, key, id, began)| MultipartUpload { key: Some(key), upload_id: Some(id), initiated: Some(began.into()), ..Default::default() })
                    .collect();
                Ok(S3Response::new(ListMultipartUploadsOutput { bucket: Some(input.bucket), prefix: input.prefix, uploads: Some(uploads), is_truncated: Some(false), ..Default::default() }))
            }

            async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
                self.fs.list_buckets(req).await
            }

            $(
                async fn $name(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.bucket_exists(&req.input.bucket)?;
                    self.fs.$name(req).await
                }
            )*
        }
    };
}

strict_s3! {
    copy_object(CopyObjectInput) -> CopyObjectOutput;
    delete_object(DeleteObjectInput) -> DeleteObjectOutput;
    delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
    get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
    get_object(GetObjectInput) -> GetObjectOutput;
    head_bucket(HeadBucketInput) -> HeadBucketOutput;
    head_object(HeadObjectInput) -> HeadObjectOutput;
    list_objects(ListObjectsInput) -> ListObjectsOutput;
    list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output;
    create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput;
    upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput;
    list_parts(ListPartsInput) -> ListPartsOutput;
    abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
}
