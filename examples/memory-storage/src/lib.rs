//! The `storage` interface in memory: the seed's MemoryStorage, as a component. An app
//! composed with it instead of the S3 component runs unchanged, for tests and demos.
//!
//! Same semantics and errors as the S3 component: the same key, prefix, content-type,
//! metadata and expiry rules (it includes that component's `keys.rs` and `rules.rs`),
//! conditional writes honoured, MD5 ETags, listings without content types (as S3's),
//! ranges and `range-not-satisfiable`, conditional reads (its `precondition.rs`), attributes,
//! delimiter listings. Stores opened on the same bucket within one
//! instance share their objects. The differences, by nature:
//! - `object-body.stream` is `unsupported`: a component can't make a `wasi:io` stream of
//!   its own bytes (WASI 0.2 streams come from the host); `read` works.
//! - `url` returns a `memory://bucket/key?...` URL, which nothing can fetch.
//! - Nothing is ever pending: `pending-uploads` is empty.
//! - Nothing is encrypted: `server-side-encryption` is checked and otherwise ignored.
//! - Every bucket exists: opening a store on one makes it. `create-bucket` succeeds (as S3
//!   does in us-east-1 for a bucket you own), `delete-bucket` only checks it is empty.

mod bindings {
    wit_bindgen::generate!({
        world: "wasm-storages:components/memory@0.1.0",
        path: ["../../wit", "../../wit/components"],
        with: {
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
        },
        additional_type_attributes: {
            "wasm-storages:storage/types@0.2.0/attributes": [#[derive(Default)]],
        },
    });
}

#[path = "../../../src/keys.rs"]
#[allow(dead_code)] // its SigV4 encoding is the S3 component's business
mod keys;
#[path = "../../../src/precondition.rs"]
mod precondition;
#[path = "../../../src/quote.rs"]
mod quote;
#[path = "../../../src/rules.rs"]
mod rules;

/// The key rule's verdict, as this backend's WIT error.
impl From<keys::InvalidKey> for Error {
    fn from(e: keys::InvalidKey) -> Error {
        Error::InvalidKey(e.0)
    }
}

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use bindings::exports::wasm_storages::storage::storage::{self as wit, GuestListing, GuestObjectBody, GuestStore, GuestWriter};
use bindings::exports::wasm_storages::storage::types::{
    Attributes, ByteRange, Config, CopyOptions, Entry, Error, GetOptions, InfoOptions, ListOptions, ObjectVersion, PendingUpload, PresignMethod, PutOptions,
    ReadConditions, ServerSideEncryption, ServiceError, Span, StoredFile, UrlOptions, WriteCondition,
};
use md5::Digest as _;
use wasip2::clocks::wall_clock::{self, Datetime};
use wasip2::io::streams::{InputStream, StreamError};

const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
const DEFAULT_EXPIRY: u64 = 3600;
const PAGE: usize = 1000;

struct Memory;

bindings::export!(Memory with_types_in bindings);

impl bindings::exports::wasm_storages::storage::storage::Guest for Memory {
    type Store = Store;
    type ObjectBody = ObjectBody;
    type Listing = Listing;
    type Writer = Writer;
}

#[derive(Clone)]
struct Object {
    data: Rc<Vec<u8>>,
    content_type: String,
    metadata: Vec<(String, String)>,
    attributes: Attributes,
    tags: Vec<(String, String)>,
    etag: String,
    last_modified: Datetime,
}

/// Full key → object, in key order (listings come out sorted, as S3's do).
type Bucket = Rc<RefCell<BTreeMap<String, Object>>>;

thread_local! {
    /// Every bucket of this instance, by name.
    static BUCKETS: RefCell<HashMap<String, Bucket>> = RefCell::default();
}

struct Store {
    name: String,
    bucket: Bucket,
    prefix: String,
    expiry: u64,
    /// A customer key (SSE-C) was configured: as on S3, no presigned URL can carry it.
    customer_key: bool,
}

fn invalid_argument(why: impl Into<String>) -> Error {
    Error::InvalidArgument(why.into())
}

impl Store {
    fn full(&self, key: &str) -> Result<String, Error> {
        Ok(keys::full_key(&self.prefix, key)?)
    }

