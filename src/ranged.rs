//! Parallel ranged downloads (`get-options.parallel`): a large object fetched as
//! `part-size` ranges, up to `max-pool-connections` at once, handed to the caller in order.
//!
//! The first range is the start of the ordinary GET's body (which already brought the
//! object's size, ETag and checksum); the others are ranged GETs with `If-Match` on that
//! ETag, so an object replaced midway fails the download (`precondition-failed`) instead
//! of mixing two objects. Each range is retried alone, from its first missing byte, under
//! the store's retry policy. Ranges ahead of the caller fill their own buffers (at most one
//! range each), which bounds memory by `max-pool-connections × part-size`. Checking the
//! bytes as one object is `objects::Download`'s job: it sees them in order.

use std::rc::Rc;

use crate::bindings::exports::wasm_storages::storage::types::{ByteRange, ReadConditions, Span};
use crate::client;
use crate::config::Settings;
use crate::error::{Error, transport};
use crate::request;
use crate::retry::{self, Attempts, Next};
use crate::sys::http::{Body, InFlight};
use crate::sys::io::{Pollable, wait_any};
use crate::sys::time::Timer;

pub struct Ranged {
    object: Object,
    size: u64,
    /// Where the next range to start begins.
    next: u64,
    /// The ranges started and not yet handed over, in order.
    window: Vec<Range>,
}

/// What every range's GET names: the object, pinned to its version and ETag.
struct Object {
    settings: Rc<Settings>,
    key: String,
    full: String,
    version_id: Option<String>,
    etag: String,
}

struct Range {
    start: u64,
    end: u64,
    /// Bytes received (`start..start + buf.len()`), of which `taken` handed over.
    buf: Vec<u8>,
    taken: usize,
    state: State,
    attempts: Attempts,
}

enum State {
    Sending(InFlight<Vec<u8>>),
    Reading(Body),
    /// Backing off before the next attempt.
    Waiting(Timer),
    Done,
}

impl Range {
    fn complete(&self) -> bool {
        self.buf.len() as u64 == self.end - self.start
    }
}

impl Ranged {
    /// A download of the `size`-byte object whose first `part-size` bytes arrive on
    /// `first` (the body of a whole-object GET, read no further than that).
    pub fn new(settings: &Rc<Settings>, key: String, full: String, version_id: Option<String>, etag: String, size: u64, first: Body) -> Ranged {
        let end = size.min(settings.part_size);
        let front = Range { start: 0, end, buf: Vec::new(), taken: 0, state: State::Reading(first), attempts: Attempts { made: 1, ..Attempts::default() } };
        let object = Object { settings: settings.clone(), key, full, version_id, etag };
        Ranged { object, size, next: end, window: vec![front] }
    }

    /// The next bytes in order, at most `max`; `None` at the end of the object.
    pub fn read(&mut self, max: u64) -> Result<Option<Vec<u8>>, Error> {
        loop {
            self.fill_window()?;
            let Some(front) = self.window.first_mut() else { return Ok(None) };
            let max = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
            // A whole range the caller can take at once goes as it is: no copy.
            if front.taken == 0 && front.complete() && max >= front.buf.len() && !front.buf.is_empty() {
                let whole = std::mem::take(&mut front.buf);
                self.window.remove(0);
                return Ok(Some(whole));
            }
            if front.taken < front.buf.len() {
                let n = (front.buf.len() - front.taken).min(max);
                let chunk = front.buf[front.taken..front.taken + n].to_vec();
                front.taken += n;
                return Ok(Some(chunk));
            }
            if front.complete() {
                // A few ranges at most: shifting them is nothing.
                self.window.remove(0);
                continue;
            }
            if !self.pump()? {
                self.wait();
            }
        }
    }

    /// Starts ranges until `max-pool-connections` are held or the object is covered.
    fn fill_window(&mut self) -> Result<(), Error> {
        let settings = &self.object.settings;
        while self.window.len() < settings.max_pool_connections as usize && self.next < self.size {
            let end = self.size.min(self.next + settings.part_size);
            let mut buf = Vec::new();
            // Running out of guest memory is an error to report, not an abort.
            buf.try_reserve_exact((end - self.next) as usize)
                .map_err(|_| transport(format!("out of memory for a {}-byte range: lower part-size or max-pool-connections", end - self.next)))?;
            let mut range = Range { start: self.next, end, buf, taken: 0, state: State::Done, attempts: Attempts::default() };
            self.object.launch(&mut range)?;
            self.window.push(range);
            self.next = end;
        }
        Ok(())
    }

