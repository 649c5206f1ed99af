//! Streaming uploads: a short stream is one PutObject; a long one is a multipart upload
//! (`multipart`) whose parts go out concurrently through the part engine (`parts`). Either
//! the whole object appears or nothing does: any failure aborts the upload.
//!
//! The same engine sends the parts of a `writer`, which the caller fills itself.
//!
//! Memory: at most `max-pool-connections` parts of `part-size` bytes are held at once (the
//! parts in flight, and the one being read while there is room for it); a `writer` holds
//! one part more (the one the caller is filling while the others are in flight). Once sent,
//! part buffers are kept for the next parts (`buffers`: at most 16, of the part size last
//! asked for), memory the instance had grown to anyway. The exception: with
//! `upload-checksum = none` and a known size, the stream is spliced into one PutObject by
//! the host, and the component holds nothing (measured: 1.0× curl, against 0.36× for the
//! same request copied through the component with Content-MD5; see BENCHMARKS.md).

use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

use crate::buffers;
use crate::client;
use crate::conditions;
use crate::config::Settings;
use crate::error::{Error, transport};
use crate::keys;
use crate::multipart::{Upload, size_mismatch};
use crate::objects;
use crate::parts::Parts;
use crate::request;
use crate::sys::io::{InputStream, Source};
use crate::types::{PutOptions, StoredFile, UploadChecksum};

/// S3's limit on a single PutObject.
const MAX_PUT_OBJECT: u64 = 5 << 30;

pub async fn put_stream(settings: &Rc<Settings>, key: String, source: InputStream, options: PutOptions) -> Result<StoredFile, Error> {
    let full = &keys::full_key(&settings.prefix, &key)?;
    // Refuse a bad content type or metadata before reading a byte.
    request::put_object(settings, full, &options)?;
    conditions::ensure_honoured(settings, options.condition.as_ref()).await?;
    if let (UploadChecksum::None, Some(size @ ..=MAX_PUT_OBJECT)) = (settings.upload_checksum, options.size) {
        return objects::put_spliced(settings, key, full, source, size, options).await;
    }
    let part_size = part_size(settings);
    let mut source = Source::new(source);
    // Part buffers start empty and grow to `part-size` as data arrives (`Source::poll_read`).
    // A stream whose size is under a part gets a buffer of that size instead: small uploads
    // at once don't each hold a whole part (32 × 1 MiB were 256 MiB of 8 MiB parts).
    let sized = options.size.filter(|&n| n < part_size as u64).map(|n| n as usize);
    let mut first = Vec::new();
    match sized {
        Some(size) => source.fill(&mut first, size, grow_exact).await?,
        None => source.fill(&mut first, part_size, grow).await?,
    }
    // A full first part may also be the whole stream: read one byte more to know.
    let mut carry = Vec::new();
    source.fill(&mut carry, 1, grow_exact).await?;
    if source.eof && carry.is_empty() {
        if options.size.is_some_and(|n| n != first.len() as u64) {
            return Err(size_mismatch(&options, first.len() as u64));
        }
        let stored = objects::put_bytes(settings, key, full, &first, options).await;
        if sized.is_none() {
            buffers::give(first);
        }
        return stored;
    }
    if let Some(size) = sized {
        return Err(Error::InvalidArgument(format!("the data is longer than the {size} bytes its size says; nothing was stored")));
    }
    let mut parts = Parts::new(Upload::create(settings, key, full, &options, client::upload_crc(settings.upload_checksum)).await?);
    let sent = match parts.launch(first) {
        Ok(()) => send_rest(&mut parts, carry, &mut source).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(()) => complete(parts, options).await,
        Err(e) => Err(parts.abort(e).await),
    }
}

/// Sends the rest of `source` (starting with `filling`, read past the first part) as parts.
/// At most max-pool-connections parts are held: those in flight, and the one being read
/// while there is room for it. Reading and sending go on side by side.
async fn send_rest(parts: &mut Parts<Upload>, mut filling: Vec<u8>, source: &mut Source) -> Result<(), Error> {
    let part_size = part_size(parts.protocol().settings());
    poll_fn(|cx| -> Poll<Result<(), Error>> {
        loop {
            if parts.has_room() && (filling.len() == part_size || (source.eof && !filling.is_empty())) {
                parts.launch(std::mem::take(&mut filling))?;
                continue;
            }
            if source.eof && filling.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let mut moved = parts.step(cx)?;
            if parts.has_room()
                && filling.len() < part_size
                && !source.eof
                && let Poll::Ready(read) = source.poll_read(cx, &mut filling, part_size, grow)
            {
                read?;
                moved = true;
            }
            if !moved {
                return Poll::Pending;
            }
        }
    })
    .await?;
    // Made ready for bytes that never came (the stream ended on a part's boundary).
    buffers::give(filling);
    parts.drain().await
}

/// Completes the upload once every part is done.
async fn complete(parts: Parts<Upload>, options: PutOptions) -> Result<StoredFile, Error> {
    let (upload, done, total) = parts.finish();
    upload.complete(&done, total, options).await
}

fn part_size(settings: &Settings) -> usize {
    usize::try_from(settings.part_size).unwrap_or(usize::MAX)
}

