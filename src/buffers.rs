//! Part-sized buffers, kept for the next part once sent. A long-lived instance (the 0.3
//! build serves every request from one) uploads part after part, and between them makes
//! small allocations of every kind. Freed part buffers would be split by those, so the next
//! part no longer fits the freed space and the memory grows by another part (measured: the
//! file server's 100 MiB test went past its 32 MiB cap on the second upload). Kept
//! buffers hold no memory the instance had not already grown to: linear memory never
//! shrinks.

use std::cell::RefCell;

/// Smaller buffers are left to the allocator.
const KEPT_FROM: usize = 1 << 20;
/// At most this many are kept (more than the default 10 parts in flight and a writer's own).
const MOST_KEPT: usize = 16;

thread_local! {
    static KEPT: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for exactly `cap` bytes: a kept one if one is that size, else
/// a new one (`None`: out of memory). A miss lets go of buffers of other sizes first, so
/// that their memory serves this one.
pub fn take(cap: usize) -> Option<Vec<u8>> {
    if cap >= KEPT_FROM {
        let kept = KEPT.with_borrow_mut(|kept| match kept.iter().position(|buf| buf.capacity() == cap) {
            Some(at) => Some(kept.swap_remove(at)),
            None => {
                kept.retain(|buf| buf.capacity() == cap);
                None
            }
        });
        if kept.is_some() {
            return kept;
        }
    }
    let mut buf = Vec::new();
    buf.try_reserve_exact(cap).ok()?;
    Some(buf)
}

/// Gives back a buffer that is done with, for [`take`] to hand out again.
pub fn give(mut buf: Vec<u8>) {
    if buf.capacity() < KEPT_FROM {
        return;
    }
    buf.clear();
    KEPT.with_borrow_mut(|kept| {
        if kept.len() < MOST_KEPT {
            kept.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_and_other_sizes_are_let_go() {
        let first = take(2 << 20).unwrap();
        let at = first.as_ptr();
        give(first);
        let again = take(2 << 20).unwrap();
        assert_eq!((again.as_ptr(), again.len(), again.capacity()), (at, 0, 2 << 20));
        give(again);
        // Another size: a new buffer, and the kept one is let go.
        let other = take(3 << 20).unwrap();
        assert_eq!(other.capacity(), 3 << 20);
        assert_eq!(KEPT.with_borrow(Vec::len), 0);
        // Small buffers are never kept; the number kept is bounded.
        give(vec![0; 10]);
        for _ in 0..MOST_KEPT + 3 {
            give(Vec::with_capacity(3 << 20));
        }
        assert_eq!(KEPT.with_borrow(Vec::len), MOST_KEPT);
    }
}
