//! The standard `wasi:blobstore@0.2.0-draft` interfaces over the `storage` interface, so a
//! component written against the standard runs unchanged on S3 (composed with the
//! wasm-storages component) or in memory (composed with the memory backend).
//!
//! - A container is a bucket: `create-container` creates it, `delete-container` empties
//!   and deletes it. `BLOBSTORE_PREFIX` (environment) puts every object of every container
//!   under that key prefix, as the storage config's `prefix` does: a tenant sees, lists and
//!   clears only its own objects. Region, endpoint and credentials are the backend's own
//!   (`AWS_REGION`, `AWS_ENDPOINT_URL`, the AWS credential chain).
//! - An object name is a key, checked by the backend's key rules.
//! - `get-data`'s end is inclusive (as the standard says); `u64::MAX` means to the end.
//! - A value being written (`outgoing-value`) goes to a scratch file first: the standard
//!   hands the writer a `wasi:io` output-stream before anyone says how long the value is,
//!   a component can only get such a stream from the host, and S3 takes no upload of
//!   unknown length. `finish` uploads it to every name `write-data` gave it. The scratch
//!   directory is the preopen named by `BLOBSTORE_SCRATCH_DIR` (default `/tmp`); it must be
//!   writable. The file is unlinked as soon as it is made, so nothing is left behind.

mod container;
mod spool;
mod value;

mod bindings {
    wit_bindgen::generate!({
        world: "wasm-storages:blobstore-adapter/blobstore-adapter@0.1.0",
        path: ["../../wit", "wit"],
        with: {
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
            "wasi:cli/environment@0.2.12": wasip2::cli::environment,
            "wasi:filesystem/types@0.2.12": wasip2::filesystem::types,
            "wasi:filesystem/preopens@0.2.12": wasip2::filesystem::preopens,
            "wasi:random/random@0.2.12": wasip2::random::random,
            "wasm-storages:storage/types@0.2.0": generate,
            "wasm-storages:storage/storage@0.2.0": generate,
        },
        additional_type_attributes: {
            "wasm-storages:storage/types@0.2.0/config": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/put-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/get-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/info-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/list-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/copy-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/url-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/read-conditions": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/attributes": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/replacement": [#[derive(Default)]],
        },
    });
}

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bindings::exports::wasi::blobstore::blobstore::Guest;
use bindings::exports::wasi::blobstore::container::Container;
use bindings::exports::wasi::blobstore::types::ObjectId;
use bindings::wasm_storages::storage::storage::Store;
use bindings::wasm_storages::storage::types::{Config, Error, ListOptions};

struct Blobstore;

bindings::export!(Blobstore with_types_in bindings);

impl Guest for Blobstore {
    fn create_container(name: String) -> Result<Container, String> {
        let store = open(&name)?;
        match store.create_bucket() {
            Ok(()) => Ok(container::new(name, store)),
            Err(Error::AlreadyExists(_)) => Err(format!("container {name} already exists")),
            Err(e) => Err(format!("creating container {name}: {}", describe(&e))),
        }
    }

    fn get_container(name: String) -> Result<Container, String> {
        let store = open(&name)?;
        match bucket_exists(&store, &name)? {
            true => Ok(container::new(name, store)),
            false => Err(format!("container {name} does not exist")),
        }
    }

    fn delete_container(name: String) -> Result<(), String> {
        let store = open(&name)?;
        container::clear(&store, &name)?;
        // Say what is already gone: a bucket shared with other prefixes stays, refused as
        // not empty, after this one's objects were deleted.
        store.delete_bucket().map_err(|e| {
            let gone = env("BLOBSTORE_PREFIX").map_or("its objects were deleted".into(), |p| format!("its objects under {p} were deleted"));
            format!("deleting container {name}: {gone}, but not the bucket: {}", describe(&e))
        })
    }

    fn container_exists(name: String) -> Result<bool, String> {
        bucket_exists(&*open(&name)?, &name)
    }