    fn object(&self, key: &str) -> Result<Object, Error> {
        let full = self.full(key)?;
        self.bucket.borrow().get(&full).cloned().ok_or_else(|| Error::NotFound(key.to_string()))
    }

    fn file(&self, key: &str, object: &Object) -> StoredFile {
        StoredFile {
            key: key.to_string(),
            size: object.data.len() as u64,
            content_type: Some(object.content_type.clone()),
            etag: Some(object.etag.clone()),
            last_modified: Some(object.last_modified),
            metadata: object.metadata.clone(),
            attributes: object.attributes.clone(),
            version_id: None,
            tags: object.tags.clone(),
        }
    }

    /// The object under `key` if `conditions` hold for it, as S3 judges them. Memory keeps
    /// no versions: each object is version `null`, as in a bucket that never kept any.
    fn object_if(&self, key: &str, conditions: &ReadConditions, version_id: Option<&str>) -> Result<Object, Error> {
        if let Some(id) = version_id {
            rules::version_id(id).map_err(invalid_argument)?;
            if id != "null" {
                return Err(Error::NotFound(key.to_string()));
            }
        }
        // Checked before the lookup, as the S3 component checks them before any request.
        for (name, list) in [("if-match", &conditions.if_match), ("if-none-match", &conditions.if_none_match)] {
            if let Some(list) = list {
                precondition::etag_list(list).map_err(|why| invalid_argument(format!("{name} {why}")))?;
            }
        }
        let object = self.object(key)?;
        let asked = precondition::Asked {
            if_match: conditions.if_match.as_deref(),
            if_none_match: conditions.if_none_match.as_deref(),
            if_modified_since: conditions.if_modified_since.map(|d| d.seconds),
            if_unmodified_since: conditions.if_unmodified_since.map(|d| d.seconds),
        };
        match precondition::judge(&asked, Some(&object.etag), Some(object.last_modified.seconds)) {
            precondition::Verdict::Proceed => Ok(object),
            precondition::Verdict::PreconditionFailed => Err(Error::PreconditionFailed(key.to_string())),
            precondition::Verdict::NotModified => Err(Error::NotModified(key.to_string())),
        }
    }

    /// Checks what a put is given (as the S3 component does, before reading any data).
    fn check_put(&self, key: &str, options: &PutOptions) -> Result<String, Error> {
        let full = self.full(key)?;
        if let Some(t) = &options.content_type {
            rules::content_type(t).map_err(invalid_argument)?;
        }
        rules::metadata_names(&options.metadata).map_err(invalid_argument)?;
        rules::metadata_size(options.metadata.iter().map(|(k, v)| k.len() + rules::metadata_value_len(v)).sum()).map_err(invalid_argument)?;
        if let Some(WriteCondition::IfMatch(etag)) = &options.condition {
            rules::etag(etag).map_err(|why| invalid_argument(format!("if-match {why}")))?;
        }
        check_attributes(&options.attributes)?;
        rules::tags(&options.tags).map_err(invalid_argument)?;
        Ok(full)
    }

