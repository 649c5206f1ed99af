//! Parallel downloads (`get-options.parallel`): a large object fetched as part-size ranges,
//! several at once, handed over in order and checked as one object; a failed range fetched
//! again alone from its first missing byte; an object replaced midway an error, never a
//! mix of two objects. Against the real server, faults injected by the host.

use crate::common;

use common::{Target, bytes, open, sha256, storage_error};
use host_test::sender::{Fault, Mischief, Sent};
use host_test::{Config, Error, GetOptions};

const MIB: usize = 1 << 20;

fn parallel() -> GetOptions {
    GetOptions { parallel: true, ..host_test::get_options(None) }
}

fn config(t: &Target, in_flight: u32) -> Config {
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    config.max_pool_connections = Some(in_flight);
    config
}

/// The object's ranged GETs: their Range and If-Match headers.
fn ranged_gets(sent: &[Sent]) -> Vec<(String, Option<String>)> {
    let header = |s: &Sent, name: &str| s.headers.get(name).map(|v| v.to_str().unwrap().to_string());
    sent.iter().filter(|s| s.method == "GET" && s.headers.contains_key("range")).map(|s| (header(s, "range").unwrap(), header(s, "if-match"))).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_object_comes_in_ranges_in_order_and_checked() {
    if common::skip_on_memory("ranged GETs are S3 requests") {
        return;
    }
    let t = Target::new("parallel").await;
    let data = bytes(23 * MIB + 321, 31);
    let mut clean = open(config(&t, 4)).await.unwrap();
    let stored = clean.put_stream("big.bin", std::io::Cursor::new(data.clone()), &host_test::put_options()).await.unwrap();

    let (mut s, sent) = common::recorded(config(&t, 3), None).await;
    let mut got = Vec::new();
    let info = s
        .get_checked_with("big.bin", &parallel(), |c| {
            let _: () = got.extend_from_slice(c);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(sha256(&got), sha256(&data));
    // One whole-object GET (its first 5 MiB used), then the rest in 5 MiB ranges, each
    // pinned to the object's ETag.
    let sent = sent.lock().unwrap().clone();
    let mut ranges = ranged_gets(&sent);
    // Recorded as their answers arrive: in any order.
    ranges.sort_by_key(|(r, _)| r.trim_start_matches("bytes=").split('-').next().unwrap().parse::<u64>().unwrap());
    let expected: Vec<String> = (1..5).map(|i| format!("bytes={}-{}", i * 5 * MIB, ((i + 1) * 5 * MIB).min(data.len()) - 1)).collect();
    assert_eq!(ranges.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(), expected);
    assert!(ranges.iter().all(|(_, m)| *m == stored.etag), "{ranges:?} vs {:?}", stored.etag);
    // At most max-pool-connections ranges held: 3 × 5 MiB, plus the component's own.
    let peak = s.peak_memory();
    assert!(peak < 3 * 5 * MIB + 12 * MIB, "guest memory peaked at {} MiB", peak / MIB);

    // An object no larger than a part is one GET; `parallel` changes nothing.
    clean.put("small.bin", &data[..MIB], &host_test::put_options()).await.unwrap();
    let (mut s, sent) = common::recorded(config(&t, 3), None).await;
    let mut small = Vec::new();
    s.get_checked_with("small.bin", &parallel(), |c| {
        let _: () = small.extend_from_slice(c);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(small, data[..MIB]);
    assert_eq!(sent.lock().unwrap().iter().filter(|s| s.method == "GET").count(), 1);
    // Handed over through `read` only: the host's stream would skip the checks.
    let e = storage_error(s.get_with("big.bin", &parallel(), |_| Ok(())).await);
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("read")), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_or_cut_off_range_is_fetched_again_alone() {
    if common::skip_on_memory("faults are injected into wasi:http requests") {
        return;
    }
    let t = Target::new("parallel-faults").await;
    let data = bytes(21 * MIB, 32);
    let mut clean = open(config(&t, 4)).await.unwrap();
    clean.put_stream("big.bin", std::io::Cursor::new(data.clone()), &host_test::put_options()).await.unwrap();
    for (kind, seed) in [(Mischief::ServerErrors, 7), (Mischief::BrokenBody, 3)] {
        let mut c = config(&t, 3);
        c.max_attempts = Some(6);
        c.retry_base_delay_ms = Some(1);
        let (mut s, sent) = common::recorded(c, Some(Fault::Random { seed, percent: 25, kind })).await;
        let mut got = Vec::new();
        let result = s
            .get_checked_with("big.bin", &parallel(), |c| {
                let _: () = got.extend_from_slice(c);
                Ok(())
            })
            .await;
        let sent = sent.lock().unwrap().clone();
        let gets = sent.iter().filter(|s| s.method == "GET").count();
        result.unwrap_or_else(|e| panic!("{kind:?}: {e:?} after {gets} GETs"));
        assert_eq!(sha256(&got), sha256(&data), "{kind:?}");
        assert!(gets > 5, "{kind:?}: some range was fetched again ({gets} GETs for 5 ranges)");
        // A range broken off midway is asked for from its first missing byte on.
        if kind == Mischief::BrokenBody {
            let resumed = ranged_gets(&sent).iter().any(|(r, _)| {
                let start: usize = r.trim_start_matches("bytes=").split('-').next().unwrap().parse().unwrap();
                !start.is_multiple_of(5 * MIB)
            });
            assert!(resumed, "no range resumed midway: {:?}", ranged_gets(&sent));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_replaced_midway_fails_the_download() {
    if common::skip_on_memory("ranged GETs are S3 requests") {
        return;
    }
    let t = Target::new("parallel-replaced").await;
    let data = bytes(31 * MIB, 33);
    let mut clean = open(config(&t, 4)).await.unwrap();
    clean.put_stream("big.bin", std::io::Cursor::new(data.clone()), &host_test::put_options()).await.unwrap();
    // Two ranges held at once: the later ones are asked for after the object is replaced,
    // which the first chunk the caller takes sets off (on another thread: the sink can't wait).
    let (mut s, _) = common::recorded(config(&t, 2), None).await;
    let mut got = Vec::new();
    let mut replaced = false;
    let other = bytes(31 * MIB, 34);
    let result = s
        .get_checked_with("big.bin", &parallel(), |c| {
            if !replaced {
                replaced = true;
                std::thread::scope(|scope| {
                    scope
                        .spawn(|| {
                            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                            let reply = rt.block_on(common::foreign_request(&t, "PUT", "big.bin", &[], other.clone()));
                            assert_eq!(reply.status, 200);
                        })
                        .join()
                        .unwrap()
                });
            }
            let _: () = got.extend_from_slice(c);
            Ok(())
        })
        .await;
    match storage_error(result) {
        Error::PreconditionFailed(m) => assert!(m.contains("changed while it was being downloaded"), "{m}"),
        other => panic!("{other:?}"),
    }
    // What was handed over before the error is the original object's, never the new one's.
    assert!(got.len() < data.len() && got == data[..got.len()], "{} bytes handed over", got.len());
}
