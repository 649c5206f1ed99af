//! The WASI 0.3 backend: wasi:http@0.3's client, `stream<u8>` bodies, clocks that are
//! futures. The core's futures run on wit-bindgen's executor, which each async export
//! drives; nothing here blocks.

pub mod http;
pub mod io;
mod reader;
pub mod time;

/// Runs `future` to its end in the background, after the export that started it returned
/// (a writer dropped mid-upload still aborts its upload).
pub fn detach(future: impl std::future::Future<Output = ()> + 'static) {
    drop(wasip3::spawn_local(future));
}

/// Both futures at once (a request's body is written while its response is awaited); their
/// outputs.
pub async fn join<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            out_b = Some(v);
        }
        match (out_a.take(), out_b.take()) {
            (Some(a), Some(b)) => std::task::Poll::Ready((a, b)),
            (a, b) => {
                (out_a, out_b) = (a, b);
                std::task::Poll::Pending
            }
        }
    })
    .await
}
