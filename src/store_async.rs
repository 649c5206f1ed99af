//! The WASI 0.3 adapter: `wasm-storages:storage@0.3.0`'s `store`, `object-body`, `listing`
//! and `writer` as `async func`s. Each awaits the module that does the work (the same
//! modules as the 0.2 adapter, `store`), so many calls are in flight at once on one
//! instance; bodies are `stream<u8>`s. The component's error becomes the WIT `error` here.

use std::cell::RefCell;
use std::rc::Rc;

use crate::actor::Actor;
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

    async fn put_stream(&self, key: String, data: StreamReader<u8>, end: FutureReader<Result<(), String>>, options: PutOptions) -> Result<StoredFile, Error> {
        Ok(upload::put_stream(&self.settings, key, InputStream { data, end }, options).await?)
    }

    async fn writer(&self, key: String, options: PutOptions) -> Result<wit::Writer, Error> {
        let writer = upload::Writer::new(&self.settings, key, options).await?;
        // Dropped unfinished, the writer's upload is aborted by its task.
        Ok(wit::Writer::new(Writer(Actor::spawn(writer, async |writer: &mut upload::Writer| drop(writer.abort().await)))))
    }

    async fn get(&self, key: String, options: GetOptions) -> Result<wit::ObjectBody, Error> {
        let download = objects::get(&self.settings, key, options).await?;
        let (info, range) = (download.info.clone(), download.range);
        Ok(wit::ObjectBody::new(ObjectBody { info, range, download: Actor::spawn(Some(download), async |_: &mut Option<objects::Download>| {}) }))
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

/// `store.writer`'s resource (the upload itself is in `upload.rs`), kept by a task of its
/// own: its parts in flight go on between the caller's calls (`actor.rs`).
pub struct Writer(Actor<upload::Writer>);

impl GuestWriter for Writer {
    async fn write(&self, data: Vec<u8>) -> Result<(), Error> {
        Ok(self.0.run(async move |writer: &mut upload::Writer| writer.write(&data).await).await?)
    }

    async fn finish(&self) -> Result<StoredFile, Error> {
        Ok(self.0.run(async |writer: &mut upload::Writer| writer.finish().await).await?)
    }

    async fn abort(&self) -> Result<(), Error> {
        Ok(self.0.run(async |writer: &mut upload::Writer| writer.abort().await).await?)
    }
}

/// `store.get`'s resource (the download itself is `objects::Download`), kept by a task of
/// its own: a parallel download's ranges go on between the caller's `read`s. Empty once
/// `checked-stream` took the body; what the reply said stays.
pub struct ObjectBody {
    info: StoredFile,
    range: Option<Span>,
    download: Actor<Option<objects::Download>>,
}

impl ObjectBody {
    /// The download, for a call that takes it whole (a `read` is running: refused).
    fn take(&self, why: &str) -> Result<objects::Download, Error> {
        let mut state = self.download.state.try_borrow_mut().map_err(|_| Error::from(invalid_argument(format!("a `read` is running; {why}"))))?;
        match state.take() {
            Some(download) if !download.started() => Ok(download),
            Some(download) => {
                *state = Some(download);
                Err(invalid_argument(format!("the body is being read with `read`; {why}")).into())
            }
            None => Err(invalid_argument("the body was already taken by `checked-stream`").into()),
        }
    }
}

impl GuestObjectBody for ObjectBody {
    fn info(&self) -> StoredFile {
        self.info.clone()
    }

    fn range(&self) -> Option<Span> {
        self.range
    }

    fn stream(&self) -> Result<StreamReader<u8>, Error> {
        // In place: a download that can't hand its stream over (a parallel one) stays
        // readable, as in the 0.2 build.
        let mut state = self.download.state.try_borrow_mut().map_err(|_| Error::from(invalid_argument("a `read` is running; `stream` is instead of it")))?;
        match state.as_mut() {
            Some(download) => Ok(download.stream()?),
            None => Err(invalid_argument("the body was already taken by `checked-stream`").into()),
        }
    }

    async fn checked_stream(&self) -> Result<(StreamReader<u8>, FutureReader<Result<(), Error>>), Error> {
        let mut download = self.take("`checked-stream` is instead of it")?;
        let (mut bytes, reader) = wit_stream::new::<u8>();
        let (verdict, verdict_reader) = wit_future::new::<Result<(), Error>>(|| Err(Error::Transport("the checked stream was cut short".into())));
        // The bytes go on after this call returns, in a task of their own; the verdict once
        // the stream has ended.
        // The last byte waits for the verdict: a stream whose bytes fail their checks ends
        // short, which whoever it is passed on to sees (the body of a response the caller
        // made of it, its Content-Length unmet), not only whoever reads the future.
        sys::detach(async move {
            let mut held = None;
            let outcome = loop {
                match download.read(CHUNK).await {
                    Ok(chunk) if chunk.is_empty() => match held.take() {
                        Some(last) if !bytes.write_all(vec![last]).await.is_empty() => {
                            break Err(crate::error::transport("the reader dropped the stream"));
                        }
                        _ => break Ok(()),
                    },
                    Ok(mut chunk) => {
                        let last = chunk.pop();
                        if let Some(before) = std::mem::replace(&mut held, last) {
                            chunk.insert(0, before);
                        }
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
        self.download
            .run(async move |download: &mut Option<objects::Download>| match download {
                Some(download) => Ok(download.read(max).await?),
                None => Err(invalid_argument("the body was taken by `checked-stream`").into()),
            })
            .await
    }
}

/// `store.list`'s resource (the listing itself is `listing::Listing`).
pub struct Listing(RefCell<listing::Listing>);

impl GuestListing for Listing {
    // Held across the request on purpose: a second `next-page` meanwhile is refused.
    #[allow(clippy::await_holding_refcell_ref)]
    async fn next_page(&self) -> Result<Option<Vec<Entry>>, Error> {
        let mut listing =
            self.0.try_borrow_mut().map_err(|_| Error::from(invalid_argument("another `next-page` on this listing is running; one at a time")))?;
        Ok(listing.next_page().await?)
    }
}
