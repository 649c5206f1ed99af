//! The fault suite: a few hundred mixed operations (small and multipart puts, checked
//! gets, lists, copies, info) under each kind of fault the host's send hook can inject at
//! random (`Fault::Random`, seeded: a failure replays with the same seed), in front of the
//! real server. The invariant, checked through a fault-free store:
//! - every operation either succeeded with exactly the right bytes, or returned a typed
//!   error (a trap or host failure fails the test). One exception, counted in the table:
//!   under `FlippedBit`, a multipart object on a server that keeps no whole-object checksum
//!   for it (s3s-fs; Garage and moto keep the `FULL_OBJECT` CRC64NVME) can't be checked (its
//!   ETag is not an MD5 of its bytes), so nothing can tell a flipped bit in it;
//! - an upload that failed left no partial object: the key is absent, or holds exactly
//!   what was sent (the server stored it before the answer was lost);
//! - no multipart upload is left pending, except one per CreateMultipartUpload whose answer
//!   the host damaged after the server had created the upload, or that reached the server
//!   but was not answered before the first-byte timeout (a loaded server): the component
//!   never learns its id (a lifecycle rule, or `pending-uploads` + `abort-upload`, clears
//!   those).
//!
//! It prints a table per fault kind: operations, requests sent, failures, bytes verified,
//! orphans, unverifiable downloads. `FAULT_SEED`, `FAULT_KIND` (one kind) and
//! `FAULT_FIRST_BYTE_MS` (the first-byte timeout, 300 ms; a few ms makes a loaded server's
//! late answers the common case) replay or stress a run.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Target, bytes, open, sha256};
use host_test::sender::{Fault, Mischief};
use host_test::{Error, Failure, HostOptions, PutOptions, Runtime, Storage};

const OPS: usize = 80;
const MIB: usize = 1 << 20;

fn plain() -> PutOptions {
    PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() }
}

#[derive(Default)]
struct Tally {
    ops: usize,
    failed: usize,
    requests: usize,
    verified: u64,
    orphans: usize,
    /// Damaged downloads of objects that carry no checksum (see the get below).
    unverifiable: usize,
    seconds: f64,
}

/// The outcome of one operation: fine, or a typed error. Anything else fails the test.
fn typed<T>(kind: Mischief, what: &str, r: Result<T, Failure>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(Failure::Storage(e)) => {
            // Hostile input must become an error value, never a wrong success.
            assert!(!matches!(e, Error::InvalidKey(_) | Error::InvalidConfig(_)), "{kind:?} {what}: {e:?}");
            None
        }
        Err(Failure::Host(e)) => panic!("{kind:?} {what}: the host failed (trap?): {e:#}"),
    }
}

