//! Waiting (wasi:clocks) and the retry jitter's seed (wasi:random).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use wasip2::clocks::wall_clock::Datetime;
use wasip2::io::poll::Pollable;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Waits `delay` (a backoff) without holding up the other work of the operation.
pub async fn sleep(delay: Duration) {
    if !delay.is_zero() {
        Timer::after(delay).await
    }
}

/// A backoff that ends `delay` from now: a future, to wait on beside other things.
pub struct Timer(Rc<Pollable>);

impl Timer {
    pub fn after(delay: Duration) -> Timer {
        Timer(Rc::new(wasip2::clocks::monotonic_clock::subscribe_duration(nanos(delay))))
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0.ready() {
            return Poll::Ready(());
        }
        super::reactor::wait_on(&self.0);
        Poll::Pending
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
