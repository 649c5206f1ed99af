//! The part engine: numbered parts sent concurrently (at most `max_in_flight` at once),
//! each a future that retries on its own as the store's retry policy says (the single-request
//! pipeline), collected in order for completion; or, on any failure, every part in flight
//! dropped before the upload is aborted. It knows nothing of S3 or of WASI: a [`Protocol`]
//! makes the parts' futures (`multipart` is S3's), so the engine's decisions are tested
//! natively with a scripted one.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, transport};

/// S3's limit on parts per upload.
pub const MAX_PARTS: u32 = 10_000;

/// A part on its way: its ETag once the server has it. Owns what it needs (no borrow of the
/// upload), so the engine can hold it across a writer's calls.
pub type PartFuture = Pin<Box<dyn Future<Output = Result<String, Error>>>>;

/// How parts go out.
pub trait Protocol {
    /// What a part carries: its bytes (an upload), or the range of the source it copies.
    type Body;

    /// How many bytes of the object `body` makes.
    fn size(body: &Self::Body) -> u64;
    /// Part `number` with `data`, sent and retried.
    fn part(&self, number: u32, data: Self::Body) -> PartFuture;
    fn max_in_flight(&self) -> usize;
    /// Ends the upload (no parts may linger).
    fn abort(&self) -> impl Future<Output = Result<(), Error>>;
}

/// An upload's parts: those in flight and those done.
pub struct Parts<P: Protocol> {
    protocol: P,
    in_flight: Vec<(u32, PartFuture)>,
    done: Vec<(u32, String)>,
    number: u32,
    total: u64,
}

impl<P: Protocol> Parts<P> {
    pub fn new(protocol: P) -> Self {
        Parts { protocol, in_flight: Vec::new(), done: Vec::new(), number: 0, total: 0 }
    }

    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    pub fn has_room(&self) -> bool {
        self.in_flight.len() < self.protocol.max_in_flight()
    }

    /// Sends `data` as the next part (an empty one only if it's the first).
    pub fn launch(&mut self, data: P::Body) -> Result<(), Error> {
        if P::size(&data) == 0 && self.number > 0 {
            return Ok(());
        }
        if self.number == MAX_PARTS {
            return Err(transport(format!("the data is longer than {MAX_PARTS} parts; raise part-size")));
        }
        self.number += 1;
        self.total += P::size(&data);
        self.in_flight.push((self.number, self.protocol.part(self.number, data)));
        Ok(())
    }

    /// [`Parts::launch`], once a part in flight has made room.
    pub async fn launch_when_room(&mut self, data: P::Body) -> Result<(), Error> {
        poll_fn(|cx| self.poll_until(cx, |parts| parts.has_room())).await?;
        self.launch(data)
    }

