//! The part engine: numbered parts sent concurrently (at most `max_in_flight` at once),
//! each retried on its own as the store's retry policy says, and collected in order for
//! completion; or, on any failure, every part in flight dropped before the upload is
//! aborted. It knows nothing of S3 or of WASI: a [`Protocol`] sends parts and waits
//! (`multipart` is S3's), so the engine's decisions are tested natively with a scripted one.

use std::time::Duration;

use crate::error::{Error, transport};
use crate::retry::{self, Attempts, Next, Policy};
use crate::sys::io::Pollable;

/// S3's limit on parts per upload.
pub const MAX_PARTS: u32 = 10_000;

/// How parts go out, and how their answers come back.
pub trait Protocol {
    /// What a part carries: its bytes (an upload), or the range of the source it copies.
    type Body: Default;
    /// A part's request on its way.
    type Flight;
    /// A backoff before a part is sent again.
    type Timer;

    /// How many bytes of the object `body` makes.
    fn size(body: &Self::Body) -> u64;
    /// Starts sending part `number` with `data`.
    fn send(&self, number: u32, data: Self::Body) -> Result<Self::Flight, Error>;
    /// Moves `flight` along without blocking; whether anything moved.
    fn pump(&self, flight: &mut Self::Flight) -> bool;
    /// The part's answer, once here: its ETag, or the error and the server's `Retry-After`.
    fn answer(&self, flight: &mut Self::Flight) -> Option<(Result<String, Error>, Option<Duration>)>;
    /// A finished flight's data, to send it again.
    fn reclaim(&self, flight: &mut Self::Flight) -> Option<Self::Body>;
    fn timer(&self, delay: Duration) -> Self::Timer;
    fn elapsed(&self, timer: &Self::Timer) -> bool;
    /// Blocks until one of `flights` or `timers` can move, or `also` is ready.
    fn wait(&self, flights: &[&Self::Flight], timers: &[&Self::Timer], also: Option<&Pollable>);
    /// Forgets credentials the server called expired; whether new ones can be had.
    fn refresh(&self) -> bool;
    fn policy(&self) -> &Policy;
    fn max_in_flight(&self) -> usize;
    /// Ends the upload after `cause` (no parts may linger); the error to report.
    fn abort(self, cause: Error) -> Error;
}

/// An upload's parts: those in flight and those done.
pub struct Parts<P: Protocol> {
    protocol: P,
    in_flight: Vec<Part<P>>,
    done: Vec<(u32, String)>,
    number: u32,
    total: u64,
}

struct Part<P: Protocol> {
    number: u32,
    state: State<P>,
    attempts: Attempts,
}

