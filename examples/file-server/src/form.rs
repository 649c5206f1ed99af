//! Uploads whose bytes must pass through this component: a `multipart/form-data` body
//! (parsed by multer as it streams in, the file field written to storage piece by piece)
//! and raw bodies of unknown length (counted against the size limit). Either way the
//! storage `writer` holds at most a few parts, whatever the upload's size.
//!
//! The size limit holds for the whole request body, whatever its shape: every byte read
//! counts, the preamble, part headers and other fields included. And what multer must
//! buffer before it can hand out field data (the preamble, a part's header section) is
//! capped far lower, so a hostile form costs neither time nor memory.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use serde_json::json;
use wasip2::io::streams::{InputStream, StreamError};

use crate::bindings::wasm_storages::storage::storage::{Store, Writer};
use crate::bindings::wasm_storages::storage::types::{PutOptions, StoredFile};
use crate::reply::{Reply, storage_error};

const READ: u64 = 64 * 1024;
/// The most bytes of a form that are not field data (preamble, boundaries, part headers)
/// read beyond the field data handed out: real forms have a few hundred.
pub const MAX_FRAMING: u64 = 64 * 1024;

/// What a form upload has read, against its limits. (Atomics only because multer wants a
/// `Sync` stream: this component has one thread.)
struct Budget {
    max: u64,
    /// Bytes read from the request body.
    read: AtomicU64,
    /// Bytes of field data multer has handed out.
    data: AtomicU64,
    /// Why reading stopped, when a limit did it: [`WITHIN`], [`OVER_BODY`], [`OVER_FRAMING`].
    over: AtomicU8,
}

const WITHIN: u8 = 0;
const OVER_BODY: u8 = 1;
const OVER_FRAMING: u8 = 2;

impl Budget {
    fn new(max: u64) -> Self {
        Budget { max, read: AtomicU64::new(0), data: AtomicU64::new(0), over: AtomicU8::new(WITHIN) }
    }

    fn add_data(&self, n: usize) {
        self.data.fetch_add(n as u64, Relaxed);
    }

    /// Counts `n` bytes read; says whether a limit is now passed.
    fn add_read(&self, n: usize) -> bool {
        let read = self.read.fetch_add(n as u64, Relaxed) + n as u64;
        // One chunk may be in multer's hands, not yet handed out as data.
        let framing = read.saturating_sub(self.data.load(Relaxed) + READ);
        let over = if read > self.max {
            OVER_BODY
        } else if framing > MAX_FRAMING {
            OVER_FRAMING
        } else {
            WITHIN
        };
        self.over.store(over, Relaxed);
        over != WITHIN
    }

    fn reply(&self, body: &InputStream) -> Option<Reply> {
        match self.over.load(Relaxed) {
            OVER_BODY => Some(drain_then_too_large(self.max, body)),
            OVER_FRAMING => Some(Reply::json(413, json!({"error": "the form's preamble or part headers are too large", "max_bytes": MAX_FRAMING}))),
            _ => None,
        }
    }
}

/// Stores the form's `file` field (or its first field with a file name) under
/// `uploads/NAME`, NAME being the file's own name.
pub fn upload_file_field(store: &Store, body: &InputStream, boundary: &str, max: u64) -> Result<StoredFile, Reply> {
    let budget = Budget::new(max);
    let chunks = Chunks { body, budget: &budget, paused: false };
    let mut form = multer::Multipart::new(chunks, boundary);
    // Past a limit the body stream fails, and so multer: say which limit, not "malformed".
    let failed = |e: multer::Error| budget.reply(body).unwrap_or_else(|| bad_form(e));
    // Nothing here waits on anything but the blocking reads above: a plain executor will do.
    futures::executor::block_on(async {
        while let Some(mut field) = form.next_field().await.map_err(failed)? {
            if field.name() != Some("file") && field.file_name().is_none() {
                // Read through here, so the other field's bytes count as data, not framing.
                while let Some(chunk) = field.chunk().await.map_err(failed)? {
                    budget.add_data(chunk.len());
                }
                continue;
            }
            let name = crate::file_name(field.file_name().unwrap_or_default())?;
            let content_type = field.content_type().map(|m| m.to_string());
            let key = format!("uploads/{name}");
            let options = PutOptions { content_type, metadata: vec![("original-name".into(), name)], ..Default::default() };
            let writer = store.writer(&key, &options).map_err(|e| storage_error(&e, Some(&key)))?;
            // An error return drops the writer unfinished, which aborts the upload: nothing
            // is stored.
            while let Some(chunk) = field.chunk().await.map_err(failed)? {
                budget.add_data(chunk.len());
                writer.write(&chunk).map_err(|e| storage_error(&e, Some(&key)))?;
            }
            return Writer::finish(&writer).map_err(|e| storage_error(&e, Some(&key)));
        }
        Err(Reply::json(400, json!({"error": "the form has no file field"})))
    })
}

/// Copies a body of unknown length to `key`, refusing it past `max` bytes.
pub fn copy_limited(store: &Store, key: &str, body: &InputStream, options: &PutOptions, max: u64) -> Result<StoredFile, Reply> {
    let writer = store.writer(key, options).map_err(|e| storage_error(&e, Some(key)))?;
    let mut written = 0u64;
    loop {
        match body.blocking_read(READ) {
            Ok(chunk) => {
                written += chunk.len() as u64;
                if written > max {
                    return Err(drain_then_too_large(max, body));
                }
                writer.write(&chunk).map_err(|e| storage_error(&e, Some(key)))?;
            }
            Err(StreamError::Closed) => return writer.finish().map_err(|e| storage_error(&e, Some(key))),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(Reply::json(400, json!({"error": format!("reading the upload failed: {}", e.to_debug_string())})));
            }
        }
    }
}

/// The request body as a stream of chunks for multer. multer pulls from its stream until
/// it is `Pending`; a stream that always had data ready would be drained whole into
/// multer's buffer. So every chunk is followed by one `Pending` (waking itself at once):
/// multer holds one chunk at a time.
struct Chunks<'a> {
    body: &'a InputStream,
    budget: &'a Budget,
    paused: bool,
}

impl futures::Stream for Chunks<'_> {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        self.paused = !self.paused;
        if !self.paused {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.budget.over.load(Relaxed) != WITHIN {
            return Poll::Ready(Some(Err(std::io::Error::other("over the limit"))));
        }
        Poll::Ready(match self.body.blocking_read(READ) {
            Ok(bytes) if self.budget.add_read(bytes.len()) => Some(Err(std::io::Error::other("over the limit"))),
            Ok(bytes) => Some(Ok(Bytes::from(bytes))),
            Err(StreamError::Closed) => None,
            Err(StreamError::LastOperationFailed(e)) => Some(Err(std::io::Error::other(e.to_debug_string()))),
        })
    }
}

fn bad_form(e: multer::Error) -> Reply {
    Reply::json(400, json!({"error": format!("malformed multipart/form-data: {e}")}))
}

/// 413, after reading on a little (up to 256 KiB, as Go's net/http does) so that a client
/// still sending a slightly-too-large body gets to read the answer instead of a reset.
fn drain_then_too_large(max: u64, body: &InputStream) -> Reply {
    let mut drained = 0;
    while drained < 256 * 1024 {
        match body.blocking_read(READ) {
            Ok(chunk) => drained += chunk.len(),
            Err(_) => break,
        }
    }
    crate::reply::too_large(max)
}
