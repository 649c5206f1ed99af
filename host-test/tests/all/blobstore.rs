//! The standard `wasi:blobstore` interfaces: `examples/blobstore` composed with the backend
//! (the S3 component, or the memory one with `STORAGE_BACKEND=memory`) by
//! `examples/compose.sh`, called by the host as any host or composed component would,
//! against the embedded S3 server (or the suite's endpoint). What the blobstore writes is
//! read back through the storage API too, so both paths agree on the bytes.

use crate::common;
use common::servers::Capability;

use std::sync::OnceLock;

use bytes::Bytes;
use common::{Target, bytes, memory_backend};
use host_test::runtime::{HostState, load_precompiled};
use host_test::{HostOptions, PutOptions, Runtime};
use wasmtime::component::{Linker, Resource, ResourceAny};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, StreamError};

mod bindings {
    wasmtime::component::bindgen!({
        world: "wasm-storages:blobstore-adapter/blobstore-service@0.1.0",
        path: ["../wit", "../examples/blobstore/wit"],
        exports: { default: async },
        with: { "wasi:io": wasmtime_wasi::p2::bindings::io },
    });
}

use bindings::BlobstoreService;
use bindings::exports::wasi::blobstore::types::ObjectId;

/// The adapter composed with the backend under test, once per run.
fn composed() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let backend = if memory_backend() { env!("MEMORY_COMPONENT_PATH") } else { env!("STORAGE_COMPONENT_PATH") };
        common::compose(env!("BLOBSTORE_COMPONENT_PATH"), std::path::Path::new(backend))
    })
}

