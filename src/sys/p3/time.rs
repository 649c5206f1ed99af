//! Waiting (wasi:clocks@0.3) and the retry jitter's seed (wasi:random@0.3).

use std::time::Duration;

pub use wasip2::clocks::wall_clock::Datetime;

/// Waits `delay` (a backoff) without holding up the other work of the instance.
pub async fn sleep(delay: Duration) {
    if !delay.is_zero() {
        wasip3::clocks::monotonic_clock::wait_for(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX)).await
    }
}

/// A seed for the retry jitter and probe names. It needs no secrecy.
pub fn seed() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return wasip3::random::insecure_seed::get_insecure_seed().0;
    #[cfg(not(target_arch = "wasm32"))]
    return 0x9e37_79b9_7f4a_7c15;
}
