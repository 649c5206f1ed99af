//! The caller's input stream (wasi:io/streams), read as data arrives.

use std::rc::Rc;
use std::task::{Context, Poll};

use wasip2::io::poll::Pollable;
pub use wasip2::io::streams::InputStream;
use wasip2::io::streams::StreamError;

use crate::error::{Error, transport};

/// Reads from the source go in chunks of at most this size.
const READ_CHUNK: u64 = 1 << 20;

/// The caller's stream of bytes to store. Field order is drop order: the pollable is a
/// child of the stream.
pub struct Source {
    readable: Rc<Pollable>,
    pub stream: InputStream,
    pub eof: bool,
}

/// Makes room in a buffer of at most `cap` bytes for `more` (or fails: out of memory).
pub type Grow = fn(&mut Vec<u8>, usize, usize) -> Result<(), Error>;

impl Source {
    pub fn new(stream: InputStream) -> Source {
        let readable = Rc::new(stream.subscribe());
        Source { readable, stream, eof: false }
    }

    /// Reads what has arrived into `buf`, up to `cap` bytes (`grow` makes room first);
    /// pending while nothing has. Ready also at the end of the stream (`eof`).
    pub fn poll_read(&mut self, _cx: &mut Context<'_>, buf: &mut Vec<u8>, cap: usize, grow: Grow) -> Poll<Result<(), Error>> {
        let want = (cap - buf.len()).min(READ_CHUNK as usize) as u64;
        match self.stream.read(want) {
            Ok(bytes) if bytes.is_empty() && want > 0 => {
                super::reactor::wait_on(&self.readable);
                Poll::Pending
            }
            Ok(bytes) => Poll::Ready(grow(buf, cap, bytes.len()).map(|()| buf.extend_from_slice(&bytes))),
            Err(StreamError::Closed) => {
                self.eof = true;
                Poll::Ready(Ok(()))
            }
            Err(StreamError::LastOperationFailed(e)) => Poll::Ready(Err(transport(format!("reading the data to upload failed: {}", e.to_debug_string())))),
        }
    }

    /// Reads until `buf` holds `cap` bytes or the stream ends.
    pub async fn fill(&mut self, buf: &mut Vec<u8>, cap: usize, grow: Grow) -> Result<(), Error> {
        while buf.len() < cap && !self.eof {
            std::future::poll_fn(|cx| self.poll_read(cx, buf, cap, grow)).await?;
        }
        Ok(())
    }
}
