//! `blob`: a command-line component that knows only the standard `wasi:blobstore` WIT (the
//! upstream files, unchanged). Composed with the wasm-storages blobstore adapter and a
//! backend, it reads and writes S3 (or memory):
//!
//! ```text
//! blob put CONTAINER NAME            < data      store stdin, streamed
//! blob get CONTAINER NAME [START END] > data     print an object (or bytes START..=END)
//! blob ls CONTAINER                              list names, one per line
//! blob info CONTAINER NAME                       "NAME SIZE CREATED-AT"
//! blob rm CONTAINER NAME...                      delete objects
//! blob cp|mv SRC-CONTAINER SRC DEST-CONTAINER DEST
//! blob mb|rb CONTAINER                           make / remove (empty and delete) a container
//! ```
//!
//! Errors go to stderr, with exit status 1.

wit_bindgen::generate!({ world: "cli", path: "wit", generate_all });

use std::io::{Read, Write};

use wasi::blobstore::blobstore;
use wasi::blobstore::container::Container;
use wasi::blobstore::types::{IncomingValue, ObjectId, OutgoingValue};
use wasi::io::streams::StreamError;

/// `blocking-write-and-flush` takes at most 4,096 bytes at a time.
const WRITE: usize = 4096;
const READ: u64 = 64 << 10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Err(e) = run(&args) {
        eprintln!("blob: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[&str]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match args {
        ["put", container, name] => put(&get_container(container)?, name),
        ["get", container, name] => get(&get_container(container)?, name, 0, u64::MAX),
        ["get", container, name, start, end] => get(&get_container(container)?, name, number(start)?, number(end)?),
        ["ls", container] => {
            let names = get_container(container)?.list_objects()?;
            loop {
                let (batch, end) = names.read_stream_object_names(100)?;
                for name in batch {
                    writeln!(out, "{name}").map_err(|e| e.to_string())?;
                }
                if end {
                    return Ok(());
                }
            }
        }
        ["info", container, name] => {
            let info = get_container(container)?.object_info(name.as_ref())?;
            writeln!(out, "{} {} {}", info.name, info.size, info.created_at).map_err(|e| e.to_string())
        }
        ["rm", container, names @ ..] => get_container(container)?.delete_objects(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>()),
        [op @ ("cp" | "mv"), src_container, src, dest_container, dest] => {
            let (src, dest) = (id(src_container, src), id(dest_container, dest));
            if *op == "cp" { blobstore::copy_object(&src, &dest) } else { blobstore::move_object(&src, &dest) }
        }
        ["mb", container] => blobstore::create_container(container).map(drop),
        ["rb", container] => blobstore::delete_container(container),
        _ => Err("usage: blob put|get|ls|info|rm|cp|mv|mb|rb ... (see the source's header)".into()),
    }
}

fn get_container(name: &str) -> Result<Container, String> {
    blobstore::get_container(name)
}

fn id(container: &str, object: &str) -> ObjectId {
    ObjectId { container: container.to_string(), object: object.to_string() }
}

fn number(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("{text:?} is not a byte offset"))
}

/// Stdin into a value, then `write-data` and `finish`.
fn put(container: &Container, name: &str) -> Result<(), String> {
    let value = OutgoingValue::new_outgoing_value();
    container.write_data(name, &value)?;
    let body = value.outgoing_value_write_body().map_err(|()| "the blobstore gave no body stream".to_string())?;
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0; WRITE];
    loop {
        let n = stdin.read(&mut buf).map_err(|e| format!("reading stdin: {e}"))?;
        if n == 0 {
            break;
        }
        body.blocking_write_and_flush(&buf[..n]).map_err(|e| stream_error("writing the value", e))?;
    }
    drop(body); // the stream is the value's child: gone before `finish`
    OutgoingValue::finish(value)
}

/// An object (bytes `start..=end`) to stdout, through `consume-async`'s stream.
fn get(container: &Container, name: &str, start: u64, end: u64) -> Result<(), String> {
    let value = container.get_data(name, start, end)?;
    let stream = IncomingValue::incoming_value_consume_async(value)?;
    let mut out = std::io::stdout().lock();
    loop {
        match stream.blocking_read(READ) {
            Ok(chunk) => out.write_all(&chunk).map_err(|e| format!("writing stdout: {e}"))?,
            Err(StreamError::Closed) => return out.flush().map_err(|e| e.to_string()),
            Err(e) => return Err(stream_error("reading the value", e)),
        }
    }
}

fn stream_error(what: &str, e: StreamError) -> String {
    match e {
        StreamError::LastOperationFailed(e) => format!("{what}: {}", e.to_debug_string()),
        StreamError::Closed => format!("{what}: the stream closed"),
    }
}
