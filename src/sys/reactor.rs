//! A single-task executor over wasi:io/poll: the step from the blocking poll loops toward one
//! async core that a WASI 0.3 backend can drive natively (issue 19). A future that cannot
//! move registers the pollables it waits on ([`wait_on`]); [`block_on`] polls its future,
//! and when it is pending blocks in `wasi:io/poll.poll` on everything registered, then polls
//! again. One task, so no wakers are needed: whatever became ready, the top future is polled
//! again and each part of it checks its own state. Re-entrant: a nested `block_on` keeps the
//! outer registrations aside.

use std::cell::RefCell;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use wasip2::io::poll::Pollable;

thread_local! {
    static WAITING: RefCell<Vec<Pollable>> = const { RefCell::new(Vec::new()) };
}

/// Has the executor wake this task once `pollable` is ready (or anything else registered is).
pub fn wait_on(pollable: Pollable) {
    WAITING.with(|w| w.borrow_mut().push(pollable));
}

/// Runs `future` to completion, blocking in wasi:io/poll while it waits.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    let outer = WAITING.with(|w| std::mem::take(&mut *w.borrow_mut()));
    let output = loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            break output;
        }
        let pollables = WAITING.with(|w| std::mem::take(&mut *w.borrow_mut()));
        // A future pending on nothing is polled again at once (it yielded).
        if !pollables.is_empty() {
            wasip2::io::poll::poll(&pollables.iter().collect::<Vec<_>>());
        }
    };
    WAITING.with(|w| *w.borrow_mut() = outer);
    output
}