async fn run(kind: Mischief, percent: u8, seed: u64) -> Tally {
    let t = Target::new(&format!("faults-{kind:?}")).await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    config.max_pool_connections = Some(2);
    config.retry_base_delay_ms = Some(1);
    config.retry_max_delay_ms = Some(10);
    config.first_byte_timeout_ms = Some(std::env::var("FAULT_FIRST_BYTE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(300));
    let started = std::time::Instant::now();
    let requests = Arc::new(AtomicUsize::new(0));
    let lost_creates = Arc::new(AtomicUsize::new(0));
    // Per upload id (as sent, percent-encoded): whether an abort of it reached the server.
    let aborts = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<String, bool>::new()));
    let (counter, lost, aborted) = (requests.clone(), lost_creates.clone(), aborts.clone());
    let observer = move |sent: host_test::sender::Sent| {
        counter.fetch_add(1, Ordering::Relaxed);
        // A CreateMultipartUpload the server acted on whose answer the component never read:
        // damaged here, or not come back in time (a loaded server past the first-byte timeout).
        let create = sent.method == "POST" && sent.uri.query() == Some("uploads");
        if create && sent.damaged && sent.status == Some(200) {
            lost.fetch_add(1, Ordering::Relaxed);
        }
        if create && sent.status.is_none() && !sent.held_back {
            eprintln!("{kind:?}: a CreateMultipartUpload got no answer in {:.0?}: the server may have created an upload", sent.took);
            lost.fetch_add(1, Ordering::Relaxed);
        }
        if sent.method == "DELETE"
            && let Some(id) = sent.uri.query().and_then(|q| q.split('&').find_map(|p| p.strip_prefix("uploadId=")))
        {
            let reached = sent.status.is_some_and(|s| s < 500);
            *aborted.lock().unwrap().entry(id.to_string()).or_default() |= reached;
        }
    };
    let host = HostOptions { fault: Some(Fault::Random { seed, percent, kind }), observer: Some(Arc::new(observer)), ..Default::default() };
    let mut s = Storage::open(Runtime::shared().unwrap(), &host, config.clone()).await.unwrap();
    let mut clean = open(t.config("")).await.unwrap();
    let mut tally = Tally::default();
    let mut stored: Vec<(String, Vec<u8>)> = Vec::new();

    for i in 0..OPS {
        tally.ops += 1;
        let op_started = std::time::Instant::now();
        let ok = match i % 8 {
            0..=2 | 6 => {
                let key = format!("obj-{i}");
                let data = if i % 8 == 6 { bytes(5 * MIB + 1000 * i, i as u64) } else { bytes(1 + (i * 7919) % 70_000, i as u64) };
                let put = if data.len() > 5 * MIB {
                    s.put_stream(&key, std::io::Cursor::new(data.clone()), &plain()).await
                } else {
                    s.put(&key, &data, &plain()).await
                };
                let ok = typed(kind, "put", put).is_some();
                // Succeeded or not, the key holds all of the data or nothing.
                match clean.get_bytes(&key).await {
                    Ok(got) => {
                        assert_eq!(sha256(&got), sha256(&data), "{kind:?}: {key} holds a partial or wrong object");
                        tally.verified += got.len() as u64;
                        stored.push((key, data));
                    }
                    Err(Failure::Storage(Error::NotFound(_))) => assert!(!ok, "{kind:?}: {key} was reported stored but is absent"),
                    Err(e) => panic!("fault-free read: {e:?}"),
                }
                ok
            }
            3 | 7 => match stored.get(i % stored.len().max(1)) {
                Some((key, data)) => {
                    // Through the component's checked read: a stream handed over unread relies
                    // on the host's HTTP framing, which WrongLength and FlippedBit get past.
                    let mut got = Vec::new();
                    let r = s
                        .get_checked(key, |c| {
                            let _: () = got.extend_from_slice(c);
                            Ok(())
                        })
                        .await;
                    match typed(kind, "get", r) {
                        Some(_) if got == *data => {
                            tally.verified += got.len() as u64;
                            true
                        }
                        // A multipart upload's ETag is not an MD5 of its bytes; a server
                        // that keeps no whole-object CRC for it lets a flipped bit go unseen
                        // (TLS's MAC catches it on real links). Counted, never hidden.
                        Some(info)
                            if kind == Mischief::FlippedBit
                                && info.etag.as_deref().is_some_and(|e| e.contains('-'))
                                && common::servers::lacks(common::servers::Capability::KeepsFullObjectChecksums).is_some() =>
                        {
                            tally.unverifiable += 1;
                            true
                        }
                        Some(info) => panic!("{kind:?}: get {key} returned wrong bytes (etag {:?})", info.etag),
                        None => false,
                    }
                }
                None => true,
            },
            4 => match typed(kind, "list", s.list("", None).await) {
                Some(files) => {
                    // A listing that succeeded is true: every file it names exists.
                    for f in &files {
                        assert!(f.key.starts_with("obj-") || f.key.starts_with("copy-"), "{kind:?}: listed {}", f.key);
                    }
                    true
                }
                None => false,
            },
            _ => match stored.first().cloned() {
                Some((key, data)) => {
                    let dest = format!("copy-{i}");
                    let ok = typed(kind, "copy", s.copy(&key, &dest).await).is_some();
                    if ok {
                        assert_eq!(clean.get_bytes(&dest).await.unwrap(), data, "{kind:?}: copy {dest} differs");
                        tally.verified += data.len() as u64;
                    }
                    !ok || typed(kind, "info", s.info(&dest).await).is_some_and(|f| f.size == data.len() as u64)
                }
                None => true,
            },
        };
        tally.failed += usize::from(!ok);
        if op_started.elapsed().as_secs_f64() > 2.0 {
            eprintln!("{kind:?}: op {i} (kind {}) took {:.1} s", i % 8, op_started.elapsed().as_secs_f64());
        }
    }
    let mut pending = common::pending_uploads(&t, &mut clean).await;
    // An upload whose every abort attempt failed on the way (refused, 5xx) is left, and its
    // put reported failed: known, not lost. Listed, then aborted here.
    let failed_aborts: Vec<String> = aborts.lock().unwrap().iter().filter(|(_, reached)| !**reached).map(|(id, _)| id.clone()).collect();
    let abort_failed = |id: &str| failed_aborts.iter().any(|sent| *sent == id || sent.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=") == id);
    let (left_by_failed_aborts, rest): (Vec<String>, Vec<String>) = pending.drain(..).partition(|id| abort_failed(id));
    pending = rest;
    for id in &left_by_failed_aborts {
        eprintln!("{kind:?}: upload {id} left: every attempt to abort it failed on the way (the put reported failure)");
    }
    let lost = lost_creates.load(Ordering::Relaxed);
    assert!(pending.len() <= lost, "{kind:?}: {} uploads pending, {lost} explained by lost CreateMultipartUpload answers", pending.len());
    tally.orphans = pending.len();
    for id in &pending {
        eprintln!("{kind:?}: orphaned upload {id} (its CreateMultipartUpload answer was lost)");
    }
    tally.requests = requests.load(Ordering::Relaxed);
    tally.seconds = started.elapsed().as_secs_f64();
    tally
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_kind_keeps_the_invariants() {
    if common::skip_on_memory("faults are injected into wasi:http requests; the memory backend sends none") {
        return;
    }
    let seed = std::env::var("FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261125);
    let mut rows = Vec::new();
    let only = std::env::var("FAULT_KIND").ok();
    for (kind, percent) in [
        (Mischief::ServerErrors, 30),
        (Mischief::Refused, 30),
        (Mischief::BrokenBody, 15),
        (Mischief::HostileXml, 30),
        (Mischief::Slow, 10),
        (Mischief::WrongLength, 30),
        (Mischief::FlippedBit, 30),
    ] {
        if only.as_deref().is_some_and(|k| k != format!("{kind:?}")) {
            continue;
        }
        let tally = run(kind, percent, seed).await;
        eprintln!("{kind:?}: {:.1} s", tally.seconds);
        assert!(tally.failed < tally.ops, "{kind:?}: nothing succeeded");
        rows.push(format!(
            "| {kind:?} ({percent}% of requests) | {} | {} | {} | {} | {:.1} MiB | {} | {} |",
            tally.ops,
            tally.requests,
            tally.requests.saturating_sub(tally.ops),
            tally.failed,
            tally.verified as f64 / MIB as f64,
            tally.orphans,
            tally.unverifiable
        ));
    }
    println!(
        "fault suite, seed {seed}:\n| fault | operations | requests sent | of which retries and multipart extras | operations failed | bytes verified | uploads orphaned by a lost CreateMultipartUpload answer | damaged downloads of multipart objects without a checksum |\n|---|---|---|---|---|---|---|---|\n{}",
        rows.join("\n")
    );
}
