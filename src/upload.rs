//! Streaming uploads: a short stream is one PutObject; a long one is a multipart upload
//! whose parts go out concurrently, driven by one wasi:io poll loop. Either the whole object
//! appears or nothing does: any failure aborts the upload.
//!
//! Memory: at most `max-pool-connections` parts of `part-size` bytes are held at once (the
//! parts in flight, and the one being read while there is room for it). The exception: with
//! `upload-checksum = none` and a known size, the stream is spliced into one PutObject by
//! the host, and the component holds nothing (measured: 1.0× curl, against 0.36× for the
//! same request copied through the component with Content-MD5; see BENCHMARKS.md).

use wasip2::io::poll::{poll, Pollable};
use wasip2::io::streams::{InputStream, StreamError};

use crate::bindings::wasm_storages::storage::types::{Error, PutOptions, ServiceError, StoredFile, UploadChecksum, WriteCondition};
use crate::config::Settings;
use crate::error::{self as errors, transport};
use crate::http::{self, InFlight};
use crate::request;
use crate::retry;
use crate::store::{self, call, check, drain, MAX_ERROR_BODY};
use crate::xml;

/// S3's limit on parts per upload.
const MAX_PARTS: u32 = 10_000;
/// Reads from the source go in chunks of at most this size.
const READ_CHUNK: u64 = 1 << 20;
/// S3's limit on a single PutObject.
const MAX_PUT_OBJECT: u64 = 5 << 30;

pub fn put_stream(settings: &Settings, key: String, full: &str, source: InputStream, options: PutOptions) -> Result<StoredFile, Error> {
    // Refuse a bad content type or metadata before reading a byte.
    request::put_object(settings, full, options.content_type.as_deref(), &options.metadata, options.condition.as_ref())?;
    store::ensure_conditions_honoured(settings, options.condition.as_ref())?;
    if let (UploadChecksum::None, Some(size @ ..=MAX_PUT_OBJECT)) = (settings.upload_checksum, options.size) {
        return store::put_spliced(settings, key, full, &source, size, options);
    }
    let mismatch = |got: u64| Error::InvalidArgument(format!("the stream holds {got} bytes, not the {} its size says; nothing was stored", options.size.unwrap_or_default()));
    let part_size = usize::try_from(settings.part_size).unwrap_or(usize::MAX);
    let mut source = Source { stream: source, eof: false };
    // Part buffers start empty and grow to `part-size` as data arrives (`Source::read_some`).
    let mut first = Vec::new();
    source.fill(&mut first, part_size)?;
    // A full first part may also be the whole stream: read one byte more to know.
    let mut carry = Vec::new();
    source.fill(&mut carry, 1)?;
    if source.eof && carry.is_empty() {
        if options.size.is_some_and(|n| n != first.len() as u64) {
            return Err(mismatch(first.len() as u64));
        }
        return store::put_bytes(settings, key, full, &first, options);
    }

    let create = request::create_multipart_upload(settings, full, options.content_type.as_deref(), &options.metadata)?;
    // A reply lost after the server created the upload leaves one we never learn of; only
    // `pending-uploads` (or a lifecycle rule) finds it.
    let reply = store::call_read(settings, &create, None, Some(&key), MAX_ERROR_BODY)?;
    let upload_id = xml::parse_upload_id(&reply.text()).map_err(transport)?;

    let uploaded = Uploader { settings, full, upload_id: &upload_id, key: &key, part_size }.run(first, carry, &mut source);
    let uploaded = uploaded.and_then(|(parts, size)| match options.size {
        Some(n) if n != size => Err(mismatch(size)),
        _ => Ok((parts, size)),
    });
    let completed = uploaded.and_then(|(parts, size)| {
        match complete(settings, full, &upload_id, &key, &parts, options.condition.as_ref()) {
            Ok(etag) => Ok((etag, size)),
            // The answer may have been lost after the server completed the upload, so that
            // the retry found the upload gone (NoSuchUpload; AccessDenied from s3s-fs). The
            // object is this upload's if its ETag is the one these parts make.
            Err(e) if lost_answer(&e) => match (multipart_etag(&parts), store::info(settings, key.clone())) {
                (Some(expected), Ok(file)) if file.size == size && file.etag.as_deref().map(|t| t.trim_matches('"')) == Some(expected.as_str()) => Ok((file.etag, size)),
                _ => Err(e),
            },
            Err(e) => Err(store::condition_error(e, options.condition.as_ref(), &key)),
        }
    });
    match completed {
        Ok((etag, size)) => Ok(store::stored_after_put(key, size, etag, options)),
        Err(e) => Err(abort(settings, full, &upload_id, e)),
    }
}

