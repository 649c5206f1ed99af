//! The WASI 0.3 backend: wasi:http@0.3's client, `stream<u8>` bodies, clocks that are
//! futures. The core's futures run on wit-bindgen's executor, which each async export
//! drives; nothing here blocks.

pub mod http;
pub mod io;
mod reader;
pub mod time;

/// Runs `future` to its end in the background, after the export that started it returned
/// (a writer dropped mid-upload still aborts its upload).
pub fn detach(future: impl std::future::Future<Output = ()> + 'static) {
    drop(wasip3::spawn_local(future));
}
