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

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use crate::client;
use crate::config::Settings;
use crate::error::{Error, transport};
use crate::request;
use crate::retry::{self, Attempts};
use crate::sys::http::Body;
use crate::sys::time;
use crate::types::{ByteRange, ReadConditions, Span};

pub struct Ranged {
    object: Rc<Object>,
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
    /// Bytes received, filled by `fetch`, of which `taken` handed over.
    buf: Rc<RefCell<Vec<u8>>>,
    taken: usize,
    /// Until every byte is in.
    fetch: Option<Fetch>,
}

/// A range's bytes on their way in (owning what it needs, as the download outlives a call).
type Fetch = Pin<Box<dyn Future<Output = Result<(), Error>>>>;

impl Ranged {
    /// A download of the `size`-byte object whose first `part-size` bytes arrive on
    /// `first` (the body of a whole-object GET, read no further than that).
    pub fn new(settings: &Rc<Settings>, key: String, full: String, version_id: Option<String>, etag: String, size: u64, first: Body) -> Result<Ranged, Error> {
        let object = Rc::new(Object { settings: settings.clone(), key, full, version_id, etag });
        let mut ranged = Ranged { object, size, next: 0, window: Vec::new() };
        ranged.start(Some(first))?;
        Ok(ranged)
    }

    /// The next bytes in order, at most `max`; `None` at the end of the object.
    pub async fn read(&mut self, max: u64) -> Result<Option<Vec<u8>>, Error> {
        let max = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
        poll_fn(|cx| {
            loop {
                self.fill_window()?;
                // Every range moves as far as it can, the ones ahead of the caller too.
                let mut moved = false;
                for range in &mut self.window {
                    if let Some(fetch) = &mut range.fetch
                        && let Poll::Ready(done) = fetch.as_mut().poll(cx)
                    {
                        done?;
                        range.fetch = None;
                        moved = true;
                    }
                }
                let Some(front) = self.window.first_mut() else { return Poll::Ready(Ok(None)) };
                let complete = front.fetch.is_none();
                let mut buf = front.buf.borrow_mut();
                // A whole range the caller can take at once goes as it is: no copy.
                if complete && front.taken == 0 && max >= buf.len() && !buf.is_empty() {
                    let whole = std::mem::take(&mut *buf);
                    drop(buf);
                    self.window.remove(0);
                    return Poll::Ready(Ok(Some(whole)));
                }
                if front.taken < buf.len() {
                    let n = (buf.len() - front.taken).min(max);
                    let chunk = buf[front.taken..front.taken + n].to_vec();
                    front.taken += n;
                    return Poll::Ready(Ok(Some(chunk)));
                }
                drop(buf);
                if complete {
                    // A few ranges at most: shifting them is nothing.
                    self.window.remove(0);
                    continue;
                }
                if !moved {
                    return Poll::Pending;
                }
            }
        })
        .await
    }

    /// Starts ranges until `max-pool-connections` are held or the object is covered.
    fn fill_window(&mut self) -> Result<(), Error> {
        let most = self.object.settings.max_pool_connections as usize;
        while self.window.len() < most && self.next < self.size {
            self.start(None)?;
        }
        Ok(())
    }

    /// Starts the range from `next`, read from `first` or fetched, into a buffer of its
    /// size (reserved whole: the ranges held bound the memory).
    fn start(&mut self, first: Option<Body>) -> Result<(), Error> {
        let (start, end) = (self.next, self.size.min(self.next + self.object.settings.part_size));
        let len = end - start;
        let mut buf = Vec::new();
        // Running out of guest memory is an error to report, not an abort.
        buf.try_reserve_exact(len as usize).map_err(|_| transport(format!("out of memory for a {len}-byte range: lower part-size or max-pool-connections")))?;
        let buf = Rc::new(RefCell::new(buf));
        let fetch = Box::pin(fetch(self.object.clone(), start, end, buf.clone(), first));
        self.window.push(Range { buf, taken: 0, fetch: Some(fetch) });
        self.next = end;
        Ok(())
    }
}

