//! WASI 0.3 components on this host: a test guest (`guests/p3-fetch`, wasi:http@0.3's
//! client, async exports) fetches presigned URLs from the real server, through the host's
//! sender (observed, and refused by a fault), many at once in one instance.

use std::sync::{Arc, Mutex};

use crate::common::{self, Barrier, Target};
use host_test::HostOptions;
use host_test::sender::{Fault, Sent};

wasmtime::component::bindgen!({
    path: "guests/p3-fetch/wit",
    world: "fetcher",
});

/// The guest, instantiated with `options`.
async fn instantiate(options: &HostOptions) -> (wasmtime::Store<host_test::runtime::HostState>, Fetcher) {
    let engine = host_test::Runtime::shared().unwrap().engine().clone();
    let component = wasmtime::component::Component::new(&engine, std::fs::read(env!("P3_FETCH_COMPONENT_PATH")).unwrap()).unwrap();
    let linker = host_test::p3::linker(&engine).unwrap();
    let mut store = host_test::p3::store(&engine, options).unwrap();
    let fetcher = Fetcher::instantiate_async(&mut store, &component, &linker).await.unwrap();
    (store, fetcher)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_0_3_component_fetches_through_the_hosts_sender_many_at_once() {
    if common::skip_on_memory("the guest fetches presigned URLs from an S3 server") {
        return;
    }
    let t = Target::new("p3-fetch").await;
    let mut s = t.store("").await;
    let mut urls = Vec::new();
    let mut objects = Vec::new();
    for i in 0..16 {
        let data = common::bytes(if i == 0 { 3 << 20 } else { 1000 + i }, 90 + i as u64);
        let key = format!("p3/object-{i}.bin");
        s.put(&key, &data, &host_test::put_options()).await.unwrap();
        urls.push(s.url(&key, Some(300)).await.unwrap());
        objects.push(data);
    }

    let seen: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let observer = {
        let seen = seen.clone();
        Arc::new(move |sent: Sent| seen.lock().unwrap().push(sent))
    };
    let (mut store, fetcher) = instantiate(&HostOptions { observer: Some(observer), connection_pool: Some(4), ..HostOptions::default() }).await;
    let one = urls[0].clone();
    let all = urls.clone();
    let (first, every) = store
        .run_concurrent(async |access| {
            let first = fetcher.call_fetch(access, one).await.unwrap();
            let every = fetcher.call_fetch_all(access, all).await.unwrap();
            (first, every)
        })
        .await
        .unwrap();
    assert_eq!(common::sha256(&first.unwrap()), common::sha256(&objects[0]), "a 3 MiB body over wasi:http@0.3");
    assert_eq!(every.len(), 16);
    for (got, want) in every.into_iter().zip(&objects) {
        assert_eq!(common::sha256(&got.unwrap()), common::sha256(want));
    }
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 17, "every request went through the host's sender");
        assert!(seen.iter().all(|s| s.method == http::Method::GET && s.status == Some(200)));
    }

    // A refused connection reaches the guest as its error, not a trap.
    let (mut store, fetcher) = instantiate(&HostOptions { fault: Some(Fault::Refuse { times: 1 }), ..HostOptions::default() }).await;
    let url = urls[1].clone();
    let refused = store.run_concurrent(async |access| fetcher.call_fetch(access, url).await.unwrap()).await.unwrap();
    let why = refused.unwrap_err();
    assert!(why.contains("Connection") || why.contains("connection"), "{why}");
    // A signed URL with a wrong signature is the server's 403, read through the body.
    let (head, signature) = urls[1].split_once("X-Amz-Signature=").unwrap();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let tampered = format!("{head}X-Amz-Signature={flipped}{}", &signature[1..]);
    let (mut store, fetcher) = instantiate(&HostOptions::default()).await;
    let denied = store.run_concurrent(async |access| fetcher.call_fetch(access, tampered).await.unwrap()).await.unwrap();
    if common::servers::lacks(common::servers::Capability::ChecksSignatures).is_none() {
        let why = denied.unwrap_err();
        assert!(why.contains("HTTP 403"), "{why}");
    }
}

/// A server that answers no request until `n` are waiting (a [`Barrier`], or 5 s have
/// passed): its URL, and the barrier, which says how many were in flight at once.
async fn barrier_server(n: usize) -> (String, Barrier) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let barrier = Barrier::new(n);
    let held = barrier.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let barrier = held.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                barrier.arrive().await;
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
            });
        }
    });
    (url, barrier)
}

/// `fetch-all` has all its requests in flight at once from one call into one instance:
/// the server answers none until all 24 are waiting.
#[tokio::test(flavor = "multi_thread")]
async fn one_wasi_0_3_instance_has_many_requests_in_flight() {
    let (url, barrier) = barrier_server(24).await;
    let urls: Vec<String> = (0..24).map(|i| format!("{url}/{i}")).collect();
    let (mut store, fetcher) = instantiate(&HostOptions::default()).await;
    let answers = store.run_concurrent(async |access| fetcher.call_fetch_all(access, urls).await.unwrap()).await.unwrap();
    assert!(answers.iter().all(|a| a.as_deref() == Ok(b"ok".as_slice())), "{answers:?}");
    assert_eq!(barrier.most(), 24, "all 24 requests waited at the server together");
}