/// The caller's stream of bytes to store.
struct Source {
    stream: InputStream,
    eof: bool,
}

impl Source {
    /// Reads whatever is available now (without blocking) into `buf`, up to `cap` bytes.
    /// Returns whether anything happened.
    fn read_some(&mut self, buf: &mut Vec<u8>, cap: usize) -> Result<bool, Error> {
        let want = (cap - buf.len()).min(READ_CHUNK as usize) as u64;
        match self.stream.read(want) {
            Ok(bytes) => {
                // Grow toward the part size in one step, or report running out of memory.
                if buf.capacity() - buf.len() < bytes.len() && buf.try_reserve_exact(cap - buf.len()).is_err() {
                    return Err(transport(format!("out of memory for a {cap}-byte part: lower part-size or max-pool-connections")));
                }
                buf.extend_from_slice(&bytes);
                Ok(!bytes.is_empty())
            }
            Err(StreamError::Closed) => {
                self.eof = true;
                Ok(true)
            }
            Err(StreamError::LastOperationFailed(e)) => Err(transport(format!("reading the data to upload failed: {}", e.to_debug_string()))),
        }
    }

    /// Reads until `buf` holds `cap` bytes or the stream ends.
    fn fill(&mut self, buf: &mut Vec<u8>, cap: usize) -> Result<(), Error> {
        while buf.len() < cap && !self.eof {
            if !self.read_some(buf, cap)? {
                self.stream.subscribe().block();
            }
        }
        Ok(())
    }
}

struct Uploader<'a> {
    settings: &'a Settings,
    full: &'a str,
    upload_id: &'a str,
    key: &'a str,
    part_size: usize,
}

struct Part {
    number: u32,
    state: PartState,
    /// Attempts started so far.
    attempts: u32,
    /// Sent again after an `ExpiredToken` refusal already.
    refreshed: bool,
}

enum PartState {
    Sending(InFlight<Vec<u8>>),
    /// Failed in a way worth another attempt: waiting out the backoff.
    Waiting { data: Vec<u8>, timer: Pollable },
}