/// Brings bytes `start..end` into `buf`: read from `first` if given, else fetched, and each
/// failed attempt retried alone from its first missing byte, as the store's policy says.
async fn fetch(object: Rc<Object>, start: u64, end: u64, buf: Rc<RefCell<Vec<u8>>>, mut first: Option<Body>) -> Result<(), Error> {
    let signed_with = client::SignedWith::default();
    let attempt = async || match first.take() {
        Some(body) => (object.read_into(body, start, end, &buf).await, None),
        None => object.attempt(start, end, &buf, &signed_with).await,
    };
    let settings = &object.settings;
    retry::run(&settings.retry, attempt, &|| settings.credentials.invalidate(signed_with.borrow().as_ref()), time::sleep)
        .await
        .map_err(|(e, attempts): (Error, Attempts)| object.failed(e, attempts.made))
}

impl Object {
    /// One GET of what `start..end` still lacks, read into `buf`; the error and the server's
    /// `Retry-After` when it failed.
    async fn attempt(&self, start: u64, end: u64, buf: &RefCell<Vec<u8>>, signed_with: &client::SignedWith) -> (Result<(), Error>, Option<Duration>) {
        let from = start + buf.borrow().len() as u64;
        let conditions = ReadConditions { if_match: Some(self.etag.clone()), ..ReadConditions::default() };
        let span = ByteRange::Span(Span { start: from, end });
        let resp = match request::get_object(&self.settings, &self.full, Some(&span), &conditions, self.version_id.as_deref()) {
            Ok(req) => client::send(&self.settings, &req, None, signed_with).await,
            Err(e) => Err(e),
        };
        let resp = match resp {
            Ok(resp) => resp,
            Err(e) => return (Err(e), None),
        };
        let retry_after = resp.header("retry-after").and_then(retry::parse_retry_after);
        let resp = match client::check(resp, Some(&self.key)).await {
            Ok(resp) => resp,
            Err(e) => return (Err(e), retry_after),
        };
        // Judged here too: some servers (s3s-fs) ignore If-Match on GET.
        if resp.header("etag").is_some_and(|etag| etag != self.etag) {
            return (Err(self.changed()), None);
        }
        // Exactly the bytes asked for, or the attempt failed (and is retried).
        let span = resp.header("content-range").and_then(request::parse_content_range);
        if resp.status != 206 || span.is_none_or(|(s, _)| s.start != from || s.end != end) {
            let got = resp.header("content-range").unwrap_or("none");
            return (Err(transport(format!("asked for bytes {from}..{end} of {}, got status {} with Content-Range {got}", self.key, resp.status))), None);
        }
        match resp.into_body() {
            Ok(body) => (self.read_into(body, start, end, buf).await, None),
            Err(e) => (Err(e), None),
        }
    }

    /// Reads `body` into `buf` until `start..end` is complete. All of it: the connection (of
    /// the first range, the rest of a whole-object body) is let go.
    async fn read_into(&self, mut body: Body, start: u64, end: u64, buf: &RefCell<Vec<u8>>) -> Result<(), Error> {
        let len = (end - start) as usize;
        loop {
            let missing = len - buf.borrow().len();
            if missing == 0 {
                return Ok(());
            }
            match body.read(missing as u64).await? {
                Some(chunk) => {
                    let mut buf = buf.borrow_mut();
                    let take = chunk.len().min(missing);
                    if buf.try_reserve(take).is_err() {
                        return Err(transport(format!("out of memory for a {len}-byte range: lower part-size or max-pool-connections")));
                    }
                    buf.extend_from_slice(&chunk[..take]);
                }
                None => {
                    let from = start + buf.borrow().len() as u64;
                    return Err(transport(format!("bytes {from}..{end} of {} were cut short", self.key)));
                }
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
