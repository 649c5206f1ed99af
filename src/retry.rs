//! The one retry policy every request follows (single requests in `client`, multipart
//! parts in `parts`): which failures are worth another attempt, how long to wait before it
//! (exponential backoff with full jitter, at least what `Retry-After` asks), when expired
//! temporary credentials are fetched anew, and saying in the final error how many attempts
//! were made. Only requests whose bodies we still hold are retried: every S3 request here
//! is idempotent (PUT, GET, HEAD, DELETE, UploadPart, CompleteMultipartUpload, CopyObject);
//! a spliced upload's stream can't be replayed. Pure: no I/O, tested natively.

use std::cell::Cell;
use std::time::Duration;

use crate::error::Error;

pub struct Policy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// xorshift64 state, for the jitter; seeded per store.
    rng: Cell<u64>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Policy {{ max_attempts: {}, base_delay: {:?}, max_delay: {:?} }}", self.max_attempts, self.base_delay, self.max_delay)
    }
}

impl Policy {
    pub fn new(max_attempts: u32, base_delay: Duration, max_delay: Duration, seed: u64) -> Self {
        Policy { max_attempts, base_delay, max_delay, rng: Cell::new(seed | 1) }
    }

    /// How long to wait after the `failures`-th failed attempt: a uniformly random time up
    /// to `base × 2^(failures-1)` (capped at `max_delay`), and at least `retry_after`.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.base_delay.saturating_mul(1u32 << (failures.saturating_sub(1)).min(20)).min(self.max_delay);
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        let jitter = Duration::from_nanos(x % (u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX).max(1)));
        jitter.max(retry_after.unwrap_or_default()).min(self.max_delay)
    }
}

/// One request's attempts so far: the data the policy decides on, and what callers whose
/// answer depends on the history read (a lost answer to an earlier attempt).
#[derive(Debug, Default, Clone, Copy)]
pub struct Attempts {
    /// Attempts started so far.
    pub made: u32,
    /// Sent again already after an `ExpiredToken` refusal, with new credentials.
    pub refreshed: bool,
    /// An earlier attempt failed in a way that may have left its work done (a lost answer,
    /// a server error), not one refused outright (expired credentials).
    pub retried: bool,
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq)]
pub enum Next {
    /// Fetch new credentials and send again at once.
    Refresh,
    /// Send again after this backoff.
    Wait(Duration),
    /// Give up: the error stands.
    Fail,
}

impl Policy {
    /// After the attempt `attempts.made` failed with `error` (the server asking for
    /// `retry_after`): what to do next, recorded in `attempts`. `refresh` forgets the
    /// credentials and says whether new ones can be fetched (fixed ones can't).
    pub fn next(&self, attempts: &mut Attempts, error: &Error, retry_after: Option<Duration>, refresh: impl FnOnce() -> bool) -> Next {
        if expired_token(error) && !attempts.refreshed && refresh() {
            attempts.refreshed = true;
            return Next::Refresh;
        }
        if retryable(error) && attempts.made < self.max_attempts {
            attempts.retried = true;
            return Next::Wait(self.delay(attempts.made, retry_after));
        }
        Next::Fail
    }
}

/// Makes attempts until one succeeds or the policy gives up: the loop behind every single
/// request. `attempt` sends once (the result, and the server's `Retry-After`); `refresh`
/// forgets expired credentials; `sleep` waits out a backoff. The failure keeps its attempts.
pub async fn run(
    policy: &Policy,
    mut attempt: impl AsyncFnMut() -> (Result<(), Error>, Option<Duration>),
    refresh: &dyn Fn() -> bool,
    mut sleep: impl AsyncFnMut(Duration),
) -> Result<(), (Error, Attempts)> {
    let mut attempts = Attempts::default();
    loop {
        attempts.made += 1;
        let (result, retry_after) = attempt().await;
        let Err(error) = result else { return Ok(()) };
        match policy.next(&mut attempts, &error, retry_after, refresh) {
            Next::Refresh => {}
            Next::Wait(delay) => sleep(delay).await,
            Next::Fail => return Err((error, attempts)),
        }
    }
}

