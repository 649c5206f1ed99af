//! `container` (a bucket, through a store) and `stream-object-names` (a listing).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::bindings::exports::wasi::blobstore::container::{Container, Guest, GuestContainer, GuestStreamObjectNames, StreamObjectNames};
use crate::bindings::exports::wasi::blobstore::types::{ContainerMetadata, IncomingValue, ObjectId, ObjectMetadata, OutgoingValueBorrow};
use crate::bindings::wasm_storages::storage::storage::{Listing, Store};
use crate::bindings::wasm_storages::storage::types::{ByteRange, CopyOptions, Entry, Error, GetOptions, InfoOptions, ListOptions, PutOptions, Span};
use crate::value::{self, Outgoing};
use crate::{Blobstore, describe, open};

/// What `read` asks of the backend at a time: a bounded amount of guest memory.
pub const CHUNK: u64 = 1 << 20;

impl Guest for Blobstore {
    type Container = Bucket;
    type StreamObjectNames = Names;
}

pub struct Bucket {
    name: String,
    store: Rc<Store>,
}

pub fn new(name: String, store: Rc<Store>) -> Container {
    Container::new(Bucket { name, store })
}

impl Bucket {
    fn error(&self, object: &str, e: Error) -> String {
        format!("{} in container {}: {}", object, self.name, describe(&e))
    }
}

impl GuestContainer for Bucket {
    fn name(&self) -> Result<String, String> {
        Ok(self.name.clone())
    }

    /// S3 tells a bucket's creation date only in ListBuckets, which keys scoped to one
    /// bucket are commonly refused: `created-at` is 0, "unknown".
    fn info(&self) -> Result<ContainerMetadata, String> {
        Ok(ContainerMetadata { name: self.name.clone(), created_at: 0 })
    }

    fn get_data(&self, name: String, start: u64, end: u64) -> Result<IncomingValue, String> {
        if end < start {
            return Err(format!("get-data of {name}: the end ({end}) is before the start ({start})"));
        }
        let range = match (start, end) {
            (0, u64::MAX) => None,
            (start, u64::MAX) => Some(ByteRange::StartingAt(start)),
            (start, end) => Some(ByteRange::Span(Span { start, end: end + 1 })),
        };
        let body = match self.store.get(&name, &GetOptions { range, ..Default::default() }) {
            Ok(body) => body,
            // An empty object has no byte 0, so S3 refuses every range of it; asked from the
            // start, it is the empty value. (Not every server says the size in its refusal.)
            Err(Error::RangeNotSatisfiable(size)) if start == 0 && size.is_none_or(|n| n == 0) => {
                let whole = self.store.get(&name, &GetOptions::default()).map_err(|e| self.error(&name, e))?;
                match whole.info().size {
                    0 => whole,
                    _ => return Err(self.error(&name, Error::RangeNotSatisfiable(size))),
                }
            }
            Err(e) => return Err(self.error(&name, e)),
        };
        Ok(value::incoming(body))
    }

    fn write_data(&self, name: String, data: OutgoingValueBorrow<'_>) -> Result<(), String> {
        data.get::<Outgoing>().add_target(self.store.clone(), &self.name, name);
        Ok(())
    }

    fn list_objects(&self) -> Result<StreamObjectNames, String> {
        let listing = self.store.list("", &ListOptions::default()).map_err(|e| self.error("listing", e))?;
        Ok(StreamObjectNames::new(Names { listing, buffered: RefCell::default(), done: Cell::new(false), failed: RefCell::default() }))
    }

    fn delete_object(&self, name: String) -> Result<(), String> {
        self.store.delete(&name).map_err(|e| self.error(&name, e))
    }

    fn delete_objects(&self, names: Vec<String>) -> Result<(), String> {
        delete_all(&self.store, &self.name, names)
    }

    fn has_object(&self, name: String) -> Result<bool, String> {
        self.store.exists(&name).map_err(|e| self.error(&name, e))
    }

    fn object_info(&self, name: String) -> Result<ObjectMetadata, String> {
        let file = self.store.info(&name, &InfoOptions::default()).map_err(|e| self.error(&name, e))?;
        // Objects are written whole and never changed: the last write made this one.
        let created_at = file.last_modified.map_or(0, |t| t.seconds);
        Ok(ObjectMetadata { name, container: self.name.clone(), created_at, size: file.size })
    }

    fn clear(&self) -> Result<(), String> {
        clear(&self.store, &self.name)
    }
}

/// Deletes every object a listing of `store` finds, a page (≤1,000) at a time.
pub fn clear(store: &Store, container: &str) -> Result<(), String> {
    let listing = store.list("", &ListOptions::default()).map_err(|e| describe(&e))?;
    while let Some(page) = listing.next_page().map_err(|e| format!("listing container {container}: {}", describe(&e)))? {
        delete_all(store, container, page.into_iter().filter_map(file_name).collect())?;
    }
    Ok(())
}

