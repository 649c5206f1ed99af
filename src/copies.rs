//! Server-side copies and moves. Up to `copy-part-size`, one CopyObject; past it (CopyObject stops at
//! 5 GiB) a multipart copy: CreateMultipartUpload with the source's content type, metadata
//! and attributes, an UploadPartCopy per range through the part engine (in parallel, each
//! retried on its own, the upload aborted on any failure), then CompleteMultipartUpload. The
//! bytes never pass through the component. Every request names the source's ETag
//! (`x-amz-copy-source-if-match`), so a copy never mixes two versions of its source.

use std::rc::Rc;

use crate::client::{MAX_ERROR_BODY, call_parsed, call_read};
use crate::config::Settings;
use crate::error::{Error, invalid_argument, transport};
use crate::keys;
use crate::multipart::Upload;
use crate::objects;
use crate::parts::{MAX_PARTS, PartFuture, Parts, Protocol};
use crate::quote::Q;
use crate::replies::{Format, datetime};
use crate::request;
use crate::types::{CopyOptions, PutOptions, Span, StoredFile};
use crate::xml;

/// Copies `source` to `destination` (keys as the caller names them); what the destination
/// now holds.
pub async fn copy(settings: &Rc<Settings>, source: &str, destination: &str, options: &CopyOptions) -> Result<StoredFile, Error> {
    let (src, dst) = keys::full_pair(&settings.prefix, source, destination)?;
    // Refuse a bad replacement before any request.
    request::copy_object(settings, &src, &dst, options.replace.as_ref(), None)?;
    // The tags too, where the server won't carry them: a multipart copy that keeps them.
    let original = match options.replace.is_none() && src != dst {
        true => objects::info(settings, source.to_string(), &Default::default(), None).await?,
        false => objects::head(settings, source.to_string()).await?,
    };
    let etag = original.etag.clone().ok_or_else(|| transport(format!("the server gave no ETag for {source}, so it can't be copied safely")))?;
    // What the destination holds besides the bytes: the source's, or the replacement.
    let put = match &options.replace {
        Some(new) => PutOptions {
            content_type: new.content_type.clone(),
            metadata: new.metadata.clone(),
            attributes: new.attributes.clone(),
            tags: new.tags.clone(),
            size: Some(original.size),
            condition: None,
        },
        None => PutOptions {
            content_type: original.content_type.clone(),
            metadata: original.metadata.clone(),
            attributes: original.attributes.clone(),
            tags: original.tags.clone(),
            size: Some(original.size),
            condition: None,
        },
    };
    let copied = if src == dst && options.replace.is_none() {
        // S3 refuses to copy an object onto itself unchanged; the result is the object.
        return Ok(StoredFile { key: destination.to_string(), ..original });
    } else if original.size > settings.copy_part_size {
        copy_in_parts(settings, source, &src, &etag, destination, &dst, original.size, put).await
    } else {
        copy_object(settings, source, &src, &etag, destination, &dst, options, original.size, put).await
    };
    // The source's ETag no longer matches: it changed while being copied.
    copied.map_err(|e| match e {
        Error::Service(s) if s.status == 412 => Error::PreconditionFailed(source.to_string()),
        e => e,
    })
}

/// Copy, then delete the source.
pub async fn move_(settings: &Rc<Settings>, source: String, destination: String) -> Result<StoredFile, Error> {
    if source != destination && keys::may_alias(&source, &destination) {
        ensure_distinct(settings, &source, &destination).await?;
    }
    let file = copy(settings, &source, &destination, &CopyOptions { replace: None }).await?;
    if source != destination {
        objects::delete(settings, source).await?;
    }
    Ok(file)
}

