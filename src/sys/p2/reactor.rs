//! The executor of the WASI 0.2 build: one task, over wasi:io/poll. The S3 logic above is
//! async (so a WASI 0.3 build runs it on native async); here each export runs its future
//! with [`block_on`], as wasip2's calls block anyway. A future that cannot move registers
//! the pollables it waits on ([`wait_on`]); `block_on` polls its future and, while it is
//! pending, blocks in `wasi:io/poll.poll` on everything registered, then polls again. One
//! task, so no wakers: whatever became ready, the whole future is polled again and each part
//! of it checks its own state. Registrations are weak (`rc::Weak`): a future polled twice
//! in one round registers once, and a pollable never outlives the stream or response it
//! belongs to (a child resource left alive traps its parent's drop).

use std::cell::RefCell;
use std::future::Future;
use std::rc::{Rc, Weak};
use std::task::{Context, Waker};

use wasip2::io::poll::Pollable;

thread_local! {
    static WAITING: RefCell<Vec<Weak<Pollable>>> = const { RefCell::new(Vec::new()) };
}

/// Has the executor poll again once `pollable` is ready (or anything else registered is).
pub fn wait_on(pollable: &Rc<Pollable>) {
    WAITING.with(|w| {
        let mut w = w.borrow_mut();
        let pollable = Rc::downgrade(pollable);
        if !w.iter().any(|p| p.ptr_eq(&pollable)) {
            w.push(pollable);
        }
    });
}

/// Runs `future` to completion, blocking in wasi:io/poll while it waits. Re-entrant: a
/// nested `block_on` (a writer dropped mid-upload aborts it) keeps the outer registrations.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut output = None;
    drive(std::pin::pin!(async { output = Some(future.await) }));
    match output {
        Some(output) => output,
        None => unreachable!("driven to its end"),
    }
}

/// [`block_on`]'s loop, once for every export's future (dynamic: each export would otherwise
/// carry a copy).
#[inline(never)]
fn drive(mut future: std::pin::Pin<&mut dyn Future<Output = ()>>) {
    let mut cx = Context::from_waker(Waker::noop());
    let outer = WAITING.with(|w| std::mem::take(&mut *w.borrow_mut()));
    while future.as_mut().poll(&mut cx).is_pending() {
        let pollables: Vec<Rc<Pollable>> = WAITING.with(|w| w.take().iter().filter_map(Weak::upgrade).collect());
        // A future pending on nothing is polled again at once (it yielded).
        if !pollables.is_empty() {
            wasip2::io::poll::poll(&pollables.iter().map(|p| &**p).collect::<Vec<_>>());
        }
    }
    WAITING.with(|w| *w.borrow_mut() = outer);
}
