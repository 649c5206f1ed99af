//! Reading a `stream<u8>` a chunk at a time from a poll function: a read in progress owns
//! the stream (wit-bindgen's read borrows it), and gives it back with the chunk.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use wasip3::wit_bindgen::{StreamReader, StreamResult};

type Read = Pin<Box<dyn Future<Output = (StreamReader<u8>, StreamResult, Vec<u8>)>>>;

pub enum Reader {
    Idle(StreamReader<u8>),
    Reading(Read),
    /// The writer dropped its end: no more bytes.
    Ended,
    /// Taken (handed to the caller whole).
    Gone,
}

impl Reader {
    pub fn new(stream: StreamReader<u8>) -> Self {
        Reader::Idle(stream)
    }

    /// The next bytes (at least one, at most `max`), or `None` at the end of the stream.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<Option<Vec<u8>>> {
        // A read under way holds its own buffer, and hands it back here.
        let mut buf = if self.is_reading() { Vec::new() } else { Vec::with_capacity(max.max(1)) };
        Poll::Ready(std::task::ready!(self.poll_read_into(cx, &mut buf)).then_some(buf))
    }

    /// Reads what arrives next straight into the spare capacity of `buf` (which must have
    /// some): no buffer of its own, no copy. While the read is pending, `buf` is held by it
    /// and the caller's is empty: call again with the same one, and touch it only once this
    /// is ready. Ready with `false` at the end of the stream (nothing added).
    ///
    /// (A long-lived 0.3 instance serves upload after upload: a chunk buffer allocated per
    /// read, amid part-sized buffers, splits the heap's free blocks so that the next part
    /// buffer no longer fits in them, and the memory grows by a part.)
    pub fn poll_read_into(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<bool> {
        loop {
            match std::mem::replace(self, Reader::Gone) {
                Reader::Idle(mut stream) => {
                    let into = std::mem::take(buf);
                    debug_assert!(into.capacity() > into.len(), "a read into no room");
                    *self = Reader::Reading(Box::pin(async move {
                        let (result, into) = stream.read(into).await;
                        (stream, result, into)
                    }));
                }
                Reader::Reading(mut read) => match read.as_mut().poll(cx) {
                    Poll::Pending => {
                        *self = Reader::Reading(read);
                        return Poll::Pending;
                    }
                    Poll::Ready((stream, result, into)) => {
                        let added = matches!(result, StreamResult::Complete(n) if n > 0);
                        *buf = into;
                        *self = match result {
                            StreamResult::Dropped => Reader::Ended,
                            _ => Reader::Idle(stream),
                        };
                        if added {
                            return Poll::Ready(true);
                        }
                    }
                },
                Reader::Ended => {
                    *self = Reader::Ended;
                    return Poll::Ready(false);
                }
                Reader::Gone => return Poll::Ready(false),
            }
        }
    }

    /// Whether a read is pending (holding the buffer of [`Reader::poll_read_into`]).
    pub fn is_reading(&self) -> bool {
        matches!(self, Reader::Reading(_))
    }

    /// The stream itself, if nothing was read from it yet.
    pub fn take(&mut self) -> Option<StreamReader<u8>> {
        match std::mem::replace(self, Reader::Gone) {
            Reader::Idle(stream) => Some(stream),
            other => {
                *self = other;
                None
            }
        }
    }
}
