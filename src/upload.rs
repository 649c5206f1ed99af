//! Streaming uploads: a short stream is one PutObject; a long one is a multipart upload
//! whose parts go out concurrently, driven by one wasi:io poll loop. Either the whole object
//! appears or nothing does: any failure aborts the upload.
//!
//! The same engine (`Parts`) sends the parts of a `writer`, which the caller fills itself.
//!
//! Memory: at most `max-pool-connections` parts of `part-size` bytes are held at once (the
//! parts in flight, and the one being read while there is room for it); a `writer` holds
//! one part more (the one the caller is filling while the others are in flight). The exception: with
//! `upload-checksum = none` and a known size, the stream is spliced into one PutObject by
//! the host, and the component holds nothing (measured: 1.0× curl, against 0.36× for the
//! same request copied through the component with Content-MD5; see BENCHMARKS.md).

use std::rc::Rc;

use wasip2::io::poll::{poll, Pollable};
use wasip2::io::streams::{InputStream, StreamError};

use crate::bindings::exports::wasm_storages::storage::types::{Error, PutOptions, StoredFile, UploadChecksum, WriteCondition};
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

pub fn put_stream(settings: &Rc<Settings>, key: String, full: &str, source: InputStream, options: PutOptions) -> Result<StoredFile, Error> {
    // Refuse a bad content type or metadata before reading a byte.
    request::put_object(settings, full, options.content_type.as_deref(), &options.metadata, options.condition.as_ref())?;
    store::ensure_conditions_honoured(settings, options.condition.as_ref())?;
    if let (UploadChecksum::None, Some(size @ ..=MAX_PUT_OBJECT)) = (settings.upload_checksum, options.size) {
        return store::put_spliced(settings, key, full, &source, size, options);
    }
    let part_size = part_size(settings);
    let mut source = Source { stream: source, eof: false };
    // Part buffers start empty and grow to `part-size` as data arrives (`Source::read_some`).
    let mut first = Vec::new();
    source.fill(&mut first, part_size)?;
    // A full first part may also be the whole stream: read one byte more to know.
    let mut carry = Vec::new();
    source.fill(&mut carry, 1)?;
    if source.eof && carry.is_empty() {
        if options.size.is_some_and(|n| n != first.len() as u64) {
            return Err(size_mismatch(&options, first.len() as u64));
        }
        return store::put_bytes(settings, key, full, &first, options);
    }
    let mut parts = Parts::create(settings, key, full, &options)?;
    match parts.launch(first).and_then(|()| parts.send_rest(carry, &mut source)) {
        Ok(()) => parts.complete(options),
        Err(e) => Err(parts.abort(e)),
    }
}

fn part_size(settings: &Settings) -> usize {
    usize::try_from(settings.part_size).unwrap_or(usize::MAX)
}