enum State<P: Protocol> {
    Sending(P::Flight),
    /// Failed in a way worth another attempt: waiting out the backoff.
    Waiting {
        data: P::Body,
        timer: P::Timer,
    },
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
        let state = State::Sending(self.protocol.send(self.number, data)?);
        self.in_flight.push(Part { number: self.number, state, attempts: Attempts { made: 1, ..Attempts::default() } });
        Ok(())
    }

    /// [`Parts::launch`], once a part in flight has made room.
    pub fn launch_when_room(&mut self, data: P::Body) -> Result<(), Error> {
        while !self.has_room() {
            if !self.step()? {
                self.wait(None)?;
            }
        }
        self.launch(data)
    }

    /// Waits for every part in flight.
    pub fn drain(&mut self) -> Result<(), Error> {
        while !self.in_flight.is_empty() {
            if !self.step()? {
                self.wait(None)?;
            }
        }
        Ok(())
    }

    /// Moves every part along as far as it goes without waiting: body writes, answers,
    /// retries. Returns whether anything happened.
    pub fn step(&mut self) -> Result<bool, Error> {
        let mut moved = false;
        let mut i = 0;
        while i < self.in_flight.len() {
            let part = &mut self.in_flight[i];
            // A backoff that is over: send the part again.
            if let State::Waiting { data, timer } = &mut part.state {
                if !self.protocol.elapsed(timer) {
                    i += 1;
                    continue;
                }
                let data = std::mem::take(data);
                part.state = State::Sending(self.protocol.send(part.number, data)?);
                part.attempts.made += 1;
                moved = true;
            }
            let State::Sending(flight) = &mut part.state else { unreachable!("a waiting part was sent again above") };
            moved |= self.protocol.pump(flight);
            let Some((answer, retry_after)) = self.protocol.answer(flight) else {
                i += 1;
                continue;
            };
            moved = true;
            let error = match answer {
                Ok(etag) => {
                    self.done.push((part.number, etag));
                    self.in_flight.swap_remove(i);
                    continue;
                }
                Err(e) => e,
            };
            // Parts are idempotent: the policy decides as for any request.
            let protocol = &self.protocol;
            match protocol.policy().next(&mut part.attempts, &error, retry_after, || protocol.refresh()) {
                Next::Refresh => {
                    let data = protocol.reclaim(flight).ok_or_else(|| transport("the part's data is gone"))?;
                    part.state = State::Sending(protocol.send(part.number, data)?);
                    part.attempts.made += 1;
                }
                Next::Wait(delay) => {
                    let data = protocol.reclaim(flight).ok_or_else(|| transport("the part's data is gone"))?;
                    part.state = State::Waiting { data, timer: protocol.timer(delay) };
                }
                Next::Fail => return Err(retry::after_attempts(error, part.attempts.made)),
            }
        }
        Ok(moved)
    }

    /// Blocks until a part can move (a body has room, an answer arrives, a backoff ends) or
    /// `also` is ready.
    pub fn wait(&self, also: Option<&Pollable>) -> Result<(), Error> {
        let mut flights = Vec::new();
        let mut timers = Vec::new();
        for part in &self.in_flight {
            match &part.state {
                State::Sending(flight) => flights.push(flight),
                State::Waiting { timer, .. } => timers.push(timer),
            }
        }
        if flights.is_empty() && timers.is_empty() && also.is_none() {
            return Err(transport("the upload stalled with nothing to wait for"));
        }
        self.protocol.wait(&flights, &timers, also);
        Ok(())
    }

    /// Every part done (after [`Parts::drain`]): the protocol, the parts' numbers and ETags
    /// in order, and the bytes sent.
    pub fn finish(mut self) -> (P, Vec<(u32, String)>, u64) {
        crate::order::sort_by(&mut self.done, |a, b| a.0.cmp(&b.0));
        (self.protocol, self.done, self.total)
    }

    /// Ends the upload after `cause`: the parts in flight are dropped first (their requests
    /// end with them), then the protocol aborts, so no part lingers.
    pub fn abort(mut self, cause: Error) -> Error {
        self.in_flight.clear();
        self.protocol.abort(cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ServiceError;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    /// Per part number, the outcomes of its attempts in order (`Ok(())` gives an ETag).
    type Outcomes = Vec<(u32, VecDeque<Result<(), Error>>)>;

    /// A scripted protocol: each attempt of each part answers after a given number of
    /// pumps with a scripted outcome; the log records what happened, in order.
    struct Script {
        outcomes: RefCell<Outcomes>,
        /// Pumps before a flight of part `n` answers: later parts answer sooner.
        delay: fn(u32) -> u32,
        log: Rc<RefCell<Vec<String>>>,
        policy: Policy,
        max: usize,
    }

    struct Flight {
        number: u32,
        pumps_left: u32,
        data: Option<Vec<u8>>,
        log: Rc<RefCell<Vec<String>>>,
    }

    impl Drop for Flight {
        fn drop(&mut self) {
            if self.data.is_some() {
                self.log.borrow_mut().push(format!("dropped {}", self.number));
            }
        }
    }

    impl Protocol for Script {
        type Body = Vec<u8>;
        type Flight = Flight;
        type Timer = ();

        fn size(body: &Vec<u8>) -> u64 {
            body.len() as u64
        }

        fn send(&self, number: u32, data: Vec<u8>) -> Result<Flight, Error> {
            self.log.borrow_mut().push(format!("send {number}"));
            Ok(Flight { number, pumps_left: (self.delay)(number), data: Some(data), log: self.log.clone() })
        }
        fn pump(&self, flight: &mut Flight) -> bool {
            flight.pumps_left = flight.pumps_left.saturating_sub(1);
            true
        }
        fn answer(&self, flight: &mut Flight) -> Option<(Result<String, Error>, Option<Duration>)> {
            if flight.pumps_left > 0 {
                return None;
            }
            let mut outcomes = self.outcomes.borrow_mut();
            let queue = &mut outcomes.iter_mut().find(|(n, _)| *n == flight.number).expect("scripted part").1;
            let outcome = queue.pop_front().unwrap_or(Ok(()));
            if outcome.is_ok() {
                flight.data = None;
            }
            Some((outcome.map(|()| format!("etag-{}", flight.number)), None))
        }
        fn reclaim(&self, flight: &mut Flight) -> Option<Vec<u8>> {
            flight.data.take()
        }
        fn timer(&self, delay: Duration) {
            assert!(delay <= self.policy.max_delay);
        }
        fn elapsed(&self, _: &()) -> bool {
            true
        }
        fn wait(&self, _: &[&Flight], _: &[&()], _: Option<&Pollable>) {}
        fn refresh(&self) -> bool {
            self.log.borrow_mut().push("refresh".into());
            true
        }
        fn policy(&self) -> &Policy {
            &self.policy
        }
        fn max_in_flight(&self) -> usize {
            self.max
        }
        fn abort(self, cause: Error) -> Error {
            self.log.borrow_mut().push("abort".into());
            cause
        }
    }

    fn script(parts: u32, max: usize, failures: &[(u32, Vec<Error>)]) -> (Parts<Script>, Rc<RefCell<Vec<String>>>) {
        let log = Rc::new(RefCell::new(Vec::new()));
        let outcomes = (1..=parts)
            .map(|n| {
                let errors = failures.iter().find(|(p, _)| *p == n).map(|(_, e)| e.clone()).unwrap_or_default();
                (n, errors.into_iter().map(Err).collect())
            })
            .collect();
        let policy = Policy::new(3, Duration::from_millis(1), Duration::from_millis(5), 1);
        let protocol = Script { outcomes: RefCell::new(outcomes), delay: |n| 10 - n.min(9), log: log.clone(), policy, max };
        (Parts::new(protocol), log)
    }

    fn service(status: u16, code: &str) -> Error {
        Error::Service(ServiceError { status, code: code.into(), ..Default::default() })
    }

    #[test]
    fn parts_finishing_out_of_order_complete_in_order_within_the_bound() {
        let (mut parts, log) = script(7, 3, &[]);
        for n in 1..=7u8 {
            parts.launch_when_room(vec![n; 4]).unwrap();
            assert!(parts.in_flight.len() <= 3, "more than max-in-flight parts at once");
        }
        parts.drain().unwrap();
        let (_, done, total) = parts.finish();
        assert_eq!(done.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6, 7]);
        assert!(done.iter().all(|(n, etag)| *etag == format!("etag-{n}")));
        assert_eq!(total, 28);
        assert_eq!(log.borrow().iter().filter(|e| e.starts_with("send")).count(), 7);
    }

    #[test]
    fn a_failed_part_is_sent_again_alone_and_expired_credentials_refreshed_once() {
        let (mut parts, log) = script(
            3,
            3,
            &[
                (2, vec![service(503, "SlowDown")]),
                (3, vec![Error::AccessDenied(ServiceError { status: 400, code: "ExpiredToken".into(), ..Default::default() })]),
            ],
        );
        for n in 1..=3u8 {
            parts.launch(vec![n]).unwrap();
        }
        parts.drain().unwrap();
        let (_, done, _) = parts.finish();
        assert_eq!(done.len(), 3);
        let log = log.borrow();
        assert_eq!(log.iter().filter(|e| *e == "send 2").count(), 2);
        assert_eq!(log.iter().filter(|e| *e == "send 3").count(), 2);
        assert_eq!(log.iter().filter(|e| *e == "send 1").count(), 1);
        assert_eq!(log.iter().filter(|e| *e == "refresh").count(), 1);
    }

    #[test]
    fn a_part_that_keeps_failing_fails_the_upload_saying_how_often() {
        let (mut parts, _) = script(2, 2, &[(1, vec![service(500, ""), service(500, ""), service(500, "")])]);
        parts.launch(vec![1]).unwrap();
        parts.launch(vec![2]).unwrap();
        match parts.drain() {
            Err(Error::Service(s)) => assert!(s.message.ends_with("(after 3 attempts)"), "{}", s.message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refused_part_is_not_retried_and_abort_drops_the_parts_in_flight_first() {
        let (mut parts, log) = script(3, 3, &[(3, vec![service(400, "InvalidPart")])]);
        for n in 1..=3u8 {
            parts.launch(vec![n]).unwrap();
        }
        let e = parts.drain().unwrap_err();
        assert!(matches!(&e, Error::Service(s) if s.code == "InvalidPart" && !s.message.contains("attempts")));
        let e = parts.abort(e);
        assert!(matches!(e, Error::Service(_)));
        let log = log.borrow();
        assert_eq!(log.iter().filter(|e| *e == "send 3").count(), 1, "a client error is an answer");
        let abort = log.iter().position(|e| e == "abort").expect("aborted");
        let dropped: Vec<usize> = log.iter().enumerate().filter(|(_, e)| e.starts_with("dropped")).map(|(i, _)| i).collect();
        assert!(!dropped.is_empty() && dropped.iter().all(|&i| i < abort), "{log:?}");
    }

    #[test]
    fn only_the_first_part_may_be_empty_and_the_part_count_is_bounded() {
        let (mut parts, _) = script(1, 1, &[]);
        parts.launch(Vec::new()).unwrap();
        parts.launch(Vec::new()).unwrap();
        assert_eq!(parts.number, 1);
        parts.number = MAX_PARTS;
        assert!(matches!(parts.launch(vec![1]), Err(Error::Transport(m)) if m.contains("raise part-size")));
    }
}
