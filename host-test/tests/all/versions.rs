//! Versions: the version each write made, reads and deletes of a given version, and the
//! listing of versions and delete markers. Against a server that keeps versions (moto);
//! the others say why they skip.

use crate::common::{self, Target, servers::Capability, storage_error};
use host_test::{Entry, Error, GetOptions, InfoOptions, ObjectVersion};

fn versions(entries: Vec<Entry>) -> Vec<ObjectVersion> {
    entries
        .into_iter()
        .map(|e| match e {
            Entry::Version(v) => v,
            other => panic!("not a version: {other:?}"),
        })
        .collect()
}

fn at(version: &str) -> GetOptions {
    GetOptions { version_id: Some(version.into()), ..host_test::get_options(None) }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_write_makes_a_version_that_can_be_read_listed_and_deleted() {
    if common::skip_on_memory("the memory backend keeps no versions")
        || common::servers::skip_without(Capability::Versioning, "object versions")
        || common::servers::skip_without(Capability::ListsVersions, "object versions")
    {
        return;
    }
    let t = Target::new("versions").await;
    let mut config = t.config("");
    config.bucket = common::unique_bucket(&t, "versions");
    let mut s = common::open(config.clone()).await.unwrap();
    if !common::bucket_created(&t, s.create_bucket().await) {
        return;
    }
    let body = r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#;
    let url = format!("{}/{}?versioning", t.endpoint.trim_end_matches('/'), config.bucket);
    let reply = common::signed_request(&t, "PUT", &url, &[], body.as_bytes().to_vec()).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));

    let first = s.put("doc.txt", b"first", &host_test::put_options()).await.unwrap().version_id.expect("a version id");
    let second = s.put("doc.txt", b"second draft", &host_test::put_options()).await.unwrap().version_id.expect("a version id");
    assert_ne!(first, second);
    let read = |v: &str| at(v);
    let mut got = Vec::new();
    let (info, _) = s
        .get_with("doc.txt", &read(&first), |c| {
            got.extend_from_slice(c);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!((got.as_slice(), info.version_id.as_deref()), (&b"first"[..], Some(first.as_str())));
    let head = s.info_with("doc.txt", &InfoOptions { conditions: host_test::no_conditions(), version_id: Some(second.clone()) }).await.unwrap();
    assert_eq!((head.size, head.version_id.as_deref()), (12, Some(second.as_str())));
    assert_eq!(s.get_bytes("doc.txt").await.unwrap(), b"second draft");

    // A delete adds a marker; the versions stay, newest first.
    s.delete("doc.txt").await.unwrap();
    assert!(!s.exists("doc.txt").await.unwrap());
    let listed = versions(s.list_versions("", &host_test::list_options(None)).await.unwrap());
    let shape: Vec<_> = listed.iter().map(|v| (v.key.as_str(), v.is_latest, v.is_delete_marker)).collect();
    assert_eq!(shape, [("doc.txt", true, true), ("doc.txt", false, false), ("doc.txt", false, false)]);
    assert_eq!((listed[1].version_id.as_str(), listed[2].version_id.as_str()), (second.as_str(), first.as_str()));
    assert_eq!(listed[1].size, 12);

    // Deleting the marker brings the last version back; deleting a version is for good.
    s.delete_version("doc.txt", &listed[0].version_id).await.unwrap();
    assert_eq!(s.get_bytes("doc.txt").await.unwrap(), b"second draft");
    s.delete_version("doc.txt", &first).await.unwrap();
    let e = storage_error(s.get_with("doc.txt", &read(&first), |_| Ok(())).await);
    assert!(matches!(&e, Error::NotFound(k) if k == "doc.txt"), "{e:?}");
    assert_eq!(versions(s.list_versions("", &host_test::list_options(None)).await.unwrap()).len(), 1);
    // A listing pages like any other: one version per page here.
    s.put("doc.txt", b"third", &host_test::put_options()).await.unwrap();
    let paged = s.list_versions("", &host_test::list_options(Some(1))).await.unwrap();
    assert_eq!(paged.len(), 1);

    for v in versions(s.list_versions("", &host_test::list_options(None)).await.unwrap()) {
        s.delete_version(&v.key, &v.version_id).await.unwrap();
    }
    s.delete_bucket().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_without_versions_lists_each_object_as_version_null() {
    if common::servers::skip_without(Capability::ListsVersions, "listing versions") {
        return;
    }
    let t = Target::new("no-versions").await;
    let mut s = t.store("").await;
    s.put("a", b"1", &host_test::put_options()).await.unwrap();
    s.put("b/c", b"22", &host_test::put_options()).await.unwrap();
    let listed = versions(s.list_versions("", &host_test::list_options(None)).await.unwrap());
    let shape: Vec<_> = listed.iter().map(|v| (v.key.as_str(), v.version_id.as_str(), v.is_latest, v.size)).collect();
    assert_eq!(shape, [("a", "null", true, 1), ("b/c", "null", true, 2)]);
    assert_eq!(s.get_with("b/c", &at("null"), |_| Ok(())).await.unwrap().0.size, 2);
    let folders = host_test::ListOptions { delimiter: Some("/".into()), ..host_test::list_options(None) };
    let entries = s.list_versions("", &folders).await.unwrap();
    assert!(matches!(&entries[..], [Entry::Version(v), Entry::Folder(f)] if v.key == "a" && f == "b/"), "{entries:?}");
}
