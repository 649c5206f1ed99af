//! `outgoing-value` (a value being written: a scratch file, uploaded at `finish`) and
//! `incoming-value` (an object, or part of one, being read).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasip2::io::streams::{InputStream, OutputStream};

use crate::bindings::exports::wasi::blobstore::types::{Guest, GuestIncomingValue, GuestOutgoingValue, IncomingValue, OutgoingValue};
use crate::bindings::wasm_storages::storage::storage::{ObjectBody, Store};
use crate::bindings::wasm_storages::storage::types::{Error, PutOptions};
use crate::container::CHUNK;
use crate::spool::Spool;
use crate::{Blobstore, describe};

impl Guest for Blobstore {
    type OutgoingValue = Outgoing;
    type IncomingValue = Incoming;
}

pub struct Outgoing {
    /// Why there is none, when no scratch file could be made: `finish` says so.
    spool: Result<Spool, String>,
    body_taken: Cell<bool>,
    /// Where `write-data` said to store it: store, container name, object name.
    targets: RefCell<Vec<(Rc<Store>, String, String)>>,
}

impl Outgoing {
    pub fn add_target(&self, store: Rc<Store>, container: &str, name: String) {
        self.targets.borrow_mut().push((store, container.to_string(), name));
    }
}

impl GuestOutgoingValue for Outgoing {
    fn new_outgoing_value() -> OutgoingValue {
        OutgoingValue::new(Outgoing { spool: Spool::create(), body_taken: Cell::new(false), targets: RefCell::default() })
    }

    /// The standard's error here carries nothing; `finish` then says what went wrong.
    fn outgoing_value_write_body(&self) -> Result<OutputStream, ()> {
        if self.body_taken.replace(true) {
            return Err(());
        }
        self.spool.as_ref().map_err(drop)?.writer().map_err(drop)
    }

    /// Uploads what was written to every name `write-data` gave (none: nothing is stored),
    /// in that order. Each upload is whole or absent, as `put-stream` is; a failure stops
    /// there, and says which names before it were written.
    fn finish(this: OutgoingValue) -> Result<(), String> {
        let value: Outgoing = this.into_inner();
        let targets = value.targets.into_inner();
        if targets.is_empty() {
            return Ok(());
        }
        let spool = value.spool?;
        let size = spool.size()?;
        let mut written: Vec<String> = Vec::new();
        for (store, container, name) in targets {
            let options = PutOptions { size: Some(size), ..Default::default() };
            let stored = spool.reader().and_then(|data| store.put_stream(&name, data, &options).map_err(|e| describe(&e)));
            if let Err(why) = stored {
                let before = match written.is_empty() {
                    true => String::new(),
                    false => format!(" ({} written before it: {})", written.len(), written.join(", ")),
                };
                return Err(format!("writing {name} to container {container}: {why}{before}"));
            }
            written.push(format!("{name} in {container}"));
        }
        Ok(())
    }
}

thread_local! {
    /// Downloads whose stream was handed out. The stream is a child of the download (the
    /// response body it reads): the download must outlive it, and nothing says when the
    /// caller drops the stream, so these stay until the instance ends. Each holds only the
    /// response's handle; the connection goes with the stream.
    static STREAMED: RefCell<Vec<ObjectBody>> = RefCell::default();
}

/// The most `consume-sync` reads into memory (as `get-bytes` does): 1 GiB.
const MAX_SYNC: u64 = 1 << 30;

pub struct Incoming {
    body: ObjectBody,
}

pub fn incoming(body: ObjectBody) -> IncomingValue {
    IncomingValue::new(Incoming { body })
}

impl Incoming {
    fn read_all(&self, mut each: impl FnMut(Vec<u8>) -> Result<(), String>) -> Result<(), String> {
        loop {
            // `read` checks the bytes: the length always, a whole object's checksum too.
            let chunk = self.body.read(CHUNK).map_err(|e| describe(&e))?;
            if chunk.is_empty() {
                return Ok(());
            }
            each(chunk)?;
        }
    }
}

impl GuestIncomingValue for Incoming {
    fn incoming_value_consume_sync(this: IncomingValue) -> Result<Vec<u8>, String> {
        let value: Incoming = this.into_inner();
        let size = value.size();
        let too_big = || format!("{size} bytes are too many to read into memory: use incoming-value-consume-async");
        // The storage API's `get-bytes` limit: what would grow the instance's memory for
        // good, and be copied again into the caller's, is streamed instead.
        if size > MAX_SYNC {
            return Err(too_big());
        }
        let mut bytes = Vec::new();
        // At most 1 GiB (checked above): the cast loses nothing.
        bytes.try_reserve_exact(size as usize).map_err(|_| too_big())?;
        value.read_all(|chunk| {
            let _: () = bytes.extend_from_slice(&chunk);
            Ok(())
        })?;
        Ok(bytes)
    }

    /// The S3 backend's response stream itself (the bytes never enter this component); a
    /// backend that can't stream (the memory one) is read into a scratch file first.
    fn incoming_value_consume_async(this: IncomingValue) -> Result<InputStream, String> {
        let value: Incoming = this.into_inner();
        match value.body.stream() {
            Ok(stream) => {
                STREAMED.with(|s| s.borrow_mut().push(value.body));
                Ok(stream)
            }
            Err(Error::Unsupported(_)) => {
                let spool = Spool::create()?;
                value.read_all(|chunk| spool.append(&chunk))?;
                spool.reader()
            }
            Err(e) => Err(describe(&e)),
        }
    }

    fn size(&self) -> u64 {
        match self.body.range() {
            Some(span) => span.end - span.start,
            None => self.body.info().size,
        }
    }
}
