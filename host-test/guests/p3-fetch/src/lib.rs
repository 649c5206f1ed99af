//! A WASI 0.3 test guest (see Cargo.toml): `fetch` and `fetch-all` over wasi:http@0.3's
//! client, so the suite checks that the host runs 0.3 components, that their requests go
//! through its sender (pool, faults, observer), and that one instance has many requests in
//! flight at once.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use wasip3::http::client;
use wasip3::http::types::{Fields, Method, Request, Response, Scheme};

wit_bindgen::generate!({ path: "wit", world: "fetcher" });

struct Fetcher;

impl Guest for Fetcher {
    async fn fetch(url: String) -> Result<Vec<u8>, String> {
        get(&url).await
    }

    async fn fetch_all(urls: Vec<String>) -> Vec<Result<Vec<u8>, String>> {
        join_all(urls.iter().map(|url| get(url)).collect()).await
    }
}

export!(Fetcher);

/// A GET of `url` (`http[s]://authority/path?query`); the body if the answer is 200.
async fn get(url: &str) -> Result<Vec<u8>, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url}: no scheme"))?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let scheme = match scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => return Err(format!("{url}: scheme {other}")),
    };
    // No trailers: the writer dropped writes the default, `Ok(None)`.
    let (trailers_tx, trailers_rx) = wasip3::wit_future::new(|| Ok(None));
    drop(trailers_tx);
    let (request, _sent) = Request::new(Fields::new(), None, trailers_rx, None);
    let refused = |what: &str| format!("{url}: the request refused its {what}");
    request.set_method(&Method::Get).map_err(|()| refused("method"))?;
    request.set_scheme(Some(&scheme)).map_err(|()| refused("scheme"))?;
    request.set_authority(Some(authority)).map_err(|()| refused("authority"))?;
    request.set_path_with_query(Some(path)).map_err(|()| refused("path"))?;
    let response = client::send(request).await.map_err(|e| format!("{url}: {e:?}"))?;
    let status = response.get_status_code();
    let (done_tx, done_rx) = wasip3::wit_future::new(|| Ok(()));
    let (body, trailers) = Response::consume_body(response, done_rx);
    let bytes = body.collect().await;
    trailers.await.map_err(|e| format!("{url}: the body failed: {e:?}"))?;
    drop(done_tx);
    match status {
        200 => Ok(bytes),
        status => Err(format!("{url}: HTTP {status}: {}", String::from_utf8_lossy(&bytes))),
    }
}

/// Every future polled together until all are done; their outputs in order.
async fn join_all<T>(futures: Vec<impl Future<Output = T>>) -> Vec<T> {
    let mut futures: Vec<Pin<Box<_>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none()
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *output = Some(value);
            }
        }
        match outputs.iter().all(Option::is_some) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("all done")).collect()
}
