//! The caller's stream of bytes to store (a `stream<u8>`), read as data arrives.

use std::task::{Context, Poll};

use super::reader::Reader;
use crate::error::Error;

pub type InputStream = wasip3::wit_bindgen::StreamReader<u8>;

/// Reads from the source go in chunks of at most this size.
const READ_CHUNK: usize = 1 << 20;

/// Makes room in a buffer of at most `cap` bytes for `more` (or fails: out of memory).
pub type Grow = fn(&mut Vec<u8>, usize, usize) -> Result<(), Error>;

/// The caller's stream of bytes to store.
pub struct Source {
    reader: Reader,
    pub eof: bool,
}

impl Source {
    pub fn new(stream: InputStream) -> Source {
        Source { reader: Reader::new(stream), eof: false }
    }

    /// Reads what has arrived into `buf`, up to `cap` bytes (`grow` makes room first);
    /// pending while nothing has. Ready also at the end of the stream (`eof`).
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>, cap: usize, grow: Grow) -> Poll<Result<(), Error>> {
        match self.reader.poll_read(cx, (cap - buf.len()).min(READ_CHUNK)) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(bytes)) => Poll::Ready(grow(buf, cap, bytes.len()).map(|()| buf.extend_from_slice(&bytes))),
            Poll::Ready(None) => {
                self.eof = true;
                Poll::Ready(Ok(()))
            }
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
