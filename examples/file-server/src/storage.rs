//! The storage calls the handlers make, as `async fn`s whichever WASI: the 0.3 API's are
//! async already (many in flight on one instance); the 0.2 API's return when done (their
//! waits block inside the call), so here they are futures that are ready at once.

// The calls are written once for both: 0.3's take owned arguments, which 0.2's borrow.
#![cfg_attr(not(feature = "p3"), allow(clippy::unnecessary_to_owned))]

use crate::types::{Config, Entry, Error, GetOptions, InfoOptions, ListOptions, PutOptions, StoredFile, UrlOptions};
use crate::wasi::api;

pub struct Store(pub(crate) api::Store);
pub struct ObjectBody(pub(crate) api::ObjectBody);
pub struct Writer(api::Writer);
pub struct Listing(api::Listing);

/// `target.method(args)`: 0.2's borrow their (owned) arguments and return when done; 0.3's
/// take them and are awaited.
#[cfg(not(feature = "p3"))]
macro_rules! call {
    ($target:expr, $method:ident($($arg:expr),*)) => {
        $target.$method($(&$arg),*)
    };
}
#[cfg(feature = "p3")]
macro_rules! call {
    ($target:expr, $method:ident($($arg:expr),*)) => {
        $target.$method($($arg),*).await
    };
}

impl Store {
    pub async fn open(config: &Config) -> Result<Store, Error> {
        #[cfg(not(feature = "p3"))]
        let store = api::Store::open(config);
        #[cfg(feature = "p3")]
        let store = api::Store::open(config.clone()).await;
        store.map(Store)
    }

    pub async fn info(&self, key: &str, options: InfoOptions) -> Result<StoredFile, Error> {
        call!(self.0, info(key.to_string(), options))
    }

    pub async fn exists(&self, key: &str) -> Result<bool, Error> {
        call!(self.0, exists(key.to_string()))
    }

    pub async fn url(&self, key: &str, options: UrlOptions) -> Result<String, Error> {
        call!(self.0, url(key.to_string(), options))
    }

    pub async fn get(&self, key: &str, options: GetOptions) -> Result<ObjectBody, Error> {
        call!(self.0, get(key.to_string(), options)).map(ObjectBody)
    }

    pub async fn list(&self, prefix: &str, options: ListOptions) -> Result<Listing, Error> {
        call!(self.0, list(prefix.to_string(), options)).map(Listing)
    }

    pub async fn move_(&self, source: &str, destination: &str) -> Result<StoredFile, Error> {
        call!(self.0, move_(source.to_string(), destination.to_string()))
    }

    pub async fn writer(&self, key: &str, options: PutOptions) -> Result<Writer, Error> {
        call!(self.0, writer(key.to_string(), options)).map(Writer)
    }
}

impl ObjectBody {
    pub fn info(&self) -> StoredFile {
        self.0.info()
    }

    pub fn range(&self) -> Option<crate::types::Span> {
        self.0.range()
    }
}

impl Writer {
    pub async fn write(&self, data: &[u8]) -> Result<(), Error> {
        call!(self.0, write(data.to_vec()))
    }

    /// Dropped unfinished, a writer aborts its upload: nothing is stored.
    pub async fn finish(self) -> Result<StoredFile, Error> {
        call!(self.0, finish())
    }
}

impl Listing {
    pub async fn next_page(&self) -> Result<Option<Vec<Entry>>, Error> {
        call!(self.0, next_page())
    }
}