/// What an instance gets: `t`'s server and credentials, its objects under `t`'s root +
/// [`PREFIX`] (`BLOBSTORE_PREFIX`), and with `scratch` a writable `/tmp` there.
fn host(t: &Target, scratch: Option<&tempfile::TempDir>) -> HostOptions {
    let env = vec![
        ("AWS_ENDPOINT_URL".to_string(), t.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID".to_string(), t.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), t.secret_key.clone()),
        ("AWS_REGION".to_string(), t.region.clone()),
        ("BLOBSTORE_PREFIX".to_string(), format!("{}{PREFIX}", t.root)),
    ];
    let writable_dirs = scratch.map(|d| vec![(d.path().to_path_buf(), "/tmp".to_string())]).unwrap_or_default();
    HostOptions { env, writable_dirs, ..Default::default() }
}

/// Which comes first: `write-data` or writing the body (both orders are in use).
#[derive(Clone, Copy, Debug)]
enum Order {
    NameFirst,
    BodyFirst,
}

/// One instance of the composed component and typed calls into it.
struct Blobs {
    store: wasmtime::Store<HostState>,
    api: BlobstoreService,
    scratch: tempfile::TempDir,
}

type Res<T> = Result<T, String>;

/// Where, under the test's root, the blobstore's objects are.
const PREFIX: &str = "blobs/";

impl Blobs {
    /// An instance on `t` ([`host`]), with a writable `/tmp` if `with_scratch`.
    async fn new(t: &Target, with_scratch: bool) -> Blobs {
        Blobs::with(t, with_scratch, |_| {}).await
    }

    /// As [`Blobs::new`], with `change` made to the host's options.
    async fn with(t: &Target, with_scratch: bool, change: impl FnOnce(&mut HostOptions)) -> Blobs {
        let engine = Runtime::shared().unwrap().engine().clone();
        let component = load_precompiled(&engine, composed()).unwrap();
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let mut options = host(t, with_scratch.then_some(&scratch));
        change(&mut options);
        let mut store = wasmtime::Store::new(&engine, HostState::new(&options).unwrap());
        let api = BlobstoreService::instantiate_async(&mut store, &component, &linker).await.unwrap();
        Blobs { store, api, scratch }
    }

    async fn create_container(&mut self, name: &str) -> Res<ResourceAny> {
        self.api.wasi_blobstore_blobstore().call_create_container(&mut self.store, &name.to_string()).await.unwrap()
    }

    async fn get_container(&mut self, name: &str) -> Res<ResourceAny> {
        self.api.wasi_blobstore_blobstore().call_get_container(&mut self.store, &name.to_string()).await.unwrap()
    }

    async fn container_exists(&mut self, name: &str) -> Res<bool> {
        self.api.wasi_blobstore_blobstore().call_container_exists(&mut self.store, &name.to_string()).await.unwrap()
    }

    async fn delete_container(&mut self, name: &str) -> Res<()> {
        self.api.wasi_blobstore_blobstore().call_delete_container(&mut self.store, &name.to_string()).await.unwrap()
    }

    async fn copy(&mut self, src: (&str, &str), dest: (&str, &str)) -> Res<()> {
        let (src, dest) = (id(src), id(dest));
        self.api.wasi_blobstore_blobstore().call_copy_object(&mut self.store, &src, &dest).await.unwrap()
    }

    async fn move_(&mut self, src: (&str, &str), dest: (&str, &str)) -> Res<()> {
        let (src, dest) = (id(src), id(dest));
        self.api.wasi_blobstore_blobstore().call_move_object(&mut self.store, &src, &dest).await.unwrap()
    }

    async fn drop_resource(&mut self, r: ResourceAny) {
        r.resource_drop_async(&mut self.store).await.unwrap();
    }

    /// A value holding `data`, written to the body stream in 64 KiB writes, its stream
    /// dropped; `write-data` of `name` to `c` before or after, as `order` says. Not
    /// finished.
    async fn value(&mut self, c: ResourceAny, name: &str, data: &[u8], order: Order) -> Res<ResourceAny> {
        let types = self.api.wasi_blobstore_types().outgoing_value();
        let value = types.call_new_outgoing_value(&mut self.store).await.unwrap();
        if let Order::NameFirst = order {
            self.api.wasi_blobstore_container().container().call_write_data(&mut self.store, c, &name.to_string(), value).await.unwrap()?;
        }
        let stream = types.call_outgoing_value_write_body(&mut self.store, value).await.unwrap().map_err(|()| "write-body failed".to_string())?;
        for piece in data.chunks(64 << 10) {
            self.output(&stream).blocking_write_and_flush(Bytes::copy_from_slice(piece)).await.unwrap();
        }
        self.store.data_mut().ctx().table.delete(stream).unwrap();
        if let Order::BodyFirst = order {
            self.api.wasi_blobstore_container().container().call_write_data(&mut self.store, c, &name.to_string(), value).await.unwrap()?;
        }
        Ok(value)
    }

    async fn finish(&mut self, value: ResourceAny) -> Res<()> {
        self.api.wasi_blobstore_types().outgoing_value().call_finish(&mut self.store, value).await.unwrap()
    }

    /// `value`, then `finish`.
    async fn write(&mut self, c: ResourceAny, name: &str, data: &[u8], order: Order) -> Res<()> {
        let value = self.value(c, name, data, order).await?;
        self.finish(value).await
    }

    fn output(&mut self, stream: &Resource<DynOutputStream>) -> &mut DynOutputStream {
        self.store.data_mut().ctx().table.get_mut(stream).unwrap()
    }

    async fn get_data(&mut self, c: ResourceAny, name: &str, start: u64, end: u64) -> Res<ResourceAny> {
        self.api.wasi_blobstore_container().container().call_get_data(&mut self.store, c, &name.to_string(), start, end).await.unwrap()
    }

    /// `get-data`, its `size`, then `consume-sync`.
    async fn read_sync(&mut self, c: ResourceAny, name: &str, start: u64, end: u64) -> Res<(u64, Vec<u8>)> {
        let value = self.get_data(c, name, start, end).await?;
        let incoming = self.api.wasi_blobstore_types().incoming_value();
        let size = incoming.call_size(&mut self.store, value).await.unwrap();
        let bytes = incoming.call_incoming_value_consume_sync(&mut self.store, value).await.unwrap()?;
        Ok((size, bytes))
    }

    /// `get-data`, then `consume-async`, the stream read to its end and dropped.
    async fn read_async(&mut self, c: ResourceAny, name: &str, start: u64, end: u64) -> Res<Vec<u8>> {
        let value = self.get_data(c, name, start, end).await?;
        let stream = self.api.wasi_blobstore_types().incoming_value().call_incoming_value_consume_async(&mut self.store, value).await.unwrap()?;
        let mut out = Vec::new();
        loop {
            let input: &mut DynInputStream = self.store.data_mut().ctx().table.get_mut(&stream).unwrap();
            match input.blocking_read(256 << 10).await {
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => panic!("reading the value's stream: {e}"),
            }
        }
        self.store.data_mut().ctx().table.delete(stream).unwrap();
        Ok(out)
    }

    /// Every name `list-objects` streams, read `batch` at a time; checks the end flag is
    /// true exactly on the last read.
    async fn names(&mut self, c: ResourceAny, batch: u64) -> Res<Vec<String>> {
        let container = self.api.wasi_blobstore_container().container();
        let stream = container.call_list_objects(&mut self.store, c).await.unwrap()?;
        let names = self.api.wasi_blobstore_container().stream_object_names();
        let mut all = Vec::new();
        loop {
            let (got, end) = names.call_read_stream_object_names(&mut self.store, stream, batch).await.unwrap()?;
            assert!(got.len() as u64 <= batch);
            all.extend(got.iter().cloned());
            if end {
                break;
            }
            assert_eq!(got.len() as u64, batch, "a short read before the end");
        }
        let (more, end) = names.call_read_stream_object_names(&mut self.store, stream, batch).await.unwrap()?;
        assert!(more.is_empty() && end, "names after the end");
        self.drop_resource(stream).await;
        all.sort();
        Ok(all)
    }

    async fn has(&mut self, c: ResourceAny, name: &str) -> Res<bool> {
        self.api.wasi_blobstore_container().container().call_has_object(&mut self.store, c, &name.to_string()).await.unwrap()
    }
}

/// No scratch file is left in `dir`, nor held open: the adapter unlinks each as it makes
/// it, so only the open descriptors (on Linux, `/proc/self/fd`; the directory itself is
/// open as the preopen) show one kept too long.
fn assert_no_scratch_files(dir: &std::path::Path) {
    assert!(dir.read_dir().unwrap().next().is_none(), "scratch files left in {}", dir.display());
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else { return };
    let held: Vec<_> = fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok()).filter(|target| target.starts_with(dir) && target != dir).collect();
    assert!(held.is_empty(), "scratch files still open: {held:?}");
}

