//! Waiting (wasi:clocks) and the retry jitter's seed (wasi:random).

use std::time::Duration;

pub use wasip2::clocks::wall_clock::Datetime;
use wasip2::io::poll::Pollable;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Waits `delay` as a future: the executor blocks on the clock only when nothing else moves.
pub async fn sleep_async(delay: Duration) {
    if delay.is_zero() {
        return;
    }
    let deadline = wasip2::clocks::monotonic_clock::now().saturating_add(nanos(delay));
    std::future::poll_fn(|_| match wasip2::clocks::monotonic_clock::now() >= deadline {
        true => std::task::Poll::Ready(()),
        false => {
            super::reactor::wait_on(wasip2::clocks::monotonic_clock::subscribe_instant(deadline));
            std::task::Poll::Pending
        }
    })
    .await
}

/// A backoff that ends `delay` from now, to wait on beside other things.
pub struct Timer(Pollable);

impl Timer {
    pub fn after(delay: Duration) -> Timer {
        Timer(wasip2::clocks::monotonic_clock::subscribe_duration(nanos(delay)))
    }

    pub fn elapsed(&self) -> bool {
        self.0.ready()
    }

    pub fn pollable(&self) -> &Pollable {
        &self.0
    }
}

/// A seed for the retry jitter and probe names. It needs no secrecy, and std already
/// imports wasi:random's insecure seed.
pub fn seed() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return wasip2::random::insecure_seed::insecure_seed().0;
    #[cfg(not(target_arch = "wasm32"))]
    return 0x9e37_79b9_7f4a_7c15;
}
