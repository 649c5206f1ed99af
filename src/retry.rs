//! Retries: which failures are worth another attempt, how long to wait before it
//! (exponential backoff with full jitter, at least what `Retry-After` asks), and saying in
//! the final error how many attempts were made. Only requests whose bodies we still hold
//! are retried: every S3 request here is idempotent (PUT, GET, HEAD, DELETE, UploadPart,
//! CompleteMultipartUpload, CopyObject); a spliced upload's stream can't be replayed.

use std::cell::Cell;
use std::time::Duration;

use crate::bindings::exports::wasm_storages::storage::types::Error;

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

/// Whether the same request, sent again, may succeed: the connection failed or timed out,
/// or the service said it is overloaded or failed inside (500, 502, 503, 504, 429,
/// `SlowDown`, `RequestTimeout`, `InternalError`). Never other client errors.
pub fn retryable(e: &Error) -> bool {
    match e {
        Error::Transport(_) => true,
        Error::Service(s) | Error::AccessDenied(s) => {
            matches!(s.status, 429 | 500 | 502 | 503 | 504) || matches!(s.code.as_str(), "SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable" | "Throttling" | "ConditionalRequestConflict")
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

/// A seed for the jitter. It needs no secrecy, and std already imports wasi:random's
/// insecure seed.
pub fn seed() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return wasip2::random::insecure_seed::insecure_seed().0;
    #[cfg(not(target_arch = "wasm32"))]
    return 0x9e37_79b9_7f4a_7c15;
}

/// Waits `delay` (a wasi:clocks pollable, so the host can run other work).
pub fn sleep(delay: Duration) {
    if !delay.is_zero() {
        wasip2::clocks::monotonic_clock::subscribe_duration(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX)).block();
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
        Error::Service(crate::bindings::exports::wasm_storages::storage::types::ServiceError { status, code: code.into(), message: "m".into(), request_id: None })
    }

    #[test]
    fn retries_server_trouble_and_never_client_errors() {
        for e in [service(500, "InternalError"), service(503, "SlowDown"), service(400, "RequestTimeout"), service(429, ""), service(502, ""), Error::Transport("reset".into())] {
            assert!(retryable(&e), "{e:?}");
        }
        for e in [service(400, "InvalidArgument"), service(403, "AccessDenied"), service(409, "BucketNotEmpty"), Error::NotFound("k".into()), Error::InvalidArgument("x".into())] {
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
}