    /// Waits for every part in flight.
    pub async fn drain(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_until(cx, |parts| parts.in_flight.is_empty())).await
    }

    /// Ready once `done` holds of the parts (or one failed).
    fn poll_until(&mut self, cx: &mut Context<'_>, done: fn(&Self) -> bool) -> Poll<Result<(), Error>> {
        while !done(self) {
            if !self.step(cx)? {
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Polls every part in flight once: whether one finished. A failed part fails the upload
    /// (it was retried as far as the policy allows).
    pub fn step(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let mut moved = false;
        let mut i = 0;
        while i < self.in_flight.len() {
            match self.in_flight[i].1.as_mut().poll(cx) {
                Poll::Pending => i += 1,
                Poll::Ready(etag) => {
                    let (number, _) = self.in_flight.swap_remove(i);
                    self.done.push((number, etag?));
                    moved = true;
                }
            }
        }
        Ok(moved)
    }

    /// Every part done (after [`Parts::drain`]): the protocol, the parts' numbers and ETags
    /// in order, and the bytes sent.
    pub fn finish(mut self) -> (P, Vec<(u32, String)>, u64) {
        crate::order::sort_by(&mut self.done, |a, b| a.0.cmp(&b.0));
        (self.protocol, self.done, self.total)
    }

    /// Ends the upload after `cause`: the parts in flight are dropped first (their requests
    /// end with them), then the protocol aborts, so no part lingers.
    pub async fn abort(self, cause: Error) -> Error {
        after_abort(cause, self.cancel().await)
    }

    /// Ends the upload unfinished, at the caller's wish: the parts in flight dropped, then
    /// the protocol aborts.
    pub async fn cancel(mut self) -> Result<(), Error> {
        self.in_flight.clear();
        self.protocol.abort().await
    }
}

/// The error that ended an upload, after the upload was aborted (`aborted`): the cause,
/// which also says a transport failure's abort failed (the upload may linger).
pub fn after_abort(cause: Error, aborted: Result<(), Error>) -> Error {
    match (cause, aborted) {
        (Error::Transport(why), Err(e)) => transport(format!("{why}; {}", crate::error::message(&e))),
        (cause, _) => cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ServiceError;
    use crate::sys::spin;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A scripted protocol: part `n` answers after `delay(n)` polls with its scripted
    /// outcome; the log records what happened, in order.
    struct Script {
        /// Part numbers that fail, and how.
        failures: Vec<(u32, Error)>,
        /// Polls before part `n` answers: later parts answer sooner.
        delay: fn(u32) -> u32,
        log: Rc<RefCell<Vec<String>>>,
        max: usize,
    }

    /// Logs a part dropped before it answered.
    struct Flight {
        number: u32,
        answered: bool,
        log: Rc<RefCell<Vec<String>>>,
    }

    impl Drop for Flight {
        fn drop(&mut self) {
            if !self.answered {
                self.log.borrow_mut().push(format!("dropped {}", self.number));
            }
        }
    }

    impl Protocol for Script {
        type Body = Vec<u8>;

        fn size(body: &Vec<u8>) -> u64 {
            body.len() as u64
        }

        fn part(&self, number: u32, _data: Vec<u8>) -> PartFuture {
            self.log.borrow_mut().push(format!("send {number}"));
            let mut flight = Flight { number, answered: false, log: self.log.clone() };
            let mut polls_left = (self.delay)(number);
            let outcome = self.failures.iter().find(|(n, _)| *n == number).map(|(_, e)| e.clone());
            Box::pin(poll_fn(move |_| {
                // The whole flight moves into the future (dropped with it), not its fields.
                let flight = &mut flight;
                if polls_left > 0 {
                    polls_left -= 1;
                    return Poll::Pending;
                }
                flight.answered = true;
                Poll::Ready(match outcome.clone() {
                    Some(e) => Err(e),
                    None => Ok(format!("etag-{}", flight.number)),
                })
            }))
        }
        fn max_in_flight(&self) -> usize {
            self.max
        }
        async fn abort(&self) -> Result<(), Error> {
            self.log.borrow_mut().push("abort".into());
            Ok(())
        }
    }

    fn script(max: usize, failures: Vec<(u32, Error)>) -> (Parts<Script>, Rc<RefCell<Vec<String>>>) {
        let log = Rc::new(RefCell::new(Vec::new()));
        let protocol = Script { failures, delay: |n| 10 - n.min(9), log: log.clone(), max };
        (Parts::new(protocol), log)
    }

    fn service(status: u16, code: &str) -> Error {
        Error::Service(ServiceError { status, code: code.into(), ..Default::default() })
    }

    #[test]
    fn parts_finishing_out_of_order_complete_in_order_within_the_bound() {
        let (mut parts, log) = script(3, Vec::new());
        for n in 1..=7u8 {
            spin(parts.launch_when_room(vec![n; 4])).unwrap();
            assert!(parts.in_flight.len() <= 3, "more than max-in-flight parts at once");
        }
        spin(parts.drain()).unwrap();
        let (_, done, total) = parts.finish();
        assert_eq!(done.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6, 7]);
        assert!(done.iter().all(|(n, etag)| *etag == format!("etag-{n}")));
        assert_eq!(total, 28);
        assert_eq!(log.borrow().iter().filter(|e| e.starts_with("send")).count(), 7);
    }

    #[test]
    fn a_failed_part_fails_the_upload_and_abort_drops_the_parts_in_flight_first() {
        let (mut parts, log) = script(3, vec![(3, service(400, "InvalidPart"))]);
        for n in 1..=3u8 {
            parts.launch(vec![n]).unwrap();
        }
        let e = spin(parts.drain()).unwrap_err();
        assert!(matches!(&e, Error::Service(s) if s.code == "InvalidPart"));
        let e = spin(parts.abort(e));
        assert!(matches!(e, Error::Service(_)));
        let log = log.borrow();
        let abort = log.iter().position(|e| e == "abort").expect("aborted");
        let dropped: Vec<usize> = log.iter().enumerate().filter(|(_, e)| e.starts_with("dropped")).map(|(i, _)| i).collect();
        assert_eq!(dropped.len(), 2, "{log:?}");
        assert!(dropped.iter().all(|&i| i < abort), "{log:?}");
    }

    #[test]
    fn only_the_first_part_may_be_empty_and_the_part_count_is_bounded() {
        let (mut parts, _) = script(1, Vec::new());
        parts.launch(Vec::new()).unwrap();
        parts.launch(Vec::new()).unwrap();
        assert_eq!(parts.number, 1);
        parts.number = MAX_PARTS;
        assert!(matches!(parts.launch(vec![1]), Err(Error::Transport(m)) if m.contains("raise part-size")));
    }
}
