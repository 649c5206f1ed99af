//! S3's multipart upload protocol: CreateMultipartUpload, UploadPart (as the part engine's
//! [`Protocol`]: each part one request of the client's pipeline), CompleteMultipartUpload with its lost-answer check, and
//! AbortMultipartUpload.

use std::cell::RefCell;
use std::rc::Rc;

use crate::buffers;
use crate::checksums::Algorithm;
use crate::client::{self, MAX_ERROR_BODY, call, call_read, drain};
use crate::conditions;
use crate::config::Settings;
use crate::error::{self as errors, Error, transport};
use crate::objects;
use crate::parts::{PartFuture, Protocol, after_abort};
use crate::replies::stored_after_put;
use crate::request;
use crate::sys::http::Response;
use crate::types::{PutOptions, StoredFile, WriteCondition};
use crate::xml;

/// A multipart upload S3 has begun: where its parts go.
pub struct Upload {
    settings: Rc<Settings>,
    key: String,
    full: String,
    upload_id: String,
    /// The CRC the upload is declared with (`FULL_OBJECT`), and each part's CRC and length
    /// once computed: a part sent again reuses it, and Complete combines them into the
    /// whole object's.
    crc: Option<Algorithm>,
    part_crcs: RefCell<Vec<(u32, u64, u64)>>,
    /// Completed, or its abort has run: nothing is left to clean up when it is dropped.
    settled: std::cell::Cell<bool>,
}

impl Upload {
    /// CreateMultipartUpload for `full` (the caller's `key`); with `crc`, declared as a
    /// `FULL_OBJECT` upload of that checksum, whose parts will each carry theirs.
    pub async fn create(settings: &Rc<Settings>, key: String, full: &str, options: &PutOptions, crc: Option<Algorithm>) -> Result<Upload, Error> {
        let mut create = request::create_multipart_upload(settings, full, options)?;
        if let Some(alg) = crc {
            create.headers.push(("x-amz-checksum-algorithm".into(), alg.name().into()));
            create.headers.push(("x-amz-checksum-type".into(), "FULL_OBJECT".into()));
        }
        // A reply lost after the server created the upload leaves one we never learn of; only
        // `pending-uploads` (or a lifecycle rule) finds it.
        let reply = call_read(settings, &create, None, Some(&key), MAX_ERROR_BODY).await?;
        let upload_id = request::upload_id(xml::parse_upload_id(&reply.text()).map_err(transport)?)?;
        Ok(Upload { settings: settings.clone(), key, full: full.to_string(), upload_id, crc, part_crcs: RefCell::default(), settled: Default::default() })
    }

    /// The part's CRC (computed on its first sending).
    fn part_crc(&self, alg: Algorithm, number: u32, data: &[u8]) -> u64 {
        let mut known = self.part_crcs.borrow_mut();
        if let Some((_, crc, _)) = known.iter().find(|(n, _, _)| *n == number) {
            return *crc;
        }
        let crc = alg.checksum(data);
        known.push((number, crc, data.len() as u64));
        crc
    }

    /// The whole object's CRC, from its parts' in order, and the parts' own for the
    /// Complete body; `None` if a part's is missing (never sent through this upload).
    fn whole_crc(&self, alg: Algorithm, parts: &[(u32, String)]) -> Option<(u64, Vec<u64>)> {
        let known = self.part_crcs.borrow();
        let mut whole = alg.checksum(b"");
        let mut each = Vec::with_capacity(parts.len());
        for (number, _) in parts {
            let (_, crc, len) = known.iter().find(|(n, _, _)| n == number)?;
            whole = alg.combine(whole, *crc, *len);
            each.push(*crc);
        }
        Some((whole, each))
    }

    pub fn settings(&self) -> &Rc<Settings> {
        &self.settings
    }

    pub fn full(&self) -> &str {
        &self.full
    }

    pub fn id(&self) -> &str {
        &self.upload_id
    }

    /// Completes the upload from its `parts` (in order, `size` bytes in all), checking the
    /// size promised; aborts it on failure.
    pub async fn complete(self, parts: &[(u32, String)], size: u64, options: PutOptions) -> Result<StoredFile, Error> {
        if options.size.is_some_and(|n| n != size) {
            return Err(after_abort(size_mismatch(&options, size), self.abort().await));
        }
        let completed = match self.send_complete(parts, options.condition.as_ref()).await {
            Ok(done) => Ok(done),
            // The answer may have been lost after the server completed the upload, so that
            // the retry found the upload gone (NoSuchUpload; AccessDenied from s3s-fs). The
            // object is this upload's if its ETag is the one these parts make.
            Err(e) if lost_answer(&e) => match (multipart_etag(parts), objects::head(&self.settings, self.key.clone()).await) {
                (Some(expected), Ok(file)) if file.size == size && file.etag.as_deref().map(|t| t.trim_matches('"')) == Some(expected.as_str()) => {
                    Ok((file.etag, file.version_id))
                }
                _ => Err(e),
            },
            Err(e) => Err(conditions::refused(e, options.condition.as_ref(), &self.key)),
        };
        match completed {
            Ok((etag, version)) => {
                self.settled.set(true);
                Ok(stored_after_put(self.key.clone(), size, etag, version, options))
            }
            Err(e) => Err(after_abort(e, self.abort().await)),
        }
    }