fn size_mismatch(options: &PutOptions, got: u64) -> Error {
    Error::InvalidArgument(format!("the data holds {got} bytes, not the {} its size says; nothing was stored", options.size.unwrap_or_default()))
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
                grow(buf, cap, bytes.len())?;
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

/// Makes room in a part buffer for `more` bytes: in one step up to the part size `cap`, or
/// an error on running out of memory (never an abort).
fn grow(buf: &mut Vec<u8>, cap: usize, more: usize) -> Result<(), Error> {
    if buf.capacity() - buf.len() < more && buf.try_reserve_exact(cap.max(buf.len() + more) - buf.len()).is_err() {
        return Err(transport(format!("out of memory for a {cap}-byte part: lower part-size or max-pool-connections")));
    }
    Ok(())
}

/// An object the caller writes piece by piece (`store.writer`): bytes it produces itself
/// (a parsed form, a transform) rather than a stream it holds. The same shape as a stream
/// upload: up to one part is kept; once a part is full and more comes, the multipart upload
/// begins and full parts go out while the caller goes on writing (`write` waits only when
/// `max-pool-connections` parts are in flight). Nothing appears under the key before
/// `finish`; a failure or a writer dropped unfinished aborts the upload. Parts move only
/// while the caller is in `write` or `finish`: a caller that stalls for long between writes
/// lets a half-sent part run into the server's or the first-byte timeout (it is retried,
/// but repeated stalls use up the attempts).
pub struct Writer {
    settings: Rc<Settings>,
    key: String,
    full: String,
    options: PutOptions,
    filling: Vec<u8>,
    parts: Option<Parts>,
    /// Bytes written so far (checked against `options.size` as they come).
    written: u64,
    /// The error that ended this writer (every later call reports it), or `finish` ran.
    ended: Option<Error>,
}

impl Writer {
    pub fn new(settings: &Rc<Settings>, key: String, full: String, options: PutOptions) -> Result<Writer, Error> {
        request::put_object(settings, &full, options.content_type.as_deref(), &options.metadata, options.condition.as_ref())?;
        store::ensure_conditions_honoured(settings, options.condition.as_ref())?;
        Ok(Writer { settings: settings.clone(), key, full, options, filling: Vec::new(), parts: None, written: 0, ended: None })
    }

    pub fn write(&mut self, mut data: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.ended {
            return Err(e.clone());
        }
        let result = (|| {
            self.written += data.len() as u64;
            if self.options.size.is_some_and(|n| self.written > n) {
                return Err(size_mismatch(&self.options, self.written));
            }
            let part_size = part_size(&self.settings);
            while !data.is_empty() {
                // A full part with more to come: send it (starting the upload if need be).
                if self.filling.len() == part_size {
                    let full = std::mem::take(&mut self.filling);
                    let parts = match &mut self.parts {
                        Some(parts) => parts,
                        None => self.parts.insert(Parts::create(&self.settings, self.key.clone(), &self.full, &self.options)?),
                    };
                    parts.launch_when_room(full)?;
                }
                let take = data.len().min(part_size - self.filling.len());
                grow(&mut self.filling, part_size, take)?;
                self.filling.extend_from_slice(&data[..take]);
                data = &data[take..];
            }
            // Keep the parts in flight moving between the caller's writes.
            match &mut self.parts {
                Some(parts) => parts.step().map(drop),
                None => Ok(()),
            }
        })();
        result.map_err(|e| self.fail(e))
    }

    pub fn finish(&mut self) -> Result<StoredFile, Error> {
        if let Some(e) = &self.ended {
            return Err(e.clone());
        }
        self.ended = Some(transport("this writer is finished"));
        let last = std::mem::take(&mut self.filling);
        let options = self.options.clone();
        if options.size.is_some_and(|n| n != self.written) {
            let e = size_mismatch(&options, self.written);
            return Err(match self.parts.take() {
                Some(parts) => parts.abort(e),
                None => e,
            });
        }
        match self.parts.take() {
            None => store::put_bytes(&self.settings, self.key.clone(), &self.full, &last, options),
            Some(mut parts) => match parts.launch_when_room(last).and_then(|()| parts.drain()) {
                Ok(()) => parts.complete(options),
                Err(e) => Err(parts.abort(e)),
            },
        }
    }

    /// Ends the writer after `e`: the upload is aborted, so nothing is left.
    fn fail(&mut self, e: Error) -> Error {
        let e = match self.parts.take() {
            Some(parts) => parts.abort(e),
            None => e,
        };
        self.filling = Vec::new();
        self.ended = Some(e.clone());
        e
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(parts) = self.parts.take() {
            parts.abort(transport("the writer was dropped before finish"));
        }
    }
}

/// A multipart upload under way: its parts in flight (at most `max-pool-connections`, each
/// retried on its own) and those done.
struct Parts {
    settings: Rc<Settings>,
    key: String,
    full: String,
    upload_id: String,
    in_flight: Vec<Part>,
    done: Vec<(u32, String)>,
    number: u32,
    total: u64,
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

impl Parts {
    fn create(settings: &Rc<Settings>, key: String, full: &str, options: &PutOptions) -> Result<Parts, Error> {
        let create = request::create_multipart_upload(settings, full, options.content_type.as_deref(), &options.metadata)?;
        // A reply lost after the server created the upload leaves one we never learn of; only
        // `pending-uploads` (or a lifecycle rule) finds it.
        let reply = store::call_read(settings, &create, None, Some(&key), MAX_ERROR_BODY)?;
        let upload_id = request::upload_id(xml::parse_upload_id(&reply.text()).map_err(transport)?)?;
        Ok(Parts { settings: settings.clone(), key, full: full.to_string(), upload_id, in_flight: Vec::new(), done: Vec::new(), number: 0, total: 0 })
    }

    fn has_room(&self) -> bool {
        self.in_flight.len() < self.settings.max_pool_connections as usize
    }

    /// Sends `data` as the next part (an empty one only if it's the first).
    fn launch(&mut self, data: Vec<u8>) -> Result<(), Error> {
        if data.is_empty() && self.number > 0 {
            return Ok(());
        }
        self.number += 1;
        if self.number > MAX_PARTS {
            return Err(transport(format!("the data is longer than {MAX_PARTS} parts of {} bytes; raise part-size", self.settings.part_size)));
        }
        self.total += data.len() as u64;
        let state = PartState::Sending(self.start_part(self.number, data)?);
        self.in_flight.push(Part { number: self.number, state, attempts: 1, refreshed: false });
        Ok(())
    }

    /// [`Parts::launch`], once a part in flight has made room.
    fn launch_when_room(&mut self, data: Vec<u8>) -> Result<(), Error> {
        while !self.has_room() {
            if !self.step()? {
                self.wait(None)?;
            }
        }
        self.launch(data)
    }

    /// Sends the rest of `source` (starting with `carry`, read past the first part) as parts.
    /// At most max-pool-connections parts are held: those in flight, and the one being read
    /// while there is room for it.
    fn send_rest(&mut self, mut filling: Vec<u8>, source: &mut Source) -> Result<(), Error> {
        let part_size = part_size(&self.settings);
        loop {
            if self.has_room() && (filling.len() == part_size || (source.eof && !filling.is_empty())) {
                self.launch(std::mem::take(&mut filling))?;
                continue;
            }
            if source.eof && filling.is_empty() {
                return self.drain();
            }
            let mut moved = self.step()?;
            let reading = self.has_room() && filling.len() < part_size && !source.eof;
            if reading {
                moved |= source.read_some(&mut filling, part_size)?;
            }
            if !moved {
                let readable = reading.then(|| source.stream.subscribe());
                self.wait(readable.as_ref())?;
            }
        }
    }

    /// Waits for every part in flight.
    fn drain(&mut self) -> Result<(), Error> {
        while !self.in_flight.is_empty() {
            if !self.step()? {
                self.wait(None)?;
            }
        }
        Ok(())
    }

    /// Moves every part along as far as it goes without waiting: body writes, answers,
    /// retries. Returns whether anything happened.
    fn step(&mut self) -> Result<bool, Error> {
        let mut moved = false;
        let mut i = 0;
        while i < self.in_flight.len() {
            // A backoff that is over: send the part again.
            if let PartState::Waiting { data, timer } = &mut self.in_flight[i].state {
                if !timer.ready() {
                    i += 1;
                    continue;
                }
                let data = std::mem::take(data);
                self.restart(i, data)?;
                moved = true;
            }
            let PartState::Sending(flight) = &mut self.in_flight[i].state else { unreachable!("a waiting part was restarted above") };
            moved |= flight.pump();
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
            let part = &mut self.in_flight[i];
            let PartState::Sending(flight) = &mut part.state else { unreachable!("matched above") };
            match etag {
                Ok(etag) => {
                    self.done.push((part.number, etag));
                    self.in_flight.swap_remove(i);
                }
                // Temporary credentials the server calls expired: fetch new ones and send
                // the part once more at once, as `store::call` does.
                Err(e) if store::expired_token(&e) && !part.refreshed && self.settings.credentials.invalidate() => {
                    let data = flight.take_body().ok_or_else(|| transport("the part's data is gone"))?;
                    part.refreshed = true;
                    self.restart(i, data)?;
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
        Ok(moved)
    }

    /// Sends part `i` again, with `data`.
    fn restart(&mut self, i: usize, data: Vec<u8>) -> Result<(), Error> {
        let flight = self.start_part(self.in_flight[i].number, data)?;
        let part = &mut self.in_flight[i];
        part.state = PartState::Sending(flight);
        part.attempts += 1;
        Ok(())
    }

    /// Blocks until a part can move (a body has room, an answer arrives, a backoff ends) or
    /// `also` is ready.
    fn wait(&self, also: Option<&Pollable>) -> Result<(), Error> {
        let owned: Vec<Pollable> = self
            .in_flight
            .iter()
            .filter_map(|p| match &p.state {
                PartState::Sending(flight) => Some(flight.pollables()),
                PartState::Waiting { .. } => None,
            })
            .flatten()
            .collect();
        let timers = self.in_flight.iter().filter_map(|p| match &p.state {
            PartState::Waiting { timer, .. } => Some(timer),
            PartState::Sending(_) => None,
        });
        let pollables: Vec<&Pollable> = owned.iter().chain(timers).chain(also).collect();
        if pollables.is_empty() {
            return Err(transport("the upload stalled with nothing to wait for"));
        }
        poll(&pollables);
        Ok(())
    }

    /// Completes the upload (every part done), checking the size promised.
    fn complete(mut self, options: PutOptions) -> Result<StoredFile, Error> {
        self.done.sort_by_key(|(n, _)| *n);
        let (settings, key, full, size) = (&*self.settings, &self.key, &self.full, self.total);
        if options.size.is_some_and(|n| n != size) {
            return Err(self.abort(size_mismatch(&options, size)));
        }
        let completed = match complete(settings, full, &self.upload_id, key, &self.done, options.condition.as_ref()) {
            Ok(etag) => Ok(etag),
            // The answer may have been lost after the server completed the upload, so that
            // the retry found the upload gone (NoSuchUpload; AccessDenied from s3s-fs). The
            // object is this upload's if its ETag is the one these parts make.
            Err(e) if lost_answer(&e) => match (multipart_etag(&self.done), store::info(settings, key.clone())) {
                (Some(expected), Ok(file)) if file.size == size && file.etag.as_deref().map(|t| t.trim_matches('"')) == Some(expected.as_str()) => Ok(file.etag),
                _ => Err(e),
            },
            Err(e) => Err(store::condition_error(e, options.condition.as_ref(), key)),
        };
        match completed {
            Ok(etag) => Ok(store::stored_after_put(self.key.clone(), size, etag, options)),
            Err(e) => Err(self.abort(e)),
        }
    }

    /// Aborts the upload after `cause`, so no parts linger (and nothing appears under the key).
    fn abort(mut self, cause: Error) -> Error {
        // Parts still in flight are dropped first: their requests end with them.
        self.in_flight.clear();
        abort(&self.settings, &self.full, &self.upload_id, cause)
    }

    fn start_part(&self, number: u32, data: Vec<u8>) -> Result<InFlight<Vec<u8>>, Error> {
        let req = request::upload_part(&self.settings, &self.full, &self.upload_id, number);
        let (request, _) = store::prepare(&self.settings, &req, Some(&data))?;
        http::start(request, Some(data))
    }

    /// The part's ETag, or the error and the server's `Retry-After`.
    fn part_etag(&self, result: Result<http::Response, Error>) -> (Result<String, Error>, Option<std::time::Duration>) {
        let resp = match result {
            Ok(resp) => resp,
            Err(e) => return (Err(e), None),
        };
        let retry_after = resp.header("retry-after").and_then(retry::parse_retry_after);
        let etag = check(resp, Some(&self.key)).and_then(|resp| {
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
    // A 200 that turns out an `<Error>` is failed (and retried) inside `call_read`.
    let reply = store::call_read(settings, &req, Some(body.as_bytes()), Some(key), MAX_ERROR_BODY)?;
    xml::parse_complete(&reply.text()).map_err(transport)
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

/// Aborts the upload after `cause`, so no parts linger (and nothing appears under the key).
fn abort(settings: &Settings, full: &str, upload_id: &str, cause: Error) -> Error {
    match request::abort_multipart_upload(settings, full, upload_id).and_then(|req| call(settings, &req, None, None)) {
        Ok(resp) => {
            drain(resp);
            cause
        }
        Err(abort_error) => match cause {
            Error::Transport(why) => transport(format!("{why}; aborting the multipart upload {upload_id} failed too: {}", errors::message(&abort_error))),
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
