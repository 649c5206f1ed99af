//! A plain HTTP/1.1 client (hyper), standing in for a browser or curl fetching a presigned
//! URL: it knows nothing of S3 or signing.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> anyhow::Result<Reply> {
    send(method, url, headers, Full::new(Bytes::from(body))).await
}

async fn send<B>(method: &str, url: &str, headers: &[(&str, &str)], body: B) -> anyhow::Result<Reply>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let client = Client::builder(TokioExecutor::new()).build_http::<B>();
    let mut req = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = client.request(req.body(body)?).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await?.to_bytes().to_vec();
    Ok(Reply { status, headers, body })
}

pub async fn get(url: &str) -> anyhow::Result<Reply> {
    request("GET", url, &[], Vec::new()).await
}

/// Like [`request`], with the body sent in `chunks` and no Content-Length (chunked
/// transfer encoding): a client streaming something of unknown length.
pub async fn request_chunked(method: &str, url: &str, headers: &[(&str, &str)], chunks: Vec<Vec<u8>>) -> anyhow::Result<Reply> {
    send(method, url, headers, http_body_util::StreamBody::new(futures_util_stream::Iter(chunks.into_iter()))).await
}

/// A stream of body frames from a list of chunks (without pulling in a stream crate).
mod futures_util_stream {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Iter(pub std::vec::IntoIter<Vec<u8>>);

    impl futures_core::Stream for Iter {
        type Item = Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>;

        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.next().map(|chunk| Ok(http_body::Frame::data(bytes::Bytes::from(chunk)))))
        }
    }
}