    fn copy_object(src: ObjectId, dest: ObjectId) -> Result<(), String> {
        container::copy(&src, &dest)
    }

    fn move_object(src: ObjectId, dest: ObjectId) -> Result<(), String> {
        container::copy(&src, &dest)?;
        if src.container != dest.container || src.object != dest.object {
            open(&src.container)?.delete(&src.object).map_err(|e| format!("moved {} but could not delete it: {}", src.object, describe(&e)))?;
        }
        Ok(())
    }
}

thread_local! {
    /// One store per container, kept: a store caches the credentials it fetched (web
    /// identity, container, instance metadata), which a store per call would fetch again.
    static STORES: RefCell<HashMap<String, Rc<Store>>> = RefCell::default();
}

/// The store on the bucket `container`, under `BLOBSTORE_PREFIX`. Makes no network call.
fn open(container: &str) -> Result<Rc<Store>, String> {
    if let Some(store) = STORES.with(|s| s.borrow().get(container).cloned()) {
        return Ok(store);
    }
    let store = Rc::new(open_new(container)?);
    STORES.with(|s| s.borrow_mut().insert(container.to_string(), store.clone()));
    Ok(store)
}

fn open_new(container: &str) -> Result<Store, String> {
    let config = Config { bucket: container.to_string(), prefix: env("BLOBSTORE_PREFIX"), ..Default::default() };
    Store::open(&config).map_err(|e| match e {
        Error::InvalidConfig(why) => format!("container {container:?}: {why}"),
        e => describe(&e),
    })
}

/// Whether the bucket exists: a one-key listing answers `NoSuchBucket` when it doesn't (a
/// HEAD's bodiless 404 couldn't tell a missing bucket from anything else).
fn bucket_exists(store: &Store, name: &str) -> Result<bool, String> {
    let listing = store.list("", &ListOptions { limit: Some(1), ..Default::default() }).map_err(|e| describe(&e))?;
    match listing.next_page() {
        Ok(_) => Ok(true),
        Err(Error::Service(e)) if e.code == "NoSuchBucket" => Ok(false),
        Err(e) => Err(format!("checking container {name}: {}", describe(&e))),
    }
}

pub(crate) fn env(name: &str) -> Option<String> {
    wasip2::cli::environment::get_environment().into_iter().find(|(k, _)| k == name).map(|(_, v)| v).filter(|v| !v.is_empty())
}

/// The standard's errors are strings: one line saying what the backend's error was.
pub(crate) fn describe(e: &Error) -> String {
    let service = |s: &bindings::wasm_storages::storage::types::ServiceError| {
        let id = s.request_id.as_deref().map(|id| format!(", request id {id}")).unwrap_or_default();
        format!("{} {} (HTTP {}{id})", s.code, s.message, s.status)
    };
    match e {
        Error::NotFound(key) => format!("no object named {key}"),
        Error::NotModified(key) => format!("{key} is not modified"),
        Error::AccessDenied(s) => format!("access denied: {}", service(s)),
        Error::InvalidKey(why) => format!("invalid object name: {why}"),
        Error::InvalidConfig(why) => format!("invalid configuration: {why}"),
        Error::InvalidArgument(why) => format!("invalid argument: {why}"),
        Error::RangeNotSatisfiable(Some(size)) => format!("the range lies outside the object ({size} bytes)"),
        Error::RangeNotSatisfiable(None) => "the range lies outside the object".into(),
        Error::AlreadyExists(key) => format!("{key} already exists"),
        Error::PreconditionFailed(key) => format!("precondition failed for {key}"),
        Error::Unsupported(why) => format!("unsupported: {why}"),
        Error::Credentials(why) => format!("no credentials: {why}"),
        Error::Service(s) => format!("service error: {}", service(s)),
        Error::Transport(why) => format!("transport: {why}"),
    }
}
