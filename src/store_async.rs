//! The WASI 0.3 adapter: `wasm-storages:storage@0.3.0`'s `store`, `object-body`, `listing`
//! and `writer` as `async func`s. Each awaits the module that does the work (the same
//! modules as the 0.2 adapter, `store`), so many calls are in flight at once on one
//! instance; bodies are `stream<u8>`s. The component's error becomes the WIT `error` here.

use std::cell::{Cell, RefCell, RefMut};
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::bindings::exports::wasm_storages::storage0_3_0::storage::{self as wit, GuestListing, GuestObjectBody, GuestStore, GuestWriter};
use crate::bindings::{wit_future, wit_stream};
use crate::buckets;
use crate::config::{self, Settings};
use crate::copies;
use crate::error::invalid_argument;
use crate::listing;
use crate::multipart;
use crate::objects;
use crate::sys;
use crate::sys::io::InputStream;
use crate::types::{Config, CopyOptions, Entry, Error, GetOptions, InfoOptions, ListOptions, PendingUpload, PutOptions, Span, StoredFile, UrlOptions};
use crate::upload;
use wit_bindgen::{FutureReader, StreamReader};

/// A checked stream hands the bytes on in chunks of at most this size.
const CHUNK: u64 = 1 << 20;

pub struct Store {
    settings: Rc<Settings>,
}

impl GuestStore for Store {
    async fn open(config: Config) -> Result<wit::Store, Error> {
        Ok(wit::Store::new(Store { settings: Rc::new(config::open(config)?) }))
    }

    async fn put(&self, key: String, data: Vec<u8>, options: PutOptions) -> Result<StoredFile, Error> {
        Ok(objects::put(&self.settings, key, &data, options).await?)
    }

    async fn put_stream(&self, key: String, data: InputStream, options: PutOptions) -> Result<StoredFile, Error> {
        Ok(upload::put_stream(&self.settings, key, data, options).await?)
    }

    async fn writer(&self, key: String, options: PutOptions) -> Result<wit::Writer, Error> {
        let state = Rc::new(WriterState { writer: RefCell::new(upload::Writer::new(&self.settings, key, options).await?), dropped: Cell::new(false), waker: Cell::new(None) });
        // Keeps this call's task alive until the writer is dropped, to abort an upload left
        // unfinished: a destructor can't wait on the network.
        let keeper = state.clone();
        sys::detach(async move {
            std::future::poll_fn(|cx| match keeper.dropped.get() {
                true => Poll::Ready(()),
                false => {
                    keeper.waker.set(Some(cx.waker().clone()));
                    Poll::Pending
                }
            })
            .await;
            if let Ok(mut writer) = keeper.writer.try_borrow_mut() {
                let _ = writer.abort().await;
            }
        });
        Ok(wit::Writer::new(Writer(state)))
    }

    async fn get(&self, key: String, options: GetOptions) -> Result<wit::ObjectBody, Error> {
        Ok(wit::ObjectBody::new(ObjectBody(RefCell::new(Some(objects::get(&self.settings, key, options).await?)))))
    }

    async fn get_bytes(&self, key: String) -> Result<Vec<u8>, Error> {
        Ok(objects::get_bytes(&self.settings, key).await?)
    }

    async fn info(&self, key: String, options: InfoOptions) -> Result<StoredFile, Error> {
        Ok(objects::info(&self.settings, key, &options.conditions, options.version_id.as_deref()).await?)
    }

    async fn exists(&self, key: String) -> Result<bool, Error> {
        Ok(objects::exists(&self.settings, key).await?)
    }

    async fn delete(&self, key: String) -> Result<(), Error> {
        Ok(objects::delete(&self.settings, key).await?)
    }

    async fn delete_version(&self, key: String, version_id: String) -> Result<(), Error> {
        Ok(objects::delete_version(&self.settings, key, &version_id).await?)
    }

    async fn delete_many(&self, keys: Vec<String>) -> Result<Vec<(String, Error)>, Error> {
        Ok(objects::delete_many(&self.settings, keys).await.into_iter().map(|(k, e)| (k, e.into())).collect())
    }

    async fn list(&self, prefix: String, options: ListOptions) -> Result<wit::Listing, Error> {
        Ok(wit::Listing::new(Listing(RefCell::new(listing::Listing::new(self.settings.clone(), &prefix, options)?))))
    }

    async fn list_versions(&self, prefix: String, options: ListOptions) -> Result<wit::Listing, Error> {
        Ok(wit::Listing::new(Listing(RefCell::new(listing::Listing::versions(self.settings.clone(), &prefix, options)?))))
    }

    async fn url(&self, key: String, options: UrlOptions) -> Result<String, Error> {
        Ok(objects::url(&self.settings, key, options).await?)
    }