fn id((container, object): (&str, &str)) -> ObjectId {
    ObjectId { container: container.to_string(), object: object.to_string() }
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_are_written_read_listed_copied_moved_and_deleted() {
    let t = Target::new("blobstore-objects").await;
    let mut b = Blobs::new(&t, true).await;
    let c = b.get_container(&t.bucket).await.unwrap();
    assert_eq!(b.api.wasi_blobstore_container().container().call_name(&mut b.store, c).await.unwrap().unwrap(), t.bucket);

    // Values larger than a stream's 4 KiB write budget and a multipart part, written in
    // both orders the standard's users write them; and an empty one.
    let big = bytes(9 << 20 | 12345, 1);
    let small = bytes(100_000, 2);
    b.write(c, "dir/big.bin", &big, Order::NameFirst).await.unwrap();
    b.write(c, "small.bin", &small, Order::BodyFirst).await.unwrap();
    b.write(c, "empty", &[], Order::NameFirst).await.unwrap();

    // The storage API, under the same prefix, sees the same bytes.
    if !memory_backend() {
        let mut s = t.store(PREFIX).await;
        assert_eq!(s.get_bytes("dir/big.bin").await.unwrap(), big);
        assert_eq!(s.get_bytes("small.bin").await.unwrap(), small);
        assert_eq!(s.info("empty").await.unwrap().size, 0);
    }

    // Whole values, sync and async; ranges with inclusive ends.
    assert_eq!(b.read_sync(c, "small.bin", 0, u64::MAX).await.unwrap(), (small.len() as u64, small.clone()));
    assert_eq!(b.read_async(c, "dir/big.bin", 0, u64::MAX).await.unwrap(), big);
    assert_eq!(b.read_sync(c, "small.bin", 10, 19).await.unwrap(), (10, small[10..20].to_vec()));
    assert_eq!(b.read_async(c, "dir/big.bin", 5 << 20, 6 << 20).await.unwrap(), big[5 << 20..=6 << 20].to_vec());
    assert_eq!(b.read_sync(c, "small.bin", 99_990, u64::MAX).await.unwrap(), (10, small[99_990..].to_vec()));
    // An end past the object reads to its end, as S3's ranges do.
    assert_eq!(b.read_sync(c, "small.bin", 99_000, 200_000).await.unwrap().1, small[99_000..].to_vec());
    assert_eq!(b.read_sync(c, "empty", 0, u64::MAX).await.unwrap(), (0, Vec::new()));
    assert_eq!(b.read_sync(c, "empty", 0, 0).await.unwrap(), (0, Vec::new()));
    assert_eq!(b.read_async(c, "empty", 0, u64::MAX).await.unwrap(), Vec::<u8>::new());
    let e = b.read_sync(c, "empty", 1, u64::MAX).await.unwrap_err();
    assert!(e.contains("outside the object"), "{e}");
    let e = b.read_sync(c, "small.bin", 20, 10).await.unwrap_err();
    assert!(e.contains("before the start"), "{e}");
    let e = b.read_sync(c, "small.bin", 200_000, u64::MAX).await.unwrap_err();
    assert!(e.contains("outside the object"), "{e}");
    let e = b.read_sync(c, "missing", 0, u64::MAX).await.unwrap_err();
    assert!(e.contains("no object named missing"), "{e}");
    let e = b.read_sync(c, "", 0, u64::MAX).await.unwrap_err();
    assert!(e.contains("invalid object name"), "{e}");

    // Info, existence.
    let info = b.api.wasi_blobstore_container().container().call_object_info(&mut b.store, c, &"dir/big.bin".to_string()).await.unwrap().unwrap();
    assert_eq!((info.name.as_str(), info.container.as_str(), info.size), ("dir/big.bin", t.bucket.as_str(), big.len() as u64));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(info.created_at.abs_diff(now) < 600, "created-at {} vs now {now}", info.created_at);
    assert!(b.has(c, "small.bin").await.unwrap());
    assert!(!b.has(c, "missing").await.unwrap());
    let e = b.api.wasi_blobstore_container().container().call_object_info(&mut b.store, c, &"missing".to_string()).await.unwrap().unwrap_err();
    assert!(e.contains("no object named missing"), "{e}");

    // Listing, in batches smaller and larger than what is there.
    let all = strings(&["dir/big.bin", "empty", "small.bin"]);
    assert_eq!(b.names(c, 1).await.unwrap(), all);
    assert_eq!(b.names(c, 2).await.unwrap(), all);
    assert_eq!(b.names(c, 100).await.unwrap(), all);

    // Copy within the container keeps the bytes; move removes the source.
    b.copy((&t.bucket, "small.bin"), (&t.bucket, "copy.bin")).await.unwrap();
    assert_eq!(b.read_sync(c, "copy.bin", 0, u64::MAX).await.unwrap().1, small);
    b.move_((&t.bucket, "copy.bin"), (&t.bucket, "moved/here.bin")).await.unwrap();
    assert!(!b.has(c, "copy.bin").await.unwrap());
    assert_eq!(b.read_sync(c, "moved/here.bin", 0, u64::MAX).await.unwrap().1, small);
    let e = b.copy((&t.bucket, "missing"), (&t.bucket, "x")).await.unwrap_err();
    assert!(e.contains("missing"), "{e}");

    // One value under several names; a bad name stops the writing there and says which
    // names were already written.
    let value = b.value(c, "twice/1", b"shared", Order::BodyFirst).await.unwrap();
    b.api.wasi_blobstore_container().container().call_write_data(&mut b.store, c, &"twice/2".to_string(), value).await.unwrap().unwrap();
    b.finish(value).await.unwrap();
    assert_eq!(b.read_sync(c, "twice/1", 0, u64::MAX).await.unwrap().1, b"shared");
    assert_eq!(b.read_sync(c, "twice/2", 0, u64::MAX).await.unwrap().1, b"shared");
    let value = b.value(c, "partly/1", b"half", Order::NameFirst).await.unwrap();
    for name in ["bad/../name", "partly/2"] {
        b.api.wasi_blobstore_container().container().call_write_data(&mut b.store, c, &name.to_string(), value).await.unwrap().unwrap();
    }
    let e = b.finish(value).await.unwrap_err();
    assert!(e.contains("writing bad/../name") && e.contains(&format!("(1 written before it: partly/1 in {})", t.bucket)), "{e}");
    assert!(b.has(c, "partly/1").await.unwrap());
    assert!(!b.has(c, "partly/2").await.unwrap());
    b.api.wasi_blobstore_container().container().call_delete_objects(&mut b.store, c, &strings(&["twice/1", "twice/2", "partly/1"])).await.unwrap().unwrap();

    // Replacing an object.
    b.write(c, "small.bin", b"replaced", Order::BodyFirst).await.unwrap();
    assert_eq!(b.read_sync(c, "small.bin", 0, u64::MAX).await.unwrap().1, b"replaced");

    // Deleting: one, several (a missing one is no error), then everything.
    b.api.wasi_blobstore_container().container().call_delete_object(&mut b.store, c, &"empty".to_string()).await.unwrap().unwrap();
    b.api.wasi_blobstore_container().container().call_delete_object(&mut b.store, c, &"empty".to_string()).await.unwrap().unwrap();
    b.api.wasi_blobstore_container().container().call_delete_objects(&mut b.store, c, &strings(&["small.bin", "never-was"])).await.unwrap().unwrap();
    assert_eq!(b.names(c, 10).await.unwrap(), strings(&["dir/big.bin", "moved/here.bin"]));
    let e = b.api.wasi_blobstore_container().container().call_delete_objects(&mut b.store, c, &strings(&["ok-name", ""])).await.unwrap().unwrap_err();
    assert!(e.contains("1 of 2 objects") && e.contains("invalid object name"), "{e}");

    // `clear` empties this tenant's prefix and nothing else.
    let mut neighbour = t.store("neighbour/").await;
    if !memory_backend() {
        neighbour
            .put(
                "kept",
                b"not mine",
                &PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() },
            )
            .await
            .unwrap();
    }
    b.api.wasi_blobstore_container().container().call_clear(&mut b.store, c).await.unwrap().unwrap();
    assert!(b.names(c, 10).await.unwrap().is_empty());
    if !memory_backend() {
        assert_eq!(neighbour.get_bytes("kept").await.unwrap(), b"not mine");
    }
    b.drop_resource(c).await;
    assert_no_scratch_files(b.scratch.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_are_buckets() {
    let t = Target::new("blobstore-containers").await;
    let mut b = Blobs::new(&t, true).await;
    assert!(b.container_exists(&t.bucket).await.unwrap());
    let e = b.create_container("Not A Bucket!").await.unwrap_err();
    assert!(e.contains("Not A Bucket!"), "{e}");
    if memory_backend() {
        eprintln!("the rest is skipped on the memory backend: every bucket exists there");
        return;
    }
    let missing = common::unique_bucket(&t, "missing");
    assert!(!b.container_exists(&missing).await.unwrap());
    let e = b.get_container(&missing).await.unwrap_err();
    assert!(e.contains("does not exist"), "{e}");

    let name = common::unique_bucket(&t, "made");
    let made = match b.create_container(&name).await {
        Ok(c) => c,
        Err(e) if !t.is_embedded() && e.contains("access denied") => {
            eprintln!("skipped: this server's key may not create buckets: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(b.container_exists(&name).await.unwrap());
    if common::servers::lacks(Capability::RefusesRecreatingOwnedBuckets).is_none() {
        let e = b.create_container(&name).await.unwrap_err();
        assert!(e.contains("already exists"), "{e}");
    }

    // Across containers: the bytes go through the adapter, checked, with their type and
    // metadata (stored through the storage API: the standard has no words for them).
    let home = b.get_container(&t.bucket).await.unwrap();
    let data = bytes(3 << 20, 7);
    let typed = PutOptions {
        content_type: Some("image/png".into()),
        metadata: vec![("origin".into(), "camera".into())],
        size: None,
        condition: None,
        attributes: host_test::no_attributes(),
        tags: Vec::new(),
    };
    t.store(PREFIX).await.put("a.bin", &data, &typed).await.unwrap();
    b.copy((&t.bucket, "a.bin"), (&name, "b.bin")).await.unwrap();
    assert_eq!(b.read_sync(made, "b.bin", 0, u64::MAX).await.unwrap().1, data);
    let mut there = t.config(PREFIX);
    there.bucket = name.clone();
    let copied = common::open(there).await.unwrap().info("b.bin").await.unwrap();
    assert_eq!((copied.content_type, copied.metadata), (typed.content_type.clone(), typed.metadata.clone()));
    b.move_((&name, "b.bin"), (&t.bucket, "c.bin")).await.unwrap();
    assert!(!b.has(made, "b.bin").await.unwrap());
    assert_eq!(b.read_async(home, "c.bin", 0, u64::MAX).await.unwrap(), data);
    let e = b.copy((&t.bucket, "a.bin"), (&missing, "x")).await.unwrap_err();
    assert!(e.contains(&format!("container {missing} does not exist")), "{e}");
    assert!(!b.container_exists(&missing).await.unwrap());

    // Deleting a container deletes what it holds under this prefix, then the bucket: which
    // S3 refuses while another tenant's objects are in it.
    b.write(made, "left/inside", b"x", Order::BodyFirst).await.unwrap();
    let mut other = t.config("other-tenant/");
    other.bucket = name.clone();
    let mut other = common::open(other).await.unwrap();
    other
        .put(
            "theirs",
            b"y",
            &PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() },
        )
        .await
        .unwrap();
    let e = b.delete_container(&name).await.unwrap_err();
    assert!(e.contains(&format!("its objects under {}{PREFIX} were deleted, but not the bucket", t.root)) && e.contains("BucketNotEmpty"), "{e}");
    assert!(!b.has(made, "left/inside").await.unwrap());
    assert_eq!(other.get_bytes("theirs").await.unwrap(), b"y");
    other.delete("theirs").await.unwrap();
    b.drop_resource(made).await;
    b.delete_container(&name).await.unwrap();
    assert!(!b.container_exists(&name).await.unwrap());
    let e = b.delete_container(&name).await.unwrap_err();
    assert!(e.contains("NoSuchBucket"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_streams_names_across_pages() {
    let t = Target::new("blobstore-pages").await;
    let mut b = Blobs::new(&t, true).await;
    let c = b.get_container(&t.bucket).await.unwrap();
    // More than one 1,000-key page. Written through the storage API where it shares the
    // server (faster); on the memory backend through the blobstore itself.
    let names: Vec<String> = (0..1003).map(|i| format!("n/{i:04}")).collect();
    if memory_backend() {
        for name in &names {
            b.write(c, name, b"", Order::NameFirst).await.unwrap();
        }
    } else {
        let mut s = t.store(PREFIX).await;
        for name in &names {
            s.put(
                name,
                b"",
                &PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() },
            )
            .await
            .unwrap();
        }
    }
    assert_eq!(b.names(c, 600).await.unwrap(), names);
    assert_eq!(b.names(c, 1003).await.unwrap(), names);

    // Skipping across the page boundary, then reading the rest; reads and skips of
    // nothing take nothing.
    let stream = b.api.wasi_blobstore_container().container().call_list_objects(&mut b.store, c).await.unwrap().unwrap();
    let api = b.api.wasi_blobstore_container().stream_object_names();
    assert_eq!(api.call_read_stream_object_names(&mut b.store, stream, 0).await.unwrap().unwrap(), (vec![], false));
    assert_eq!(api.call_skip_stream_object_names(&mut b.store, stream, 0).await.unwrap().unwrap(), (0, false));
    assert_eq!(api.call_skip_stream_object_names(&mut b.store, stream, 999).await.unwrap().unwrap(), (999, false));
    let (rest, end) = api.call_read_stream_object_names(&mut b.store, stream, 10).await.unwrap().unwrap();
    assert_eq!((rest, end), (names[999..].to_vec(), true));
    assert_eq!(api.call_skip_stream_object_names(&mut b.store, stream, 5).await.unwrap().unwrap(), (0, true));
    b.drop_resource(stream).await;
}

/// A listing that fails partway gives the names it has, then the error, then (asked again)
/// the rest: never a listing cut short that says it is complete.
#[tokio::test(flavor = "multi_thread")]
async fn a_listing_that_fails_partway_says_so_and_resumes() {
    if common::skip_on_memory("S3 listings") {
        return;
    }
    let t = Target::new("blobstore-stall").await;
    let prefix = format!("{}{PREFIX}", t.root);
    let mut b = Blobs::with(&t, true, |o| o.canned = Some(common::listing_that_stalls_once(&prefix))).await;
    let c = b.get_container(&t.bucket).await.unwrap();
    let stream = b.api.wasi_blobstore_container().container().call_list_objects(&mut b.store, c).await.unwrap().unwrap();
    let api = b.api.wasi_blobstore_container().stream_object_names();
    assert_eq!(api.call_read_stream_object_names(&mut b.store, stream, 10).await.unwrap().unwrap(), (strings(&["a"]), false));
    let e = api.call_read_stream_object_names(&mut b.store, stream, 10).await.unwrap().unwrap_err();
    assert!(e.contains("without progress"), "{e}");
    assert_eq!(api.call_read_stream_object_names(&mut b.store, stream, 10).await.unwrap().unwrap(), (strings(&["b"]), true));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unfinished_value_stores_nothing() {
    let t = Target::new("blobstore-unfinished").await;
    let mut b = Blobs::new(&t, true).await;
    let c = b.get_container(&t.bucket).await.unwrap();
    // Dropped without `finish`: the standard calls that value corrupt.
    let value = b.value(c, "dropped", &bytes(50_000, 3), Order::NameFirst).await.unwrap();
    b.drop_resource(value).await;
    assert!(!b.has(c, "dropped").await.unwrap());

    // The body stream is handed out once.
    let types = b.api.wasi_blobstore_types().outgoing_value();
    let value = types.call_new_outgoing_value(&mut b.store).await.unwrap();
    let stream = types.call_outgoing_value_write_body(&mut b.store, value).await.unwrap().unwrap();
    assert!(types.call_outgoing_value_write_body(&mut b.store, value).await.unwrap().is_err());
    b.store.data_mut().ctx().table.delete(stream).unwrap();
    // Finished without a name: nothing to store, and no error.
    b.finish(value).await.unwrap();

    // Finishing a value stores it; a bad name says so at `finish`, and nothing is stored.
    let e = b.write(c, "bad/../name", b"x", Order::NameFirst).await.unwrap_err();
    assert!(e.contains("bad/../name") && e.contains("invalid object name"), "{e}");
    assert!(b.names(c, 10).await.unwrap().is_empty());
    assert_no_scratch_files(b.scratch.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_scratch_directory_writes_say_why() {
    let t = Target::new("blobstore-no-scratch").await;
    let mut b = Blobs::new(&t, false).await;
    let c = b.get_container(&t.bucket).await.unwrap();
    let types = b.api.wasi_blobstore_types().outgoing_value();
    let value = types.call_new_outgoing_value(&mut b.store).await.unwrap();
    b.api.wasi_blobstore_container().container().call_write_data(&mut b.store, c, &"x".to_string(), value).await.unwrap().unwrap();
    assert!(types.call_outgoing_value_write_body(&mut b.store, value).await.unwrap().is_err());
    let e = b.finish(value).await.unwrap_err();
    assert!(e.contains("no scratch directory") && e.contains("/tmp"), "{e}");
    assert!(!b.has(c, "x").await.unwrap());
    // Reading needs no scratch space from the S3 backend, which streams.
    if !memory_backend() {
        let mut s = t.store(PREFIX).await;
        s.put(
            "r",
            b"readable",
            &PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() },
        )
        .await
        .unwrap();
        assert_eq!(b.read_async(c, "r", 0, u64::MAX).await.unwrap(), b"readable");
    }
}

/// `examples/blobstore-cli` knows only the upstream `wasi:blobstore` WIT, unchanged (its
/// `wasi:io` is 0.2.2, the adapter's 0.2.12): composed onto the adapter, it runs as is.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_written_against_the_standard_runs_unchanged() {
    if common::skip_on_memory("each command is a new instance, and the memory backend forgets between instances") {
        return;
    }
    let t = Target::new("blobstore-cli").await;
    let composed_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(composed_file.path(), composed()).unwrap();
    let cli = common::compose(env!("BLOB_CLI_COMPONENT_PATH"), composed_file.path());
    let scratch = tempfile::tempdir().unwrap();
    // `blob!(stdin; args...)`: one run of the command, in a fresh instance.
    macro_rules! blob {
        ($stdin:expr; $($arg:expr),+) => {
            host_test::command::run(&cli, host(&t, Some(&scratch)), &["blob", $($arg),+], $stdin).await.unwrap()
        };
    }
    let ok = |ran: host_test::command::Ran| {
        assert_eq!(ran.status, 0, "{}", ran.stderr);
        ran.stdout
    };
    let bucket = t.bucket.as_str();

    let data = bytes(5 << 20 | 3, 11);
    ok(blob!(data.clone(); "put", bucket, "a/b.bin"));
    assert_eq!(ok(blob!(vec![]; "get", bucket, "a/b.bin")), data);
    assert_eq!(ok(blob!(vec![]; "get", bucket, "a/b.bin", "100", "199")), data[100..200].to_vec());
    assert_eq!(t.store(PREFIX).await.get_bytes("a/b.bin").await.unwrap(), data);
    let info = String::from_utf8(ok(blob!(vec![]; "info", bucket, "a/b.bin"))).unwrap();
    assert!(info.starts_with(&format!("a/b.bin {} ", data.len())), "{info}");

    ok(blob!(vec![]; "cp", bucket, "a/b.bin", bucket, "c.bin"));
    ok(blob!(vec![]; "mv", bucket, "c.bin", bucket, "d.bin"));
    assert_eq!(ok(blob!(vec![]; "ls", bucket)), b"a/b.bin\nd.bin\n");
    ok(blob!(vec![]; "rm", bucket, "a/b.bin", "d.bin"));
    assert_eq!(ok(blob!(vec![]; "ls", bucket)), b"");

    let missing = blob!(vec![]; "get", bucket, "a/b.bin");
    assert_eq!(missing.status, 1);
    assert!(missing.stderr.contains("no object named a/b.bin"), "{}", missing.stderr);
    assert!(missing.stdout.is_empty());
    assert_no_scratch_files(scratch.path());
}
