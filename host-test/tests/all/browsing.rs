//! What a file browser, a cache and a browser need of a store: folders (delimiter
//! listings, resuming after a key), conditional reads (ETags and dates: 304 and 412, nothing
//! transferred), the HTTP attributes stored with an object and kept or replaced by a copy,
//! and presigned URLs that override the reply's headers. Against every server.

use crate::common::{self, Target, servers::Capability, storage_error};
use host_test::{Attributes, CopyOptions, Entry, Error, GetOptions, InfoOptions, ListOptions, PutOptions, ReadConditions, Replacement, UrlOptions};

fn names(entries: &[Entry]) -> Vec<String> {
    entries.iter().cloned().map(host_test::runtime::entry_name).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn folders_are_listed_once_beside_files_in_key_order() {
    let t = Target::new("folders").await;
    let mut s = t.store("").await;
    for key in ["a.txt", "photos/2024/x.jpg", "photos/2024/y.jpg", "photos/z.jpg", "photos-old/q", "z.txt"] {
        s.put(key, key.as_bytes(), &host_test::put_options()).await.unwrap();
    }
    let folders = |limit, start_after: Option<&str>| ListOptions { limit, delimiter: Some("/".into()), start_after: start_after.map(str::to_string) };
    let top = s.list_entries("", &folders(None, None)).await.unwrap();
    assert_eq!(names(&top), ["a.txt", "photos-old/", "photos/", "z.txt"]);
    assert!(matches!(&top[0], Entry::File(f) if f.size == 5) && matches!(&top[2], Entry::Folder(_)));
    assert_eq!(names(&s.list_entries("photos/", &folders(None, None)).await.unwrap()), ["photos/2024/", "photos/z.jpg"]);
    // The limit counts folders and files alike; start-after resumes after a key.
    assert_eq!(names(&s.list_entries("", &folders(Some(2), None)).await.unwrap()), ["a.txt", "photos-old/"]);
    assert_eq!(names(&s.list_entries("", &folders(None, Some("photos-old/q"))).await.unwrap()), ["photos/", "z.txt"]);
    // Resuming after a folder goes past everything in it.
    assert_eq!(names(&s.list_entries("", &folders(None, Some("photos/"))).await.unwrap()), ["z.txt"]);
    // Without a delimiter, start-after alone.
    let after = ListOptions { start_after: Some("photos/z.jpg".into()), ..host_test::list_options(None) };
    assert_eq!(names(&s.list_entries("", &after).await.unwrap()), ["z.txt"]);
    let bad = ListOptions { delimiter: Some(String::new()), ..host_test::list_options(None) };
    assert!(matches!(storage_error(s.list_entries("", &bad).await), Error::InvalidArgument(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn conditional_reads_answer_not_modified_or_precondition_failed() {
    let t = Target::new("conditional-reads").await;
    let mut s = t.store("").await;
    let stored = s.put("page.html", b"<h1>hi</h1>", &host_test::put_options()).await.unwrap();
    let etag = stored.etag.clone().unwrap();
    let info = s.info("page.html").await.unwrap();
    let modified = info.last_modified.unwrap();
    let when = |seconds: u64| Some(host_test::Datetime { seconds, nanoseconds: 0 });
    let get = |conditions: ReadConditions| GetOptions { conditions, ..host_test::get_options(None) };
    let none = host_test::no_conditions;
    let cases: Vec<(ReadConditions, Option<&str>)> = vec![
        (ReadConditions { if_none_match: Some(etag.clone()), ..none() }, Some("not-modified")),
        (ReadConditions { if_none_match: Some("\"other\"".into()), ..none() }, None),
        (ReadConditions { if_match: Some(etag.clone()), ..none() }, None),
        (ReadConditions { if_match: Some("\"other\"".into()), ..none() }, Some("precondition-failed")),
        (ReadConditions { if_modified_since: when(modified.seconds), ..none() }, Some("not-modified")),
        (ReadConditions { if_modified_since: when(modified.seconds - 3600), ..none() }, None),
        (ReadConditions { if_unmodified_since: when(modified.seconds - 3600), ..none() }, Some("precondition-failed")),
        (ReadConditions { if_unmodified_since: when(modified.seconds + 3600), ..none() }, None),
    ];
    for (conditions, refused) in cases {
        let mut got = Vec::new();
        let options = get(conditions.clone());
        let read = s
            .get_with("page.html", &options, |c| {
                got.extend_from_slice(c);
                Ok(())
            })
            .await;
        let head = s.info_with("page.html", &InfoOptions { conditions: conditions.clone(), version_id: None }).await;
        match refused {
            None => {
                assert_eq!(got, b"<h1>hi</h1>", "{conditions:?}");
                assert_eq!(head.unwrap().etag.as_deref(), Some(etag.as_str()));
            }
            Some(kind) => {
                for e in [storage_error(read), storage_error(head)] {
                    let ok = match kind {
                        "not-modified" => matches!(&e, Error::NotModified(k) if k == "page.html"),
                        _ => matches!(&e, Error::PreconditionFailed(k) if k == "page.html"),
                    };
                    assert!(ok, "{conditions:?}: {e:?}");
                }
                assert!(got.is_empty(), "{conditions:?}: no bytes when a condition fails");
            }
        }
    }
    let bad = ReadConditions { if_match: Some("a\r\nx: y".into()), ..none() };
    assert!(matches!(storage_error(s.info_with("page.html", &InfoOptions { conditions: bad, version_id: None }).await), Error::InvalidArgument(_)));
}

fn attributes() -> Attributes {
    Attributes {
        cache_control: Some("max-age=3600".into()),
        content_disposition: Some("attachment; filename=\"report 2024.pdf\"".into()),
        content_encoding: Some("identity".into()),
        content_language: Some("en-GB".into()),
        expires: Some(host_test::Datetime { seconds: 4_102_444_800, nanoseconds: 0 }),
        storage_class: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn attributes_are_stored_returned_and_kept_or_replaced_by_copies() {
    let t = Target::new("attributes").await;
    let mut config = t.config("");
    config.part_size = Some(5 << 20);
    let mut s = common::open(config).await.unwrap();
    let options = PutOptions { content_type: Some("application/pdf".into()), attributes: attributes(), ..host_test::put_options() };
    let put = s.put("small.pdf", b"%PDF", &options).await.unwrap();
    assert_eq!(format!("{:?}", put.attributes), format!("{:?}", attributes()));
    // A multipart upload carries them on CreateMultipartUpload.
    let big = common::bytes((5 << 20) + 10, 3);
    s.put_stream("big.pdf", std::io::Cursor::new(big), &options).await.unwrap();
    for key in ["small.pdf", "big.pdf"] {
        assert_eq!(format!("{:?}", s.info(key).await.unwrap().attributes), format!("{:?}", attributes()), "{key}");
        let (got, _) = s.get_with(key, &host_test::get_options(None), |_| Ok(())).await.unwrap();
        assert_eq!(format!("{:?}", got.attributes), format!("{:?}", attributes()), "{key}");
    }
    // Kept by a copy, replaced when asked (all of them: content type and metadata too).
    assert_eq!(format!("{:?}", s.copy("small.pdf", "kept.pdf").await.unwrap().attributes), format!("{:?}", attributes()));
    let replace = Replacement {
        content_type: Some("text/plain".into()),
        metadata: vec![("v".into(), "2".into())],
        attributes: Attributes { cache_control: Some("no-store".into()), ..host_test::no_attributes() },
        tags: Vec::new(),
    };
    let replaced = s.copy_with("small.pdf", "replaced.txt", &CopyOptions { replace: Some(replace.clone()) }).await.unwrap();
    assert_eq!((replaced.content_type.as_deref(), replaced.metadata.as_slice()), (Some("text/plain"), &[("v".to_string(), "2".to_string())][..]));
    assert_eq!(format!("{:?}", replaced.attributes), format!("{:?}", Attributes { cache_control: Some("no-store".into()), ..host_test::no_attributes() }));
    // Onto itself: the way to change an object's attributes in place.
    let same = s.copy_with("small.pdf", "small.pdf", &CopyOptions { replace: Some(replace) }).await.unwrap();
    assert_eq!(same.attributes.cache_control.as_deref(), Some("no-store"));
    assert_eq!(s.get_bytes("small.pdf").await.unwrap(), b"%PDF");

    let bad = PutOptions {
        attributes: Attributes { content_disposition: Some("a\r\nx-amz-acl: public-read".into()), ..host_test::no_attributes() },
        ..host_test::put_options()
    };
    assert!(matches!(storage_error(s.put("bad", b"x", &bad).await), Error::InvalidArgument(m) if m.starts_with("content-disposition")));
    assert!(!s.exists("bad").await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn presigned_get_urls_can_override_the_replys_headers() {
    if common::skip_on_memory("the memory backend's URLs (memory://) can't be fetched over HTTP")
        || common::servers::skip_without(Capability::ResponseOverrides, "response-content-disposition on presigned GETs")
    {
        return;
    }
    let t = Target::new("overrides").await;
    let mut s = t.store("").await;
    s.put("0b1f.bin", b"report", &host_test::put_options()).await.unwrap();
    let options = UrlOptions {
        response_content_disposition: Some("attachment; filename=\"report.pdf\"".into()),
        response_content_type: Some("application/pdf".into()),
        response_cache_control: Some("private".into()),
        ..host_test::url_options()
    };
    let url = s.url_with("0b1f.bin", options).await.unwrap();
    let reply = host_test::http_client::get(&url).await.unwrap();
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"report"[..]));
    let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(header("content-disposition").as_deref(), Some("attachment; filename=\"report.pdf\""));
    assert_eq!(header("content-type").as_deref(), Some("application/pdf"));
    assert_eq!(header("cache-control").as_deref(), Some("private"));
    let put = UrlOptions { method: Some(host_test::PresignMethod::Put), response_cache_control: Some("x".into()), ..host_test::url_options() };
    assert!(matches!(storage_error(s.url_with("k", put).await), Error::InvalidArgument(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_are_stored_returned_and_kept_or_replaced_by_copies() {
    let t = Target::new("tags").await;
    let mut config = t.config("");
    config.part_size = Some(5 << 20);
    config.copy_part_size = Some(5 << 20);
    let (mut s, log) = common::recorded(config, None).await;
    let tags = vec![("team".to_string(), "data+ml @ s3://b".to_string()), ("stage".to_string(), "raw".to_string())];
    let options = PutOptions { tags: tags.clone(), ..host_test::put_options() };
    let put = s.put("tagged.bin", b"x", &options).await.unwrap();
    assert_eq!(put.tags, tags);
    // Sent as S3 wants them, in one header (on the memory backend no request is made).
    let sent = log.lock().unwrap().iter().find_map(|r| r.headers.get("x-amz-tagging").map(|v| v.to_str().unwrap().to_string()));
    assert!(common::memory_backend() || sent.as_deref() == Some("team=data%2Bml%20%40%20s3%3A%2F%2Fb&stage=raw"), "{sent:?}");
    let too_many = PutOptions { tags: (0..11).map(|i| (format!("k{i}"), String::new())).collect(), ..host_test::put_options() };
    assert!(matches!(storage_error(s.put("bad", b"x", &too_many).await), Error::InvalidArgument(_)));
    let ampersand = PutOptions { tags: vec![("a".into(), "x&y".into())], ..host_test::put_options() };
    assert!(matches!(storage_error(s.put("bad", b"x", &ampersand).await), Error::InvalidArgument(m) if m.contains("'&'") || m.contains("&")));
    if common::servers::skip_without(Capability::Tagging, "tags read back") {
        return;
    }
    assert_eq!(s.info("tagged.bin").await.unwrap().tags, tags);
    assert_eq!(s.get_with("tagged.bin", &host_test::get_options(None), |_| Ok(())).await.unwrap().0.tags, tags);
    // Kept by copies, in one request and in parts; replaced when asked.
    s.put_stream("big.bin", std::io::Cursor::new(common::bytes((5 << 20) + 1, 4)), &options).await.unwrap();
    for (source, destination) in [("tagged.bin", "copy.bin"), ("big.bin", "big-copy.bin")] {
        s.copy(source, destination).await.unwrap();
        assert_eq!(s.info(destination).await.unwrap().tags, tags, "{destination}");
    }
    let replace = Replacement { content_type: None, metadata: vec![], attributes: host_test::no_attributes(), tags: vec![("stage".into(), "clean".into())] };
    s.copy_with("tagged.bin", "clean.bin", &CopyOptions { replace: Some(replace) }).await.unwrap();
    assert_eq!(s.info("clean.bin").await.unwrap().tags, [("stage".to_string(), "clean".to_string())]);
    // Untagged objects cost no second request.
    s.put("plain.bin", b"x", &host_test::put_options()).await.unwrap();
    let before = log.lock().unwrap().len();
    assert!(s.info("plain.bin").await.unwrap().tags.is_empty());
    assert!(common::memory_backend() || log.lock().unwrap().len() == before + 1);
}