/// The server refused temporary credentials as expired.
pub fn expired_token(e: &Error) -> bool {
    matches!(e, Error::AccessDenied(s) | Error::Service(s) if s.code == "ExpiredToken")
}

/// Whether the same request, sent again, may succeed: the connection failed or timed out,
/// or the service said it is overloaded or failed inside (500, 502, 503, 504, 429,
/// `SlowDown`, `RequestTimeout`, `InternalError`). Never other client errors.
pub fn retryable(e: &Error) -> bool {
    match e {
        Error::Transport(_) => true,
        Error::Service(s) | Error::AccessDenied(s) => {
            matches!(s.status, 429 | 500 | 502 | 503 | 504)
                || matches!(
                    s.code.as_str(),
                    "SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable" | "Throttling" | "ConditionalRequestConflict"
                )
        }
        _ => false,
    }
}

/// `e`, saying how many attempts were made when there was more than one.
pub fn after_attempts(e: Error, attempts: u32) -> Error {
    if attempts <= 1 {
        return e;
    }
    let note = format!(" (after {attempts} attempts)");
    match e {
        Error::Transport(m) => Error::Transport(m + &note),
        Error::Service(mut s) => {
            s.message.push_str(&note);
            Error::Service(s)
        }
        Error::AccessDenied(mut s) => {
            s.message.push_str(&note);
            Error::AccessDenied(s)
        }
        other => other,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from S3 and ignored).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> Error {
        Error::Service(crate::error::ServiceError { status, code: code.into(), message: "m".into(), request_id: None })
    }

    #[test]
    fn retries_server_trouble_and_never_client_errors() {
        for e in [
            service(500, "InternalError"),
            service(503, "SlowDown"),
            service(400, "RequestTimeout"),
            service(429, ""),
            service(502, ""),
            Error::Transport("reset".into()),
        ] {
            assert!(retryable(&e), "{e:?}");
        }
        for e in [
            service(400, "InvalidArgument"),
            service(403, "AccessDenied"),
            service(409, "BucketNotEmpty"),
            Error::NotFound("k".into()),
            Error::InvalidArgument("x".into()),
        ] {
            assert!(!retryable(&e), "{e:?}");
        }
    }

    #[test]
    fn delays_grow_stay_capped_and_honour_retry_after() {
        let p = Policy::new(5, Duration::from_millis(100), Duration::from_secs(2), 42);
        for failures in 1..=10 {
            let ceiling = Duration::from_millis(100 * (1 << (failures - 1))).min(Duration::from_secs(2));
            for _ in 0..50 {
                assert!(p.delay(failures, None) < ceiling.max(Duration::from_nanos(1)));
            }
        }
        assert_eq!(p.delay(1, Some(Duration::from_secs(1))), Duration::from_secs(1));
        assert_eq!(p.delay(1, Some(Duration::from_secs(60))), Duration::from_secs(2), "capped at max_delay");
        // Full jitter: not the same every time.
        let spread: std::collections::HashSet<_> = (0..20).map(|_| p.delay(4, None)).collect();
        assert!(spread.len() > 10);
    }

    #[test]
    fn errors_say_how_many_attempts() {
        match after_attempts(service(503, "SlowDown"), 3) {
            Error::Service(s) => assert!(s.message.ends_with("(after 3 attempts)")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(after_attempts(Error::Transport("t".into()), 1), Error::Transport(m) if m == "t"));
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    /// The decisions every request's loop follows, over a whole history: retryable errors
    /// wait and go again until `max-attempts`, `ExpiredToken` refreshes once (only when new
    /// credentials can be had), anything else fails at once.
    #[test]
    fn the_policy_decides_each_next_step() {
        let p = Policy::new(3, Duration::from_millis(100), Duration::from_secs(2), 7);
        let mut a = Attempts { made: 1, ..Attempts::default() };
        assert!(matches!(p.next(&mut a, &service(503, "SlowDown"), Some(Duration::from_secs(1)), || true), Next::Wait(d) if d == Duration::from_secs(1)));
        assert!(a.retried && !a.refreshed);
        a.made = 2;
        let expired = Error::AccessDenied(crate::error::ServiceError { status: 400, code: "ExpiredToken".into(), ..Default::default() });
        assert_eq!(p.next(&mut a, &expired, None, || true), Next::Refresh);
        assert!(a.refreshed);
        a.made = 3;
        // Refreshed once already: an expired token again is an answer, not retryable.
        assert_eq!(p.next(&mut a, &expired, None, || panic!("asked to refresh twice")), Next::Fail);
        assert_eq!(p.next(&mut a, &service(500, "InternalError"), None, || true), Next::Fail, "max-attempts reached");

        let mut fixed = Attempts { made: 1, ..Attempts::default() };
        assert_eq!(p.next(&mut fixed, &expired, None, || false), Next::Fail, "fixed credentials can't be refreshed");
        assert!(!fixed.retried && !fixed.refreshed);
        let mut a = Attempts { made: 1, ..Attempts::default() };
        assert_eq!(p.next(&mut a, &service(404, "NoSuchKey"), None, || true), Next::Fail);
        assert!(!a.retried);
    }

    /// A future that never waits (the scripted transport answers at once), run to its end.
    fn at_once<F: std::future::Future>(future: F) -> F::Output {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::pin::pin!(future).poll(&mut cx) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("a scripted attempt waited"),
        }
    }

    /// How a scripted loop went: its result, the backoffs slept, the refreshes asked for,
    /// the requests sent.
    type Run = (Result<(), (Error, Attempts)>, Vec<Duration>, u32, usize);

    /// The loop over a scripted transport: each attempt's outcome in turn, what it slept,
    /// whether it refreshed, how it ended.
    fn scripted(outcomes: Vec<(Result<(), Error>, Option<Duration>)>, can_refresh: bool) -> Run {
        let p = Policy::new(3, Duration::from_millis(100), Duration::from_secs(2), 7);
        let mut outcomes = outcomes.into_iter();
        let mut sent = 0;
        let mut slept = Vec::new();
        let refreshed = std::cell::Cell::new(0);
        let result = at_once(run(
            &p,
            async || {
                sent += 1;
                outcomes.next().expect("the loop sent more requests than scripted")
            },
            &|| {
                refreshed.set(refreshed.get() + 1);
                can_refresh
            },
            async |d| slept.push(d),
        ));
        (result, slept, refreshed.get(), sent)
    }

    #[test]
    fn the_request_loop_follows_the_policy_over_a_scripted_transport() {
        let expired = || Error::AccessDenied(crate::error::ServiceError { status: 400, code: "ExpiredToken".into(), ..Default::default() });
        // A throttled answer waits at least its Retry-After; expired credentials are
        // refreshed and sent again at once (that attempt counts); then success.
        let (result, slept, refreshed, sent) =
            scripted(vec![(Err(service(503, "SlowDown")), Some(Duration::from_secs(1))), (Err(expired()), None), (Ok(()), None)], true);
        assert!(result.is_ok());
        assert_eq!((slept, refreshed, sent), (vec![Duration::from_secs(1)], 1, 3));

        // Server errors until max-attempts: the last error, with its attempts as data.
        let (result, slept, _, sent) = scripted(vec![(Err(service(500, "")), None), (Err(service(502, "")), None), (Err(service(503, "")), None)], true);
        let (error, attempts) = result.unwrap_err();
        assert!(matches!(&error, Error::Service(s) if s.status == 503));
        assert_eq!((attempts.made, attempts.retried, slept.len(), sent), (3, true, 2, 3));
        assert!(matches!(after_attempts(error, attempts.made), Error::Service(s) if s.message.ends_with("(after 3 attempts)")));

        // An answer about the request itself is final at once; so is an expired token when
        // the credentials are fixed.
        let (result, slept, _, sent) = scripted(vec![(Err(service(404, "NoSuchKey")), None)], true);
        assert!(matches!(result, Err((_, Attempts { made: 1, retried: false, .. }))) && slept.is_empty() && sent == 1);
        let (result, _, refreshed, sent) = scripted(vec![(Err(expired()), None)], false);
        assert!(result.is_err() && refreshed == 1 && sent == 1);
    }
}