/// Makes room in a part buffer for `more` bytes: in one step up to the part size `cap` (a
/// kept buffer if there is one: `buffers`), or an error on running out of memory (never an
/// abort).
fn grow(buf: &mut Vec<u8>, cap: usize, more: usize) -> Result<(), Error> {
    if buf.capacity() - buf.len() >= more {
        return Ok(());
    }
    let oom = || transport(format!("out of memory for a {cap}-byte part: lower part-size or max-pool-connections"));
    let want = cap.max(buf.len() + more);
    let mut bigger = buffers::take(want).ok_or_else(oom)?;
    bigger.extend_from_slice(buf);
    buffers::give(std::mem::replace(buf, bigger));
    Ok(())
}

/// Makes room in a buffer for `more` bytes, in one step up to `cap`, outside `buffers` (a
/// buffer of no part's size, which no later part could take).
fn grow_exact(buf: &mut Vec<u8>, cap: usize, more: usize) -> Result<(), Error> {
    if buf.capacity() - buf.len() < more && buf.try_reserve_exact(cap.max(buf.len() + more) - buf.len()).is_err() {
        return Err(transport(format!("out of memory for a {cap}-byte buffer: lower part-size or max-pool-connections")));
    }
    Ok(())
}

/// An object the caller writes piece by piece (`store.writer`): bytes it produces itself
/// (a parsed form, a transform) rather than a stream it holds. The same shape as a stream
/// upload: up to one part is kept; once a part is full and more comes, the multipart upload
/// begins and full parts go out while the caller goes on writing (`write` waits only when
/// `max-pool-connections` parts are in flight). Nothing appears under the key before
/// `finish`; a failure aborts the upload, as does `abort` (the adapters call it for a writer
/// dropped unfinished). Parts move only
/// while the caller is in `write` or `finish`: a caller that stalls for long between writes
/// lets a half-sent part run into the server's or the first-byte timeout (it is retried,
/// but repeated stalls use up the attempts).
pub struct Writer {
    settings: Rc<Settings>,
    key: String,
    full: String,
    options: PutOptions,
    filling: Vec<u8>,
    parts: Option<Parts<Upload>>,
    /// Bytes written so far (checked against `options.size` as they come).
    written: u64,
    /// The error that ended this writer (every later call reports it), or `finish` ran.
    ended: Option<Error>,
}

impl Writer {
    pub async fn new(settings: &Rc<Settings>, key: String, options: PutOptions) -> Result<Writer, Error> {
        let full = keys::full_key(&settings.prefix, &key)?;
        request::put_object(settings, &full, &options)?;
        conditions::ensure_honoured(settings, options.condition.as_ref()).await?;
        Ok(Writer { settings: settings.clone(), key, full, options, filling: Vec::new(), parts: None, written: 0, ended: None })
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.ended {
            return Err(e.clone());
        }
        match self.write_parts(data).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e).await),
        }
    }

    async fn write_parts(&mut self, mut data: &[u8]) -> Result<(), Error> {
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
                    None => {
                        let crc = client::upload_crc(self.settings.upload_checksum);
                        self.parts.insert(Parts::new(Upload::create(&self.settings, self.key.clone(), &self.full, &self.options, crc).await?))
                    }
                };
                parts.launch_when_room(full).await?;
            }
            let take = data.len().min(part_size - self.filling.len());
            grow(&mut self.filling, part_size, take)?;
            self.filling.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        // Keep the parts in flight moving between the caller's writes.
        match &mut self.parts {
            Some(parts) => poll_fn(|cx| Poll::Ready(parts.step(cx).map(drop))).await,
            None => Ok(()),
        }
    }

    pub async fn finish(&mut self) -> Result<StoredFile, Error> {
        if let Some(e) = &self.ended {
            return Err(e.clone());
        }
        self.ended = Some(transport("this writer is finished"));
        let last = std::mem::take(&mut self.filling);
        let options = self.options.clone();
        if options.size.is_some_and(|n| n != self.written) {
            let e = size_mismatch(&options, self.written);
            return Err(match self.parts.take() {
                Some(parts) => parts.abort(e).await,
                None => e,
            });
        }
        match self.parts.take() {
            None => {
                let stored = objects::put_bytes(&self.settings, self.key.clone(), &self.full, &last, options).await;
                buffers::give(last);
                stored
            }
            Some(mut parts) => {
                let sent = match parts.launch_when_room(last).await {
                    Ok(()) => parts.drain().await,
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(()) => complete(parts, options).await,
                    Err(e) => Err(parts.abort(e).await),
                }
            }
        }
    }

    /// Ends the writer unfinished (`abort`, or dropped by the caller): the upload begun is
    /// aborted, so nothing is left.
    pub async fn abort(&mut self) -> Result<(), Error> {
        self.filling = Vec::new();
        if self.ended.is_none() {
            self.ended = Some(transport("this writer was aborted"));
        }
        match self.parts.take() {
            Some(parts) => parts.cancel().await,
            None => Ok(()),
        }
    }

    /// Ends the writer after `e`: the upload is aborted, so nothing is left.
    async fn fail(&mut self, e: Error) -> Error {
        let e = match self.parts.take() {
            Some(parts) => parts.abort(e).await,
            None => e,
        };
        self.filling = Vec::new();
        self.ended = Some(e.clone());
        e
    }
}