impl Uploader<'_> {
    /// Uploads `first` and the rest of `source` as parts, up to max-pool-connections at a
    /// time. Returns every part's number and ETag, in order, and the total size.
    /// `carry` holds the bytes read past `first`: the start of the second part.
    fn run(&self, first: Vec<u8>, carry: Vec<u8>, source: &mut Source) -> Result<(Vec<(u32, String)>, u64), Error> {
        let mut carry = Some(carry);
        let max_in_flight = self.settings.max_pool_connections as usize;
        let mut in_flight: Vec<Part> = Vec::new();
        let mut done: Vec<(u32, String)> = Vec::new();
        let mut number = 0u32;
        let mut total = 0u64;
        let mut filling = Some(first);
        loop {
            // Launch the part that's been read, if it's complete and there's room.
            if in_flight.len() < max_in_flight {
                if let Some(buf) = filling.take_if(|b| b.len() == self.part_size || (source.eof && !b.is_empty())) {
                    number += 1;
                    if number > MAX_PARTS {
                        return Err(transport(format!(
                            "the stream is longer than {MAX_PARTS} parts of {} bytes; raise part-size",
                            self.part_size
                        )));
                    }
                    total += buf.len() as u64;
                    in_flight.push(Part { number, state: PartState::Sending(self.start_part(number, buf)?), attempts: 1, refreshed: false });
                } else if filling.as_ref().is_some_and(|b| b.is_empty()) && source.eof {
                    filling = None;
                }
            }
            if filling.is_none() && (!source.eof || carry.as_ref().is_some_and(|c| !c.is_empty())) && in_flight.len() < max_in_flight {
                filling = Some(match carry.take() {
                    Some(carried) => carried,
                    None => Vec::new(),
                });
            }
            if in_flight.is_empty() && filling.is_none() && source.eof {
                break;
            }

            let mut moved = false;
            for part in &mut in_flight {
                match &mut part.state {
                    PartState::Sending(flight) => moved |= flight.pump(),
                    PartState::Waiting { data, timer } if timer.ready() => {
                        let data = std::mem::take(data);
                        part.state = PartState::Sending(self.start_part(part.number, data)?);
                        part.attempts += 1;
                        moved = true;
                    }
                    PartState::Waiting { .. } => {}
                }
            }
            if let Some(buf) = filling.as_mut().filter(|b| b.len() < self.part_size && !source.eof) {
                moved |= source.read_some(buf, self.part_size)?;
            }
            let mut i = 0;
            while i < in_flight.len() {
                let part = &mut in_flight[i];
                let PartState::Sending(flight) = &mut part.state else {
                    i += 1;
                    continue;
                };
                if flight.is_writing() {
                    i += 1;
                    continue;
                }
                let Some(result) = flight.poll_response() else {
                    i += 1;
                    continue;
                };
                moved = true;
                let (etag, retry_after) = self.part_etag(result);
                match etag {
                    Ok(etag) => {
                        done.push((part.number, etag));
                        in_flight.swap_remove(i);
                    }
                    // Temporary credentials the server calls expired: fetch new ones and
                    // send the part once more at once, as `store::call` does.
                    Err(e) if store::expired_token(&e) && !part.refreshed && self.settings.credentials.invalidate() => {
                        let data = flight.take_body().ok_or_else(|| transport("the part's data is gone"))?;
                        part.refreshed = true;
                        part.attempts += 1;
                        part.state = PartState::Sending(self.start_part(part.number, data)?);
                    }
                    // Parts are idempotent: send it again after the backoff.
                    Err(e) if retry::retryable(&e) && part.attempts < self.settings.retry.max_attempts => {
                        let data = flight.take_body().ok_or_else(|| transport("the part's data is gone"))?;
                        let delay = self.settings.retry.delay(part.attempts, retry_after);
                        let timer = wasip2::clocks::monotonic_clock::subscribe_duration(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
                        part.state = PartState::Waiting { data, timer };
                    }
                    Err(e) => return Err(retry::after_attempts(e, part.attempts)),
                }
            }
            if !moved {
                // Nothing to do until a body has room, a response arrives, a backoff ends
                // or the source has more to read.
                let owned: Vec<Pollable> = in_flight
                    .iter()
                    .filter_map(|p| match &p.state {
                        PartState::Sending(flight) => Some(flight.pollables()),
                        PartState::Waiting { .. } => None,
                    })
                    .flatten()
                    .chain((filling.as_ref().is_some_and(|b| b.len() < self.part_size) && !source.eof).then(|| source.stream.subscribe()))
                    .collect();
                let timers = in_flight.iter().filter_map(|p| match &p.state {
                    PartState::Waiting { timer, .. } => Some(timer),
                    PartState::Sending(_) => None,
                });
                let pollables: Vec<&Pollable> = owned.iter().chain(timers).collect();
                if pollables.is_empty() {
                    return Err(transport("the upload stalled with nothing to wait for"));
                }
                poll(&pollables);
            }
        }
        done.sort_by_key(|(n, _)| *n);
        Ok((done, total))
    }

    fn start_part(&self, number: u32, data: Vec<u8>) -> Result<InFlight<Vec<u8>>, Error> {
        let req = request::upload_part(self.settings, self.full, self.upload_id, number);
        let (request, _) = store::prepare(self.settings, &req, Some(&data))?;
        http::start(request, Some(data))
    }

    /// The part's ETag, or the error and the server's `Retry-After`.
    fn part_etag(&self, result: Result<http::Response, Error>) -> (Result<String, Error>, Option<std::time::Duration>) {
        let resp = match result {
            Ok(resp) => resp,
            Err(e) => return (Err(e), None),
        };
        let retry_after = resp.header("retry-after").and_then(retry::parse_retry_after);
        let etag = check(resp, Some(self.key)).and_then(|resp| {
            let etag = resp.header("etag").map(str::to_string);
            drain(resp);
            etag.ok_or_else(|| transport("UploadPart answered without an ETag"))
        });
        (etag, retry_after)
    }
}

fn complete(settings: &Settings, full: &str, upload_id: &str, key: &str, parts: &[(u32, String)], condition: Option<&WriteCondition>) -> Result<Option<String>, Error> {
    let req = request::complete_multipart_upload(settings, full, upload_id, condition)?;
    let body = request::complete_multipart_body(parts);
    let reply = store::call_read(settings, &req, Some(body.as_bytes()), Some(key), MAX_ERROR_BODY)?;
    match xml::parse_complete(&reply.text()).map_err(transport)? {
        Ok(etag) => Ok(etag),
        Err(e) => Err(errors::classify(ServiceError { status: reply.status, code: e.code, message: e.message, request_id: e.request_id.or(reply.request_id) })),
    }
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
    Some(format!("{}-{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>(), parts.len()))
}

/// Aborts the upload after `cause`, so no parts linger (and nothing appears under the key).
fn abort(settings: &Settings, full: &str, upload_id: &str, cause: Error) -> Error {
    let req = request::abort_multipart_upload(settings, full, upload_id);
    match call(settings, &req, None, None) {
        Ok(resp) => {
            drain(resp);
            cause
        }
        Err(abort_error) => match cause {
            Error::Transport(why) => transport(format!("{why}; aborting the multipart upload {upload_id} failed too: {abort_error:?}")),
            other => other,
        },
    }
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