    /// The object's ETag and version.
    async fn send_complete(&self, parts: &[(u32, String)], condition: Option<&WriteCondition>) -> Result<(Option<String>, Option<String>), Error> {
        let mut req = request::complete_multipart_upload(&self.settings, &self.full, &self.upload_id, condition)?;
        let crcs = match self.crc {
            Some(alg) => {
                let (whole, each) = self.whole_crc(alg, parts).ok_or_else(|| transport("a part's CRC is missing"))?;
                // The service checks the object it assembles against this before completing.
                req.headers.push((alg.header().into(), alg.encode(whole)));
                req.headers.push(("x-amz-checksum-type".into(), "FULL_OBJECT".into()));
                // S3 wants a customer key here too when the upload has a checksum (Garage
                // otherwise stores the object's metadata unreadable with the key).
                req.headers.extend(self.settings.encryption.key_headers_for_bytes());
                Some((alg, each))
            }
            None => None,
        };
        let body = request::complete_multipart_body(parts, crcs.as_ref().map(|(alg, each)| (*alg, each.as_slice())));
        // A 200 that turns out an `<Error>` is failed (and retried) inside `call_read`.
        let reply = call_read(&self.settings, &req, Some(body.as_bytes()), Some(&self.key), MAX_ERROR_BODY).await?;
        Ok((xml::parse_complete(&reply.text()).map_err(transport)?, reply.version_id))
    }
}

impl Protocol for Upload {
    type Body = Vec<u8>;

    fn size(body: &Vec<u8>) -> u64 {
        body.len() as u64
    }

    fn part(&self, number: u32, data: Vec<u8>) -> PartFuture {
        let mut req = request::upload_part(&self.settings, &self.full, &self.upload_id, number);
        if let Some(alg) = self.crc {
            req.headers.push((alg.header().into(), alg.encode(self.part_crc(alg, number, &data))));
        }
        let (settings, key) = (self.settings.clone(), self.key.clone());
        Box::pin(async move {
            // The ETag is read inside the attempt: a reply without one is sent again.
            let etag = async |resp: Response| {
                let etag = resp.header("etag").map(str::to_string);
                drain(resp).await;
                etag.ok_or_else(|| transport("UploadPart answered without an ETag"))
            };
            let sent = client::counted(&settings, &req, Some(&data), Some(&key), etag).await;
            buffers::give(data);
            Ok(sent?)
        })
    }

    fn max_in_flight(&self) -> usize {
        self.settings.max_pool_connections as usize
    }

    /// AbortMultipartUpload, so no parts linger (and nothing appears under the key).
    async fn abort(&self) -> Result<(), Error> {
        let req = request::abort_multipart_upload(&self.settings, &self.full, &self.upload_id)?;
        let aborted = call(&self.settings, &req, None, None).await;
        self.settled.set(true);
        match aborted {
            Ok(resp) => {
                drain(resp).await;
                Ok(())
            }
            Err(e) => Err(transport(format!("aborting the multipart upload {} failed too: {}", self.upload_id, errors::message(&e)))),
        }
    }
}

/// An async caller may drop its call mid-upload (a 0.3 subtask cancelled: the client of a
/// service went away): the upload begun is aborted in a task of its own, so no parts
/// linger. (A 0.2 call runs to its end: nothing drops an upload unsettled there.)
#[cfg(feature = "p3")]
impl Drop for Upload {
    fn drop(&mut self) {
        if self.settled.get() {
            return;
        }
        let (settings, full, upload_id) = (self.settings.clone(), std::mem::take(&mut self.full), std::mem::take(&mut self.upload_id));
        crate::sys::detach(async move {
            if let Ok(req) = request::abort_multipart_upload(&settings, &full, &upload_id)
                && let Ok(resp) = call(&settings, &req, None, None).await
            {
                drain(resp).await;
            }
        });
    }
}

/// `abort-upload`: AbortMultipartUpload of a pending upload the caller names.
pub async fn abort_pending(settings: &Settings, key: &str, upload_id: &str) -> Result<(), Error> {
    let full = crate::keys::full_key(&settings.prefix, key)?;
    drain(call(settings, &request::abort_multipart_upload(settings, &full, upload_id)?, None, None).await?).await;
    Ok(())
}

pub fn size_mismatch(options: &PutOptions, got: u64) -> Error {
    Error::InvalidArgument(format!("the data holds {got} bytes, not the {} its size says; nothing was stored", options.size.unwrap_or_default()))
}

/// A failed CompleteMultipartUpload that may have completed after all: not a refused
/// condition (412), which is an answer about this very request.
fn lost_answer(e: &Error) -> bool {
    match e {
        Error::Service(s) | Error::AccessDenied(s) => s.status != 412,
        Error::Transport(_) => true,
        _ => false,
    }
}

/// The ETag S3 gives the object a multipart upload makes: the MD5 of the parts' binary
/// MD5s, then `-` and the number of parts. `None` if a part's ETag isn't an MD5.
fn multipart_etag(parts: &[(u32, String)]) -> Option<String> {
    use md5::Digest;
    let mut md5 = md5::Md5::new();
    for (_, etag) in parts {
        let hex = etag.trim_matches('"');
        if hex.len() != 32 {
            return None;
        }
        for i in (0..32).step_by(2) {
            md5.update([u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()?]);
        }
    }
    let digest = md5.finalize();
    Some(format!("{}-{}", crate::verify::hex(&digest), parts.len()))
}

#[cfg(test)]
mod tests {
    use super::multipart_etag;

    #[test]
    fn multipart_etags_are_the_md5_of_the_part_md5s() {
        // Parts whose MD5s are those of "a" and "b"; the figure is from Python's hashlib.
        let parts = [(1, "\"0cc175b9c0f1b6a831c399e269772661\"".to_string()), (2, "92eb5ffee6ae2fec3ad71c777531578f".to_string())];
        assert_eq!(multipart_etag(&parts).as_deref(), Some(EXPECTED));
        assert_eq!(multipart_etag(&[(1, "not-an-md5".into())]), None);
        assert_eq!(multipart_etag(&[(1, "zz".repeat(16))]), None);
    }

    const EXPECTED: &str = "96e024ba2074fe77e8e965ba43a704be-2";
}