    /// Stores `data` under `key` if the options' size and condition allow.
    fn store(&self, key: &str, full: String, data: Vec<u8>, options: PutOptions) -> Result<StoredFile, Error> {
        if let Some(n) = options.size.filter(|n| *n != data.len() as u64) {
            return Err(invalid_argument(format!("the data holds {} bytes, not the {n} its size says; nothing was stored", data.len())));
        }
        let mut bucket = self.bucket.borrow_mut();
        match (&options.condition, bucket.get(&full)) {
            (Some(WriteCondition::IfAbsent), Some(_)) => return Err(Error::AlreadyExists(key.to_string())),
            (Some(WriteCondition::IfMatch(etag)), current) if current.is_none_or(|o| Ok(o.etag.trim_matches('"')) != rules::etag(etag)) => {
                return Err(Error::PreconditionFailed(key.to_string()));
            }
            _ => {}
        }
        let mut metadata: Vec<(String, String)> = options.metadata.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        metadata.sort();
        let object = Object {
            etag: format!("\"{}\"", hex(&md5::Md5::digest(&data))),
            data: Rc::new(data),
            content_type: options.content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into()),
            metadata,
            attributes: options.attributes,
            tags: options.tags,
            last_modified: wall_clock::now(),
        };
        let file = self.file(key, &object);
        bucket.insert(full, object);
        Ok(file)
    }
}

/// Appends `chunk`, or says memory ran out (an error, never an abort).
fn append(buffer: &mut Vec<u8>, chunk: &[u8]) -> Result<(), Error> {
    buffer
        .try_reserve(chunk.len())
        .map_err(|_| Error::Transport(format!("out of memory after {} bytes: the memory backend holds every object whole", buffer.len())))?;
    buffer.extend_from_slice(chunk);
    Ok(())
}

