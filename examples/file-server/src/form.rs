//! Uploads whose bytes must pass through this component: a `multipart/form-data` body
//! (parsed by multer as it streams in, the file field written to storage piece by piece)
//! and raw bodies of unknown length (counted against the size limit). Either way the
//! storage `writer` holds at most a few parts, whatever the upload's size.
//!
//! The size limit holds for the whole request body, whatever its shape: every byte read
//! counts, the preamble, part headers and other fields included. And what multer must
//! buffer before it can hand out field data (the preamble, a part's header section) is
//! capped far lower, so a hostile form costs neither time nor memory.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use serde_json::json;

use crate::reply::{Reply, storage_error};
use crate::storage::Store;
use crate::types::{PutOptions, StoredFile};
use crate::wasi::Body;

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

    async fn reply(&self, body: &mut Body) -> Option<Reply> {
        match self.over.load(Relaxed) {
            OVER_BODY => Some(drain_then_too_large(self.max, body).await),
            OVER_FRAMING => Some(Reply::json(413, json!({"error": "the form's preamble or part headers are too large", "max_bytes": MAX_FRAMING}))),
            _ => None,
        }
    }
}

/// Stores the form's `file` field (or its first field with a file name) under
/// `uploads/NAME`, NAME being the file's own name.
pub async fn upload_file_field(store: &Store, body: Body, boundary: &str, max: u64) -> Result<StoredFile, Reply> {
    let budget = Budget::new(max);
    let body = RefCell::new(body);
    let chunks = Chunks { body: OneThread(&body), budget: &budget, paused: false };
    let mut form = multer::Multipart::new(chunks, boundary);
    let outcome = async {
        while let Some(mut field) = form.next_field().await? {
            if field.name() != Some("file") && field.file_name().is_none() {
                // Read through here, so the other field's bytes count as data, not framing.
                while let Some(chunk) = field.chunk().await? {
                    budget.add_data(chunk.len());
                }
                continue;
            }
            let name = crate::file_name(field.file_name().unwrap_or_default()).map_err(Stop::Reply)?;
            let content_type = field.content_type().map(|m| m.to_string());
            let key = format!("uploads/{name}");
            let options = PutOptions { content_type, metadata: vec![("original-name".into(), name)], ..Default::default() };
            let writer = store.writer(&key, options).await.map_err(|e| Stop::Reply(storage_error(&e, Some(&key))))?;
            // An error return drops the writer unfinished, which aborts the upload: nothing
            // is stored.
            while let Some(chunk) = field.chunk().await? {
                budget.add_data(chunk.len());
                writer.write(&chunk).await.map_err(|e| Stop::Reply(storage_error(&e, Some(&key))))?;
            }
            return writer.finish().await.map_err(|e| Stop::Reply(storage_error(&e, Some(&key))));
        }
        Err(Stop::Reply(Reply::json(400, json!({"error": "the form has no file field"}))))
    }
    .await;
    drop(form);
    match outcome {
        Ok(stored) => Ok(stored),
        Err(Stop::Reply(reply)) => Err(reply),
        // Past a limit the body stream fails, and so multer: say which limit, not "malformed".
        Err(Stop::Form(e)) => match budget.reply(&mut body.into_inner()).await {
            Some(reply) => Err(reply),
            None => Err(bad_form(e)),
        },
    }
}

/// Why a form upload stopped: multer's error (which a passed limit may explain), or a reply.
enum Stop {
    Form(multer::Error),
    Reply(Reply),
}

impl From<multer::Error> for Stop {
    fn from(e: multer::Error) -> Stop {
        Stop::Form(e)
    }
}

/// Copies a body of unknown length to `key`, refusing it past `max` bytes.
pub async fn copy_limited(store: &Store, key: &str, mut body: Body, options: PutOptions, max: u64) -> Result<StoredFile, Reply> {
    let writer = store.writer(key, options).await.map_err(|e| storage_error(&e, Some(key)))?;
    let mut written = 0u64;
    loop {
        match body.read(READ).await {
            Ok(Some(chunk)) => {
                written += chunk.len() as u64;
                if written > max {
                    return Err(drain_then_too_large(max, &mut body).await);
                }
                writer.write(&chunk).await.map_err(|e| storage_error(&e, Some(key)))?;
            }
            Ok(None) => return writer.finish().await.map_err(|e| storage_error(&e, Some(key))),
            Err(e) => return Err(Reply::json(400, json!({"error": format!("reading the upload failed: {e}")}))),
        }
    }
}

/// A value multer may hold: it wants its stream `Send`, and a component has one thread
/// (the 0.3 body's stream is no `Send`, there being no other thread to send it to).
struct OneThread<T>(T);

// SAFETY: a wasm32 component is single-threaded: nothing is ever sent to another thread.
unsafe impl<T> Send for OneThread<T> {}

/// The request body as a stream of chunks for multer. multer pulls from its stream until
/// it is `Pending`; a stream that always had data ready (0.2's blocking reads) would be
/// drained whole into multer's buffer. So every chunk is followed by one `Pending` (waking
/// itself at once): multer holds one chunk at a time.
struct Chunks<'a> {
    body: OneThread<&'a RefCell<Body>>,
    budget: &'a Budget,
    paused: bool,
}

impl futures::Stream for Chunks<'_> {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.paused {
            self.paused = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.budget.over.load(Relaxed) != WITHIN {
            return Poll::Ready(Some(Err(std::io::Error::other("over the limit"))));
        }
        let read = std::task::ready!(self.body.0.borrow_mut().poll_read(cx, READ));
        self.paused = true;
        Poll::Ready(match read {
            Ok(Some(bytes)) if self.budget.add_read(bytes.len()) => Some(Err(std::io::Error::other("over the limit"))),
            Ok(Some(bytes)) => Some(Ok(Bytes::from(bytes))),
            Ok(None) => None,
            Err(e) => Some(Err(std::io::Error::other(e))),
        })
    }
}

fn bad_form(e: multer::Error) -> Reply {
    Reply::json(400, json!({"error": format!("malformed multipart/form-data: {e}")}))
}

/// 413, after reading on a little (up to 256 KiB, as Go's net/http does) so that a client
/// still sending a slightly-too-large body gets to read the answer instead of a reset.
async fn drain_then_too_large(max: u64, body: &mut Body) -> Reply {
    let mut drained = 0;
    while drained < 256 * 1024 {
        match body.read(READ).await {
            Ok(Some(chunk)) => drained += chunk.len(),
            _ => break,
        }
    }
    crate::reply::too_large(max)
}