/// Before a move between keys that may be one file (`keys::may_alias`): that `destination`
/// is not `source` itself under another name. The key rule and `copy` refuse the keys any
/// server folds together by their separators, but a server on a case-insensitive or
/// normalizing filesystem (s3s-fs or MinIO on macOS or Windows) also makes `A` and `a`,
/// `café` and `cafe\u{301}` one file: the copy lands on its source and deleting the source
/// deletes both. Such a destination already exists as the very same file: the same size
/// and the same modification time. (A distinct object that matches both is refused too,
/// saying why; nothing is lost either way.)
async fn ensure_distinct(settings: &Settings, source: &str, destination: &str) -> Result<(), Error> {
    let src = objects::head(settings, source.to_string()).await?;
    let dst = match objects::head(settings, destination.to_string()).await {
        Ok(dst) => dst,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let when = |f: &StoredFile| f.last_modified.map(|d| (d.seconds, d.nanoseconds));
    if src.size == dst.size && when(&src).is_some() && when(&src) == when(&dst) {
        return Err(invalid_argument(format!(
            "{destination} already holds an object of the same size and time as {source}: on this server they may be one object under two names (a case-insensitive or normalizing store), so moving would delete it; nothing was moved",
            destination = Q(&destination),
            source = Q(&source)
        )));
    }
    Ok(())
}

/// One CopyObject. Its reply says the new ETag and date; the rest is what was copied.
#[allow(clippy::too_many_arguments)]
async fn copy_object(
    settings: &Settings,
    source: &str,
    src: &str,
    etag: &str,
    key: &str,
    dst: &str,
    options: &CopyOptions,
    size: u64,
    put: PutOptions,
) -> Result<StoredFile, Error> {
    let mut req = request::copy_object(settings, src, dst, options.replace.as_ref(), Some(etag))?;
    // CopyObject resets the storage class unless told: kept, as the rest is.
    if let (None, Some(class)) = (&options.replace, &put.attributes.storage_class) {
        req.headers.push(("x-amz-storage-class".into(), class.clone()));
    }
    // A CopyObject that fails after answering 200 (an `<Error>` body) is failed by
    // `call_read`, inside the attempt: retried like any other failure.
    // A 404 here is the source's: the destination need not exist.
    let reply = call_read(settings, &req, None, Some(source), MAX_ERROR_BODY).await?;
    let (new_etag, modified) = xml::parse_copy_result(&reply.text()).map_err(transport)?;
    let mut file = crate::replies::stored_after_put(key.to_string(), size, new_etag, reply.version_id, put);
    file.last_modified = modified.and_then(|d| datetime(&d, Format::DateTime));
    Ok(file)
}

/// A multipart copy of `size` bytes of `src` (whose ETag is `etag`) to `dst`.
#[allow(clippy::too_many_arguments)]
async fn copy_in_parts(
    settings: &Rc<Settings>,
    source: &str,
    src: &str,
    etag: &str,
    key: &str,
    dst: &str,
    size: u64,
    put: PutOptions,
) -> Result<StoredFile, Error> {
    let part = part_size(size, settings.copy_part_size)?;
    // No checksum declared: the service computes the copied parts' itself.
    let upload = Upload::create(settings, key.to_string(), dst, &put, None).await?;
    let mut parts = Parts::new(CopyParts { upload, key: source.into(), source: src.to_string(), etag: etag.to_string() });
    let mut start = 0;
    let sent = loop {
        if start == size {
            break parts.drain().await;
        }
        let end = size.min(start + part);
        if let Err(e) = parts.launch_when_room(Span { start, end }).await {
            break Err(e);
        }
        start = end;
    };
    if let Err(e) = sent {
        return Err(parts.abort(e).await);
    }
    let (copy, done, total) = parts.finish();
    copy.upload.complete(&done, total, put).await
}

/// Parts of at least `wanted` bytes, more when the object needs more than 10,000 of them.
fn part_size(size: u64, wanted: u64) -> Result<u64, Error> {
    let part = wanted.max(size.div_ceil(u64::from(MAX_PARTS)));
    if part > crate::config::MAX_COPY_PART_SIZE {
        return Err(Error::InvalidArgument(format!("the object is {size} bytes: more than {MAX_PARTS} parts of 5 GiB, more than S3 can copy")));
    }
    Ok(part)
}

/// S3's multipart copy, as the part engine's protocol: a part is a range of the source.
struct CopyParts {
    upload: Upload,
    /// The source's key as the caller names it (a 404 is about it).
    key: Rc<str>,
    /// The source's full key.
    source: String,
    etag: String,
}

impl Protocol for CopyParts {
    type Body = Span;

    fn size(body: &Span) -> u64 {
        body.end - body.start
    }

    fn part(&self, number: u32, range: Span) -> PartFuture {
        let settings = self.upload.settings().clone();
        let req = request::upload_part_copy(&settings, &self.source, &self.etag, self.upload.full(), self.upload.id(), number, range);
        let key = self.key.clone();
        Box::pin(async move {
            // A 200 may still carry an `<Error>`, or be cut off: both are failed (and
            // retried) inside the attempt.
            let parse = |reply: crate::client::Reply| xml::parse_copy_part(&reply.text()).map_err(transport);
            call_parsed(&settings, &req, None, Some(&key), MAX_ERROR_BODY, parse).await
        })
    }

    fn max_in_flight(&self) -> usize {
        self.upload.max_in_flight()
    }

    async fn abort(&self) -> Result<(), Error> {
        self.upload.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_past_10_000_and_stop_at_5_gib_parts() {
        const GIB: u64 = 1 << 30;
        assert_eq!(part_size(6 * GIB, 5 * GIB).unwrap(), 5 * GIB);
        assert_eq!(part_size(100 * GIB, 5 << 20).unwrap(), (100 * GIB).div_ceil(10_000));
        assert!(matches!(part_size(60_000 * GIB, 5 << 20), Err(Error::InvalidArgument(_))));
    }
}