/// The S3 component's rule for attributes: header values of their own.
fn check_attributes(attributes: &Attributes) -> Result<(), Error> {
    let texts = [
        ("cache-control", &attributes.cache_control),
        ("content-disposition", &attributes.content_disposition),
        ("content-encoding", &attributes.content_encoding),
        ("content-language", &attributes.content_language),
        ("x-amz-storage-class", &attributes.storage_class),
    ];
    for (name, text) in texts {
        if let Some(text) = text {
            rules::header_text(text).map_err(|why| invalid_argument(format!("{name} {why}")))?;
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl GuestStore for Store {
    fn open(config: Config) -> Result<wit::Store, Error> {
        rules::bucket(&config.bucket).map_err(Error::InvalidConfig)?;
        let prefix = keys::store_prefix(config.prefix.as_deref().unwrap_or_default()).map_err(Error::InvalidConfig)?;
        let expiry = config.presigned_expiry.unwrap_or(DEFAULT_EXPIRY);
        rules::expiry(expiry).map_err(|why| Error::InvalidConfig(format!("presigned-expiry {why}")))?;
        // Settings of S3's that mean nothing in memory are still checked, as the S3 component
        // checks them, so a config that works here works there.
        if let Some(size) = config.copy_part_size.filter(|n| !(5 << 20..=5 << 30).contains(n)) {
            return Err(Error::InvalidConfig(format!("copy-part-size is {size} bytes; it must be 5 MiB (5242880) to 5 GiB (5368709120)")));
        }
        if let Some(ServerSideEncryption::CustomerKey(key)) = &config.server_side_encryption
            && key.len() != 32
        {
            return Err(Error::InvalidConfig(format!("server-side-encryption's customer key is {} bytes; SSE-C keys are 32 (AES-256)", key.len())));
        }
        let bucket = BUCKETS.with(|b| b.borrow_mut().entry(config.bucket.clone()).or_default().clone());
        let customer_key = matches!(config.server_side_encryption, Some(ServerSideEncryption::CustomerKey(_)));
        Ok(wit::Store::new(Store { name: config.bucket, bucket, prefix, expiry, customer_key }))
    }

    fn put(&self, key: String, data: Vec<u8>, options: PutOptions) -> Result<StoredFile, Error> {
        let full = self.check_put(&key, &options)?;
        self.store(&key, full, data, options)
    }

    fn put_stream(&self, key: String, data: InputStream, options: PutOptions) -> Result<StoredFile, Error> {
        let full = self.check_put(&key, &options)?;
        let mut bytes = Vec::new();
        loop {
            match data.blocking_read(1 << 20) {
                Ok(chunk) => append(&mut bytes, &chunk)?,
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(Error::Transport(format!("reading the data to upload failed: {}", e.to_debug_string())));
                }
            }
        }
        self.store(&key, full, bytes, options)
    }

    fn writer(&self, key: String, options: PutOptions) -> Result<wit::Writer, Error> {
        let full = self.check_put(&key, &options)?;
        let store =
            Store { name: self.name.clone(), bucket: self.bucket.clone(), prefix: self.prefix.clone(), expiry: self.expiry, customer_key: self.customer_key };
        Ok(wit::Writer::new(Writer(RefCell::new(Some((store, key, full, options, Vec::new()))))))
    }

    fn get(&self, key: String, options: GetOptions) -> Result<wit::ObjectBody, Error> {
        let object = self.object_if(&key, &options.conditions, options.version_id.as_deref())?;
        let size = object.data.len() as u64;
        let span = match options.range {
            None => None,
            Some(range) => Some(serve_range(range, size)?),
        };
        let info = self.file(&key, &object);
        let at = span.map_or(0, |s| s.start);
        Ok(wit::ObjectBody::new(ObjectBody { info, range: span, data: object.data, at: RefCell::new(at) }))
    }

    fn get_bytes(&self, key: String) -> Result<Vec<u8>, Error> {
        Ok(self.object(&key)?.data.to_vec())
    }

    fn info(&self, key: String, options: InfoOptions) -> Result<StoredFile, Error> {
        let object = self.object_if(&key, &options.conditions, options.version_id.as_deref())?;
        Ok(self.file(&key, &object))
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        match self.object(&key) {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        let full = self.full(&key)?;
        self.bucket.borrow_mut().remove(&full);
        Ok(())
    }

    fn delete_many(&self, keys: Vec<String>) -> Result<Vec<(String, Error)>, Error> {
        let mut failed = Vec::new();
        for key in keys {
            if let Err(e) = self.delete(key.clone()) {
                failed.push((key, e));
            }
        }
        Ok(failed)
    }

    fn list(&self, prefix: String, options: ListOptions) -> Result<wit::Listing, Error> {
        let full_prefix = keys::full_list_prefix(&self.prefix, &prefix)?;
        if let Some(d) = &options.delimiter
            && (d.is_empty() || d.len() > 64 || d.chars().any(char::is_control))
        {
            return Err(invalid_argument(format!("delimiter {d:?} must be 1 to 64 bytes without control characters")));
        }
        let after = options.start_after.as_deref().map(|a| keys::full_list_prefix(&self.prefix, a)).transpose()?;
        // A snapshot, as a listing of a bucket being written may or may not see the writes.
        let mut entries: Vec<Entry> = Vec::new();
        for (full, object) in self.bucket.borrow().range(full_prefix.clone()..).take_while(|(k, _)| k.starts_with(&full_prefix)) {
            let Some(key) = full.strip_prefix(&self.prefix) else { continue };
            // With a delimiter, a key with one after the listed prefix counts into its folder.
            let folder = options.delimiter.as_deref().and_then(|d| full[full_prefix.len()..].find(d).map(|at| &full[..full_prefix.len() + at + d.len()]));
            // As S3: what is listed (the key, or its folder) must come after `start-after`.
            if after.as_deref().is_some_and(|a| folder.unwrap_or(full.as_str()) <= a) {
                continue;
            }
            match folder {
                Some(folder) => {
                    let folder = &folder[self.prefix.len()..];
                    if !matches!(entries.last(), Some(Entry::Folder(f)) if f == folder) {
                        entries.push(Entry::Folder(folder.to_string()));
                    }
                }
                // S3's listings carry no content type, metadata or attributes.
                None => entries.push(Entry::File(StoredFile {
                    content_type: None,
                    metadata: Vec::new(),
                    attributes: Attributes::default(),
                    tags: Vec::new(),
                    ..self.file(key, object)
                })),
            }
        }
        entries.truncate(options.limit.map_or(usize::MAX, |l| l as usize));
        Ok(wit::Listing::new(Listing(RefCell::new(entries.into_iter()))))
    }

    fn list_versions(&self, prefix: String, options: ListOptions) -> Result<wit::Listing, Error> {
        let listing = self.list(prefix, options)?;
        let entries: Vec<Entry> = listing
            .get::<Listing>()
            .0
            .borrow_mut()
            .by_ref()
            .map(|entry| match entry {
                Entry::File(f) => Entry::Version(ObjectVersion {
                    key: f.key,
                    version_id: "null".into(),
                    is_latest: true,
                    is_delete_marker: false,
                    size: f.size,
                    etag: f.etag,
                    last_modified: f.last_modified,
                }),
                other => other,
            })
            .collect();
        Ok(wit::Listing::new(Listing(RefCell::new(entries.into_iter()))))
    }

    fn delete_version(&self, key: String, version_id: String) -> Result<(), Error> {
        rules::version_id(&version_id).map_err(invalid_argument)?;
        match version_id.as_str() {
            "null" => self.delete(key),
            // No other version exists: deleting a missing one succeeds, as on S3.
            _ => self.full(&key).map(drop),
        }
    }

    fn url(&self, key: String, options: UrlOptions) -> Result<String, Error> {
        let full = self.full(&key)?;
        if self.customer_key {
            return Err(Error::Unsupported("a presigned URL can't carry the store's customer key (SSE-C): its holder would have to send the key".into()));
        }
        let expires_in = options.expires_in.unwrap_or(self.expiry);
        rules::expiry(expires_in).map_err(|why| invalid_argument(format!("expires-in {why}")))?;
        let overrides = [&options.response_cache_control, &options.response_content_disposition, &options.response_content_type];
        for text in overrides.into_iter().flatten() {
            if options.method == Some(PresignMethod::Put) {
                return Err(invalid_argument("response headers only apply to a GET URL"));
            }
            rules::header_text(text).map_err(|why| invalid_argument(format!("a response header {why}")))?;
        }
        let method = match (options.method.unwrap_or(PresignMethod::Get), options.content_type) {
            (PresignMethod::Get, None) => "GET",
            (PresignMethod::Get, Some(_)) => return Err(invalid_argument("a content type can only be bound into a PUT URL")),
            (PresignMethod::Put, Some(t)) => {
                rules::content_type(&t).map_err(invalid_argument)?;
                "PUT"
            }
            (PresignMethod::Put, None) => "PUT",
        };
        Ok(format!("memory://{}/{}?method={method}&expires-in={expires_in}", self.name, keys::encode_path(&full)))
    }

    fn copy(&self, source: String, destination: String, options: CopyOptions) -> Result<StoredFile, Error> {
        // The S3 component's rule: never onto a key a normalizing server folds into the source.
        keys::full_pair(&self.prefix, &source, &destination)?;
        let mut object = self.object(&source)?;
        if source == destination && options.replace.is_none() {
            // As S3: a copy onto itself unchanged changes nothing.
            return Ok(self.file(&destination, &object));
        }
        if let Some(new) = options.replace {
            let put =
                PutOptions { content_type: new.content_type, metadata: new.metadata, size: None, condition: None, attributes: new.attributes, tags: new.tags };
            self.check_put(&destination, &put)?;
            let mut metadata: Vec<(String, String)> = put.metadata.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
            metadata.sort();
            object.content_type = put.content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into());
            object.metadata = metadata;
            object.attributes = put.attributes;
            object.tags = put.tags;
        }
        let full = self.full(&destination)?;
        let object = Object { last_modified: wall_clock::now(), ..object };
        let file = self.file(&destination, &object);
        self.bucket.borrow_mut().insert(full, object);
        Ok(file)
    }

    fn move_(&self, source: String, destination: String) -> Result<StoredFile, Error> {
        let file = self.copy(source.clone(), destination.clone(), CopyOptions { replace: None })?;
        if source != destination {
            self.delete(source)?;
        }
        Ok(file)
    }

    fn pending_uploads(&self, prefix: String) -> Result<Vec<PendingUpload>, Error> {
        keys::full_list_prefix(&self.prefix, &prefix)?;
        Ok(Vec::new())
    }

    fn abort_upload(&self, key: String, upload_id: String) -> Result<(), Error> {
        self.full(&key)?;
        rules::upload_id(&upload_id).map_err(invalid_argument)?;
        // No upload is ever pending here, so there is none by that id.
        Err(Error::NotFound(key))
    }

    fn create_bucket(&self) -> Result<(), Error> {
        Ok(())
    }

    fn delete_bucket(&self) -> Result<(), Error> {
        if self.bucket.borrow().is_empty() {
            return Ok(());
        }
        Err(Error::Service(ServiceError {
            status: 409,
            code: "BucketNotEmpty".into(),
            message: format!("the bucket {} is not empty", self.name),
            request_id: None,
        }))
    }
}

/// The bytes `range` asks for of an object of `size` bytes, as S3 serves them.
fn serve_range(range: ByteRange, size: u64) -> Result<Span, Error> {
    let span = match range {
        ByteRange::Span(Span { start, end }) if start >= end => return Err(invalid_argument(format!("range {start}..{end} is empty"))),
        ByteRange::Last(0) => return Err(invalid_argument("a range of the last 0 bytes is empty")),
        ByteRange::Span(Span { start, end }) => Span { start, end: end.min(size) },
        ByteRange::StartingAt(start) => Span { start, end: size },
        ByteRange::Last(n) => Span { start: size.saturating_sub(n), end: size },
    };
    if span.start >= size {
        return Err(Error::RangeNotSatisfiable(Some(size)));
    }
    Ok(span)
}

struct ObjectBody {
    info: StoredFile,
    range: Option<Span>,
    data: Rc<Vec<u8>>,
    /// The next byte `read` returns.
    at: RefCell<u64>,
}

impl GuestObjectBody for ObjectBody {
    fn info(&self) -> StoredFile {
        self.info.clone()
    }

    fn range(&self) -> Option<Span> {
        self.range
    }

    fn stream(&self) -> Result<InputStream, Error> {
        Err(Error::Unsupported("the memory backend can't make a wasi:io stream of its bytes (streams come from the host); use read".into()))
    }

    fn read(&self, max: u64) -> Result<Vec<u8>, Error> {
        let end = self.range.map_or(self.data.len() as u64, |s| s.end);
        let mut at = self.at.borrow_mut();
        let next = at.saturating_add(max.max(1)).min(end);
        let chunk = self.data[*at as usize..next as usize].to_vec();
        *at = next;
        Ok(chunk)
    }
}

struct Listing(RefCell<std::vec::IntoIter<Entry>>);

impl GuestListing for Listing {
    fn next_page(&self) -> Result<Option<Vec<Entry>>, Error> {
        let page: Vec<Entry> = self.0.borrow_mut().by_ref().take(PAGE).collect();
        Ok((!page.is_empty()).then_some(page))
    }
}

/// An upload being written: the store, key, full key, options and bytes so far.
type Pending = (Store, String, String, PutOptions, Vec<u8>);

/// An upload being written: kept until `finish` (dropping it stores nothing).
struct Writer(RefCell<Option<Pending>>);

impl GuestWriter for Writer {
    fn write(&self, data: Vec<u8>) -> Result<(), Error> {
        match &mut *self.0.borrow_mut() {
            Some((.., buffer)) => append(buffer, &data),
            None => Err(Error::Transport("this writer is finished".into())),
        }
    }

    fn finish(&self) -> Result<StoredFile, Error> {
        let (store, key, full, options, data) = self.0.borrow_mut().take().ok_or_else(|| Error::Transport("this writer is finished".into()))?;
        store.store(&key, full, data, options)
    }
}
