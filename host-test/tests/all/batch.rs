//! Deleting many keys at once: DeleteObjects, 1,000 keys per request, and every key that
//! stays reported with why.

use crate::common;

use std::sync::{Arc, Mutex};

use common::Target;
use host_test::sender::{Fault, Sent};
use host_test::{Error, PutOptions, Storage};

fn plain() -> PutOptions {
    PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() }
}

async fn recorded(t: &Target, fault: Option<Fault>) -> (Storage, Arc<Mutex<Vec<Sent>>>) {
    let mut config = t.config("");
    config.retry_base_delay_ms = Some(1);
    common::recorded(config, fault).await
}

fn delete_requests(log: &Arc<Mutex<Vec<Sent>>>) -> usize {
    log.lock().unwrap().iter().filter(|s| s.method == "POST" && s.uri.query() == Some("delete")).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_keys_go_a_thousand_per_request() {
    let t = Target::new("batch").await;
    let (mut s, log) = recorded(&t, None).await;
    let keys: Vec<String> = (0..1205).map(|i| format!("dir/{i:05} &<x>")).collect();
    for key in &keys {
        s.put(key, b"x", &plain()).await.unwrap();
    }
    let mut asked = keys.clone();
    asked.push("dir/never-existed".into());
    asked.push("../escape".into());
    let failed = s.delete_many(&asked).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].0 == "../escape" && matches!(failed[0].1, Error::InvalidKey(_)), "{failed:?}");
    if !common::memory_backend() {
        assert_eq!(delete_requests(&log), 2);
    }
    assert!(s.list("dir/", None).await.unwrap().is_empty());
    assert!(s.delete_many(&[]).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_request_reports_each_of_its_keys() {
    if common::skip_on_memory("faults are injected into wasi:http requests; the memory backend sends none") {
        return;
    }
    let t = Target::new("batch-fail").await;
    let (mut s, _) = recorded(&t, Some(Fault::Status { status: 403, code: "AccessDenied", times: 1, matching: "?delete" })).await;
    for key in ["a", "b"] {
        s.put(key, b"x", &plain()).await.unwrap();
    }
    let failed = s.delete_many(&["a".to_string(), "b".to_string()]).await.unwrap();
    assert_eq!(failed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(failed.iter().all(|(_, e)| matches!(e, Error::AccessDenied(s) if s.status == 403)), "{failed:?}");
    assert!(s.exists("a").await.unwrap() && s.exists("b").await.unwrap());
    // 503s are retried like any request.
    let (mut s, log2) = recorded(&t, Some(Fault::Status { status: 503, code: "SlowDown", times: 2, matching: "?delete" })).await;
    assert!(s.delete_many(&["a".to_string(), "b".to_string()]).await.unwrap().is_empty());
    assert_eq!(delete_requests(&log2), 3);
    assert!(!s.exists("a").await.unwrap());
}