    /// Moves every range as far as it goes without waiting; a failed one is sent again
    /// (now, or after a backoff) or fails the download. Returns whether anything moved.
    fn pump(&mut self) -> Result<bool, Error> {
        let mut moved = false;
        for range in self.window.iter_mut() {
            match self.object.step(range) {
                Ok(m) => moved |= m,
                Err((e, retry_after)) => {
                    moved = true;
                    let settings = &self.object.settings;
                    match settings.retry.next(&mut range.attempts, &e, retry_after, || settings.credentials.invalidate()) {
                        Next::Refresh => self.object.launch(range)?,
                        Next::Wait(delay) => range.state = State::Waiting(Timer::after(delay)),
                        Next::Fail => return Err(self.object.failed(e, range.attempts.made)),
                    }
                }
            }
        }
        Ok(moved)
    }

    /// Blocks until some range can move.
    fn wait(&self) {
        let mut owned: Vec<Pollable> = Vec::new();
        let mut timers: Vec<&Pollable> = Vec::new();
        for range in &self.window {
            match &range.state {
                State::Sending(flight) => owned.extend(flight.pollables()),
                State::Reading(body) => owned.extend(body.readable()),
                State::Waiting(timer) => timers.push(timer.pollable()),
                State::Done => {}
            }
        }
        let all: Vec<&Pollable> = owned.iter().chain(timers).collect();
        if !all.is_empty() {
            wait_any(&all);
        }
    }
}

impl Object {
    /// Sends the GET for what `range` still lacks.
    fn launch(&self, range: &mut Range) -> Result<(), Error> {
        let from = range.start + range.buf.len() as u64;
        let conditions = ReadConditions { if_match: Some(self.etag.clone()), ..ReadConditions::default() };
        let span = ByteRange::Span(Span { start: from, end: range.end });
        let req = request::get_object(&self.settings, &self.full, Some(&span), &conditions, self.version_id.as_deref())?;
        range.attempts.made += 1;
        range.state = State::Sending(client::start(&self.settings, &req)?);
        Ok(())
    }

    /// One step of `range` without waiting: whether it moved, or why its attempt failed
    /// (with the server's `Retry-After`).
    fn step(&self, range: &mut Range) -> Result<bool, (Error, Option<std::time::Duration>)> {
        let from = range.start + range.buf.len() as u64;
        match &mut range.state {
            State::Done => Ok(false),
            State::Waiting(timer) => {
                if !timer.elapsed() {
                    return Ok(false);
                }
                self.launch(range).map_err(|e| (e, None))?;
                Ok(true)
            }
            State::Sending(flight) => {
                let Some(answer) = flight.poll_response() else { return Ok(false) };
                let resp = answer.map_err(|e| (e, None))?;
                let retry_after = resp.header("retry-after").and_then(retry::parse_retry_after);
                let resp = client::check(resp, Some(&self.key)).map_err(|e| (e, retry_after))?;
                // Judged here too: some servers (s3s-fs) ignore If-Match on GET.
                if resp.header("etag").is_some_and(|etag| etag != self.etag) {
                    return Err((self.changed(), None));
                }
                // Exactly the bytes asked for, or the attempt failed (and is retried).
                let span = resp.header("content-range").and_then(request::parse_content_range);
                if resp.status != 206 || span.is_none_or(|(s, _)| s.start != from || s.end != range.end) {
                    let got = resp.header("content-range").unwrap_or("none");
                    return Err((
                        transport(format!("asked for bytes {from}..{} of {}, got status {} with Content-Range {got}", range.end, self.key, resp.status)),
                        None,
                    ));
                }
                range.state = State::Reading(resp.into_body().map_err(|e| (e, None))?);
                Ok(true)
            }
            State::Reading(body) => {
                let mut moved = false;
                let len = range.end - range.start;
                while (range.buf.len() as u64) < len {
                    let missing = len - range.buf.len() as u64;
                    match body.read_now(missing) {
                        Ok(Some(chunk)) if chunk.is_empty() => return Ok(moved),
                        Ok(Some(chunk)) => {
                            moved = true;
                            let take = chunk.len().min(missing as usize);
                            range.buf.extend_from_slice(&chunk[..take]);
                        }
                        Ok(None) => return Err((transport(format!("bytes {from}..{} of {} were cut short", range.end, self.key)), None)),
                        Err(e) => return Err((e, None)),
                    }
                }
                // All of it: the connection (of the first range, the rest of a whole-object
                // body) is let go.
                range.state = State::Done;
                Ok(true)
            }
        }
    }

    /// The error that ends the download: a 412 means the object changed since the first
    /// reply.
    fn failed(&self, e: Error, attempts: u32) -> Error {
        match e {
            Error::Service(s) if s.status == 412 => self.changed(),
            e => retry::after_attempts(e, attempts),
        }
    }

    fn changed(&self) -> Error {
        Error::PreconditionFailed(format!("{} (it changed while it was being downloaded)", self.key))
    }
}