fn delete_all(store: &Store, container: &str, names: Vec<String>) -> Result<(), String> {
    let total = names.len();
    let failed = store.delete_many(&names).map_err(|e| format!("deleting from container {container}: {}", describe(&e)))?;
    if failed.is_empty() {
        return Ok(());
    }
    let why: Vec<String> = failed.iter().map(|(name, e)| format!("{name}: {}", describe(e))).collect();
    Err(format!("{} of {total} objects in container {container} were not deleted: {}", failed.len(), why.join("; ")))
}

/// `copy-object`: server-side within a container; across containers (buckets) the bytes
/// pass through the component, checked on the way (`object-body.read`), in 1 MiB pieces.
pub fn copy(src: &ObjectId, dest: &ObjectId) -> Result<(), String> {
    let what = format!("copying {}/{} to {}/{}", src.container, src.object, dest.container, dest.object);
    let source = open(&src.container)?;
    if src.container == dest.container {
        return source.copy(&src.object, &dest.object, &CopyOptions::default()).map(drop).map_err(|e| format!("{what}: {}", describe(&e)));
    }
    let target = open(&dest.container)?;
    // The standard wants an error for a missing target container; some servers would
    // make the bucket on the first PUT into it (s3s-fs does).
    if !crate::bucket_exists(&target, &dest.container)? {
        return Err(format!("{what}: container {} does not exist", dest.container));
    }
    let body = source.get(&src.object, &GetOptions::default()).map_err(|e| format!("{what}: {}", describe(&e)))?;
    let info = body.info();
    let options = PutOptions {
        content_type: info.content_type,
        metadata: info.metadata,
        size: Some(info.size),
        condition: None,
        attributes: info.attributes,
        tags: info.tags,
    };
    let writer = target.writer(&dest.object, &options).map_err(|e| format!("{what}: {}", describe(&e)))?;
    loop {
        let chunk = body.read(CHUNK).map_err(|e| format!("{what}: {}", describe(&e)))?;
        if chunk.is_empty() {
            break;
        }
        writer.write(&chunk).map_err(|e| format!("{what}: {}", describe(&e)))?;
    }
    writer.finish().map(drop).map_err(|e| format!("{what}: {}", describe(&e)))
}

/// A listing's names, buffered a page at a time.
pub struct Names {
    listing: Listing,
    buffered: RefCell<VecDeque<String>>,
    done: Cell<bool>,
    /// A failed fetch not yet reported (the names before it went out first). It is
    /// reported once; the next call asks the backend again, for the same page.
    failed: RefCell<Option<String>>,
}

impl Names {
    /// Fetches pages until `want` names are buffered or the listing ends.
    fn fill(&self, want: u64) -> Result<(), String> {
        while (self.buffered.borrow().len() as u64) < want && !self.done.get() {
            if let Some(why) = self.failed.take() {
                return Err(why);
            }
            match self.listing.next_page().map_err(|e| format!("listing: {}", describe(&e)))? {
                Some(page) => self.buffered.borrow_mut().extend(page.into_iter().filter_map(file_name)),
                None => self.done.set(true),
            }
        }
        Ok(())
    }

    /// Whether nothing is left; fetches the next page when it takes that to know. A failed
    /// fetch says "not yet" and is kept for the next call to report.
    fn ended(&self) -> bool {
        if self.failed.borrow().is_some() {
            return false;
        }
        match self.fill(1) {
            Ok(()) => self.buffered.borrow().is_empty(),
            Err(why) => {
                *self.failed.borrow_mut() = Some(why);
                false
            }
        }
    }
}

impl GuestStreamObjectNames for Names {
    /// Names fetched before a failure go out first; the failure with the next call.
    fn read_stream_object_names(&self, len: u64) -> Result<(Vec<String>, bool), String> {
        let filled = self.fill(len);
        let names: Vec<String> = {
            let mut buffered = self.buffered.borrow_mut();
            let n = buffered.len().min(usize::try_from(len).unwrap_or(usize::MAX));
            buffered.drain(..n).collect()
        };
        if let Err(why) = filled {
            if names.is_empty() {
                return Err(why);
            }
            *self.failed.borrow_mut() = Some(why);
        }
        Ok((names, self.ended()))
    }

    fn skip_stream_object_names(&self, num: u64) -> Result<(u64, bool), String> {
        let mut skipped = 0;
        // A page at a time: skipping a million names holds at most one page of them.
        while skipped < num {
            if let Err(why) = self.fill(1) {
                // What was skipped stays skipped: say so, and the error next time.
                if skipped == 0 {
                    return Err(why);
                }
                *self.failed.borrow_mut() = Some(why);
                return Ok((skipped, false));
            }
            let mut buffered = self.buffered.borrow_mut();
            if buffered.is_empty() {
                break;
            }
            let n = buffered.len().min(usize::try_from(num - skipped).unwrap_or(usize::MAX));
            buffered.drain(..n);
            skipped += n as u64;
        }
        Ok((skipped, self.ended()))
    }
}

/// A listing entry's object name (a listing without a delimiter has no folders).
fn file_name(entry: Entry) -> Option<String> {
    match entry {
        Entry::File(file) => Some(file.key),
        Entry::Folder(_) | Entry::Version(_) => None,
    }
}
