//! A simulated wide-area path (`HostOptions::shaping`), for measuring what parallel
//! transfers and connection reuse buy when the server is far away: each request waits half
//! a round trip on the way out and half on the way back, each connection costs a round trip
//! to open (TCP's handshake), and each request's body and each response's body move at most
//! at the path's bandwidth — per connection, as a real link's congestion window caps a
//! single TCP stream. Loopback has none of these, which is why it can't show them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::{Error, WasiBody};

/// One path's round-trip time and per-connection bandwidth.
#[derive(Clone, Copy, Debug)]
pub struct Shaping {
    pub rtt: Duration,
    pub bits_per_second: u64,
}

impl Shaping {
    /// `body`, moving at most at the path's bandwidth.
    pub(super) fn throttle(self, body: WasiBody) -> WasiBody {
        http_body_util::BodyExt::boxed_unsync(Throttled { inner: body, bytes_per_second: (self.bits_per_second / 8).max(1), start: None, sent: 0, held: None })
    }

    /// Half the round trip: one way.
    pub(super) fn one_way(self) -> Duration {
        self.rtt / 2
    }
}

/// A body whose frames are each held until the path could have carried them: no more than
/// `bytes_per_second` pass, counted from the first.
struct Throttled {
    inner: WasiBody,
    bytes_per_second: u64,
    start: Option<Instant>,
    sent: u64,
    /// A frame on its way, and when it has arrived.
    held: Option<(Frame<Bytes>, Pin<Box<Sleep>>)>,
}

impl http_body::Body for Throttled {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        loop {
            if let Some((_, arrival)) = self.held.as_mut() {
                if arrival.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let (frame, _) = self.held.take().expect("held");
                return Poll::Ready(Some(Ok(frame)));
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                    let start = *self.start.get_or_insert_with(Instant::now);
                    self.sent += n;
                    let arrival = start + Duration::from_secs_f64(self.sent as f64 / self.bytes_per_second as f64);
                    self.held = Some((frame, Box::pin(tokio::time::sleep_until(arrival))));
                }
                other => return other,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The pool's connector, a round trip slower to connect (TCP's handshake on the path).
#[derive(Clone)]
pub(super) struct SlowConnect {
    pub inner: HttpConnector,
    pub rtt: Duration,
}

impl tower_service::Service<http::Uri> for SlowConnect {
    type Response = <HttpConnector as tower_service::Service<http::Uri>>::Response;
    type Error = <HttpConnector as tower_service::Service<http::Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let rtt = self.rtt;
        Box::pin(async move {
            let connection = connecting.await?;
            tokio::time::sleep(rtt).await;
            Ok(connection)
        })
    }
}