    async fn copy(&self, source: String, destination: String, options: CopyOptions) -> Result<StoredFile, Error> {
        Ok(copies::copy(&self.settings, &source, &destination, &options).await?)
    }

    async fn move_(&self, source: String, destination: String) -> Result<StoredFile, Error> {
        Ok(copies::move_(&self.settings, source, destination).await?)
    }

    async fn pending_uploads(&self, prefix: String) -> Result<Vec<PendingUpload>, Error> {
        Ok(listing::pending_uploads(&self.settings, &prefix).await?)
    }

    async fn abort_upload(&self, key: String, upload_id: String) -> Result<(), Error> {
        Ok(multipart::abort_pending(&self.settings, &key, &upload_id).await?)
    }

    async fn create_bucket(&self) -> Result<(), Error> {
        Ok(buckets::create(&self.settings).await?)
    }

    async fn delete_bucket(&self) -> Result<(), Error> {
        Ok(buckets::delete(&self.settings).await?)
    }
}

/// One call at a time on a resource that holds a transfer's state: a second is refused,
/// never a trap.
fn one_at_a_time<'a, T>(cell: &'a RefCell<T>, what: &str) -> Result<RefMut<'a, T>, Error> {
    cell.try_borrow_mut().map_err(|_| invalid_argument(format!("another call on this {what} is running; one at a time")).into())
}

/// `store.writer`'s resource (the upload itself is in `upload.rs`).
pub struct Writer(Rc<WriterState>);

struct WriterState {
    writer: RefCell<upload::Writer>,
    /// Set when the resource is dropped; the keeper task then aborts what is unfinished.
    dropped: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl GuestWriter for Writer {
    async fn write(&self, data: Vec<u8>) -> Result<(), Error> {
        Ok(one_at_a_time(&self.0.writer, "writer")?.write(&data).await?)
    }

    async fn finish(&self) -> Result<StoredFile, Error> {
        Ok(one_at_a_time(&self.0.writer, "writer")?.finish().await?)
    }

    async fn abort(&self) -> Result<(), Error> {
        Ok(one_at_a_time(&self.0.writer, "writer")?.abort().await?)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.0.dropped.set(true);
        if let Some(waker) = self.0.waker.take() {
            waker.wake();
        }
    }
}

/// `store.get`'s resource (the download itself is `objects::Download`); empty once a
/// checked stream took it.
pub struct ObjectBody(RefCell<Option<objects::Download>>);

impl ObjectBody {
    fn download(&self) -> Result<RefMut<'_, objects::Download>, Error> {
        let body = one_at_a_time(&self.0, "object-body")?;
        RefMut::filter_map(body, Option::as_mut).map_err(|_| invalid_argument("the body was taken by `checked-stream`").into())
    }
}

impl GuestObjectBody for ObjectBody {
    fn info(&self) -> StoredFile {
        self.0.try_borrow().ok().and_then(|d| d.as_ref().map(|d| d.info.clone())).unwrap_or_default()
    }

    fn range(&self) -> Option<Span> {
        self.0.try_borrow().ok().and_then(|d| d.as_ref().and_then(|d| d.range))
    }

    fn stream(&self) -> Result<StreamReader<u8>, Error> {
        Ok(self.download()?.stream()?)
    }

    fn checked_stream(&self) -> Result<(StreamReader<u8>, FutureReader<Result<(), Error>>), Error> {
        let mut download = one_at_a_time(&self.0, "object-body")?.take().ok_or_else(|| Error::from(invalid_argument("the body was taken by `checked-stream`")))?;
        let (mut bytes, reader) = wit_stream::new::<u8>();
        let (verdict, verdict_reader) = wit_future::new::<Result<(), Error>>(|| Err(Error::Transport("the checked stream was cut short".into())));
        // The bytes go on after this call returns; the verdict once the stream has ended.
        sys::detach(async move {
            let outcome = loop {
                match download.read(CHUNK).await {
                    Ok(chunk) if chunk.is_empty() => break Ok(()),
                    Ok(chunk) => {
                        if !bytes.write_all(chunk).await.is_empty() {
                            break Err(crate::error::transport("the reader dropped the stream"));
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            drop(bytes);
            let _ = verdict.write(outcome.map_err(Error::from)).await;
        });
        Ok((reader, verdict_reader))
    }

    async fn read(&self, max: u64) -> Result<Vec<u8>, Error> {
        Ok(self.download()?.read(max).await?)
    }
}

/// `store.list`'s resource (the listing itself is `listing::Listing`).
pub struct Listing(RefCell<listing::Listing>);

impl GuestListing for Listing {
    async fn next_page(&self) -> Result<Option<Vec<Entry>>, Error> {
        Ok(one_at_a_time(&self.0, "listing")?.next_page().await?)
    }
}
