//! The caller's input stream, read without blocking or until full (wasi:io/streams), and
//! waiting on several pollables at once (wasi:io/poll).

pub use wasip2::io::poll::Pollable;
pub use wasip2::io::streams::InputStream;
use wasip2::io::streams::StreamError;

use crate::error::{Error, transport};

/// Reads from the source go in chunks of at most this size.
const READ_CHUNK: u64 = 1 << 20;

/// Blocks until at least one of `pollables` is ready.
pub fn wait_any(pollables: &[&Pollable]) {
    wasip2::io::poll::poll(pollables);
}

/// The caller's stream of bytes to store.
pub struct Source {
    pub stream: InputStream,
    pub eof: bool,
}

impl Source {
    pub fn new(stream: InputStream) -> Source {
        Source { stream, eof: false }
    }

    /// Reads whatever is available now (without blocking) into `buf`, up to `cap` bytes;
    /// `grow` makes room first (or fails: out of memory). Returns whether anything happened.
    pub fn read_some(&mut self, buf: &mut Vec<u8>, cap: usize, grow: fn(&mut Vec<u8>, usize, usize) -> Result<(), Error>) -> Result<bool, Error> {
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
    pub fn fill(&mut self, buf: &mut Vec<u8>, cap: usize, grow: fn(&mut Vec<u8>, usize, usize) -> Result<(), Error>) -> Result<(), Error> {
        while buf.len() < cap && !self.eof {
            if !self.read_some(buf, cap, grow)? {
                self.stream.subscribe().block();
            }
        }
        Ok(())
    }

    /// Ready when more can be read.
    pub fn readable(&self) -> Pollable {
        self.stream.subscribe()
    }
}
