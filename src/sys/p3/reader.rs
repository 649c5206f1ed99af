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
        loop {
            match std::mem::replace(self, Reader::Gone) {
                Reader::Idle(mut stream) => {
                    let max = max.max(1);
                    *self = Reader::Reading(Box::pin(async move {
                        let (result, buf) = stream.read(Vec::with_capacity(max)).await;
                        (stream, result, buf)
                    }));
                }
                Reader::Reading(mut read) => match read.as_mut().poll(cx) {
                    Poll::Pending => {
                        *self = Reader::Reading(read);
                        return Poll::Pending;
                    }
                    Poll::Ready((stream, result, buf)) => {
                        *self = match result {
                            StreamResult::Dropped => Reader::Ended,
                            _ => Reader::Idle(stream),
                        };
                        if !buf.is_empty() {
                            return Poll::Ready(Some(buf));
                        }
                    }
                },
                Reader::Ended => {
                    *self = Reader::Ended;
                    return Poll::Ready(None);
                }
                Reader::Gone => return Poll::Ready(None),
            }
        }
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
