//! The WIT adapter: the exported `store`, `object-body`, `listing` and `writer` resources.
//! Each method hands its arguments to the module that does the work, runs it to its end
//! (`block_on`: WASI 0.2 exports are synchronous) and turns the component's error into the
//! WIT `error` here, at the export boundary.

use std::cell::RefCell;
use std::rc::Rc;

use crate::bindings::exports::wasm_storages::storage::storage::{self as wit, GuestListing, GuestObjectBody, GuestStore, GuestWriter};
use crate::buckets;
use crate::config::{self, Settings};
use crate::copies;
use crate::listing;
use crate::multipart;
use crate::objects;
use crate::sys::block_on;
use crate::sys::io::InputStream;
use crate::types::{Config, CopyOptions, Entry, Error, GetOptions, InfoOptions, ListOptions, PendingUpload, PutOptions, Span, StoredFile, UrlOptions};
use crate::upload;

pub struct Store {
    settings: Rc<Settings>,
}

impl GuestStore for Store {
    fn open(config: Config) -> Result<wit::Store, Error> {
        Ok(wit::Store::new(Store { settings: Rc::new(config::open(config)?) }))
    }

    fn put(&self, key: String, data: Vec<u8>, options: PutOptions) -> Result<StoredFile, Error> {
        Ok(block_on(objects::put(&self.settings, key, &data, options))?)
    }

    fn put_stream(&self, key: String, data: InputStream, options: PutOptions) -> Result<StoredFile, Error> {
        Ok(block_on(upload::put_stream(&self.settings, key, data, options))?)
    }

    fn writer(&self, key: String, options: PutOptions) -> Result<wit::Writer, Error> {
        Ok(wit::Writer::new(Writer(RefCell::new(block_on(upload::Writer::new(&self.settings, key, options))?))))
    }

    fn get(&self, key: String, options: GetOptions) -> Result<wit::ObjectBody, Error> {
        Ok(wit::ObjectBody::new(ObjectBody(RefCell::new(block_on(objects::get(&self.settings, key, options))?))))
    }

    fn get_bytes(&self, key: String) -> Result<Vec<u8>, Error> {
        Ok(block_on(objects::get_bytes(&self.settings, key))?)
    }

    fn info(&self, key: String, options: InfoOptions) -> Result<StoredFile, Error> {
        Ok(block_on(objects::info(&self.settings, key, &options.conditions, options.version_id.as_deref()))?)
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        Ok(block_on(objects::exists(&self.settings, key))?)
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        Ok(block_on(objects::delete(&self.settings, key))?)
    }

    fn delete_version(&self, key: String, version_id: String) -> Result<(), Error> {
        Ok(block_on(objects::delete_version(&self.settings, key, &version_id))?)
    }

    fn list_versions(&self, prefix: String, options: ListOptions) -> Result<wit::Listing, Error> {
        Ok(wit::Listing::new(Listing(RefCell::new(listing::Listing::versions(self.settings.clone(), &prefix, options)?))))
    }

    fn delete_many(&self, keys: Vec<String>) -> Result<Vec<(String, Error)>, Error> {
        Ok(block_on(objects::delete_many(&self.settings, keys)).into_iter().map(|(k, e)| (k, e.into())).collect())
    }

    fn list(&self, prefix: String, options: ListOptions) -> Result<wit::Listing, Error> {
        Ok(wit::Listing::new(Listing(RefCell::new(listing::Listing::new(self.settings.clone(), &prefix, options)?))))
    }

    fn url(&self, key: String, options: UrlOptions) -> Result<String, Error> {
        Ok(block_on(objects::url(&self.settings, key, options))?)
    }

    fn copy(&self, source: String, destination: String, options: CopyOptions) -> Result<StoredFile, Error> {
        Ok(block_on(copies::copy(&self.settings, &source, &destination, &options))?)
    }

    fn pending_uploads(&self, prefix: String) -> Result<Vec<PendingUpload>, Error> {
        Ok(block_on(listing::pending_uploads(&self.settings, &prefix))?)
    }

    fn abort_upload(&self, key: String, upload_id: String) -> Result<(), Error> {
        Ok(block_on(multipart::abort_pending(&self.settings, &key, &upload_id))?)
    }

    fn create_bucket(&self) -> Result<(), Error> {
        Ok(block_on(buckets::create(&self.settings))?)
    }

    fn delete_bucket(&self) -> Result<(), Error> {
        Ok(block_on(buckets::delete(&self.settings))?)
    }

    fn move_(&self, source: String, destination: String) -> Result<StoredFile, Error> {
        Ok(block_on(copies::move_(&self.settings, source, destination))?)
    }
}

/// `store.writer`'s resource (the upload itself is in `upload.rs`).
pub struct Writer(RefCell<upload::Writer>);

/// A writer dropped unfinished aborts its upload: nothing is left.
impl Drop for Writer {
    fn drop(&mut self) {
        let _ = block_on(self.0.get_mut().abort());
    }
}

impl GuestWriter for Writer {
    fn write(&self, data: Vec<u8>) -> Result<(), Error> {
        Ok(block_on(self.0.borrow_mut().write(&data))?)
    }

    fn finish(&self) -> Result<StoredFile, Error> {
        Ok(block_on(self.0.borrow_mut().finish())?)
    }
}

/// `store.get`'s resource (the download itself is `objects::Download`).
pub struct ObjectBody(RefCell<objects::Download>);

impl GuestObjectBody for ObjectBody {
    fn info(&self) -> StoredFile {
        self.0.borrow().info.clone()
    }

    fn range(&self) -> Option<Span> {
        self.0.borrow().range
    }

    fn stream(&self) -> Result<InputStream, Error> {
        Ok(self.0.borrow_mut().stream()?)
    }

    fn read(&self, max: u64) -> Result<Vec<u8>, Error> {
        Ok(block_on(self.0.borrow_mut().read(max))?)
    }
}

/// `store.list`'s resource (the listing itself is `listing::Listing`).
pub struct Listing(RefCell<listing::Listing>);

impl GuestListing for Listing {
    fn next_page(&self) -> Result<Option<Vec<Entry>>, Error> {
        Ok(block_on(self.0.borrow_mut().next_page())?)
    }
}
