//! The caller's stream of bytes to store (a `stream<u8>`), read as data arrives.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::reader::Reader;
use crate::error::{Error, transport};

/// The caller's bytes, and how their stream ended (a stream carries no error): `ok` once
/// complete, else why not.
pub struct InputStream {
    pub data: wasip3::wit_bindgen::StreamReader<u8>,
    pub end: wasip3::wit_bindgen::FutureReader<Result<(), String>>,
}

/// How the caller's stream ended, once it has.
type End = Pin<Box<dyn Future<Output = Result<(), String>>>>;

/// Makes room in a buffer of at most `cap` bytes for `more` (or fails: out of memory).
pub type Grow = fn(&mut Vec<u8>, usize, usize) -> Result<(), Error>;

/// The caller's stream of bytes to store.
pub struct Source {
    reader: Reader,
    end: Option<End>,
    pub eof: bool,
}

impl Source {
    pub fn new(stream: InputStream) -> Source {
        Source { reader: Reader::new(stream.data), end: Some(Box::pin(stream.end.into_future())), eof: false }
    }

    /// Ready when the stream has ended: complete, or the error its writer gave.
    pub fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let Some(end) = self.end.as_mut() else { return Poll::Ready(Ok(())) };
        let ended = std::task::ready!(end.as_mut().poll(cx));
        self.end = None;
        Poll::Ready(ended.map_err(|why| transport(format!("reading the data to upload failed: {why}"))))
    }

    /// The next bytes as they arrive (at most `max`), or `None` at the end of a complete
    /// stream.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<Result<Option<Vec<u8>>, Error>> {
        match std::task::ready!(self.reader.poll_read(cx, max)) {
            Some(bytes) => Poll::Ready(Ok(Some(bytes))),
            None => self.poll_end(cx).map_ok(|()| None),
        }
    }

    /// Reads what has arrived into `buf`, up to `cap` bytes (`grow` makes room first);
    /// pending while nothing has. Ready also at the end of the stream (`eof`).
    ///
    /// The bytes go straight into `buf`'s room (`Reader::poll_read_into`): while this is
    /// pending, the read holds `buf` and the caller's is empty, so the caller passes the
    /// same buffer until this is ready.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>, cap: usize, grow: Grow) -> Poll<Result<(), Error>> {
        if !self.reader.is_reading() {
            if buf.len() >= cap {
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = grow(buf, cap, 1) {
                return Poll::Ready(Err(e));
            }
            // Room beyond `cap` (a buffer grown elsewhere) would let the read overfill it:
            // move the bytes into a buffer of exactly `cap` first.
            if buf.capacity() > cap {
                let mut exact = Vec::new();
                if let Err(e) = grow(&mut exact, cap, buf.len().max(1)) {
                    return Poll::Ready(Err(e));
                }
                exact.extend_from_slice(buf);
                *buf = exact;
            }
        }
        if std::task::ready!(self.reader.poll_read_into(cx, buf)) {
            return Poll::Ready(Ok(()));
        }
        match std::task::ready!(self.poll_end(cx)) {
            Ok(()) => {
                self.eof = true;
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(e)),
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
