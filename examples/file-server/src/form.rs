//! Uploads whose bytes must pass through this component: a `multipart/form-data` body
//! (parsed by multer as it streams in, the file field written to storage piece by piece)
//! and raw bodies of unknown length (counted against the size limit). Either way the
//! storage `writer` holds at most a few parts, whatever the upload's size.

use bytes::Bytes;
use serde_json::json;
use wasip2::io::streams::{InputStream, StreamError};

use crate::bindings::wasm_storages::storage::storage::{Store, Writer};
use crate::bindings::wasm_storages::storage::types::{PutOptions, StoredFile};
use crate::reply::{storage_error, Reply};

const READ: u64 = 64 * 1024;

/// Stores the form's `file` field (or its first field with a file name) under
/// `uploads/NAME`, NAME being the file's own name.
pub fn upload_file_field(store: &Store, body: &InputStream, boundary: &str, max: u64) -> Result<StoredFile, Reply> {
    let chunks = Chunks { body, paused: false };
    let mut form = multer::Multipart::new(chunks, boundary);
    // Nothing here waits on anything but the blocking reads above: a plain executor will do.
    futures::executor::block_on(async {
        while let Some(mut field) = form.next_field().await.map_err(bad_form)? {
            if field.name() != Some("file") && field.file_name().is_none() {
                continue;
            }
            let name = crate::file_name(field.file_name().unwrap_or_default())?;
            let content_type = field.content_type().map(|m| m.to_string());
            let key = format!("uploads/{name}");
            let options = PutOptions { content_type, metadata: vec![("original-name".into(), name)], size: None, condition: None };
            let writer = store.writer(&key, &options).map_err(|e| storage_error(&e, Some(&key)))?;
            let mut written = 0u64;
            while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
                written += chunk.len() as u64;
                if written > max {
                    // Dropping the writer unfinished aborts the upload: nothing is stored.
                    drop(form);
                    return Err(drain_then_too_large(max, body));
                }
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
        Poll::Ready(match self.body.blocking_read(READ) {
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
