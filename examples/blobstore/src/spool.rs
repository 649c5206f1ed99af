//! Scratch files, for bytes that need a host stream before their length is known.

use std::cell::Cell;

use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, OpenFlags, PathFlags};
use wasip2::io::streams::{InputStream, OutputStream};

const DEFAULT_DIR: &str = "/tmp";

pub struct Spool {
    /// `None` only while dropping: closed before the leftover is unlinked.
    file: Option<Descriptor>,
    /// Bytes appended so far (`append`).
    len: Cell<u64>,
    /// The directory and name, when the file could not be unlinked at once (not POSIX).
    leftover: Option<(Descriptor, String)>,
}

impl Spool {
    /// A new empty file in the scratch directory (`BLOBSTORE_SCRATCH_DIR`, else `/tmp`,
    /// which the host must preopen writable).
    pub fn create() -> Result<Spool, String> {
        let path = crate::env("BLOBSTORE_SCRATCH_DIR").unwrap_or_else(|| DEFAULT_DIR.into());
        let dir = get_directories().into_iter().find(|(_, p)| *p == path).map(|(d, _)| d).ok_or_else(|| {
            format!("no scratch directory: the host must preopen {path} writable (or BLOBSTORE_SCRATCH_DIR must name a writable preopen), to hold values being written")
        })?;
        let random = || wasip2::random::random::get_random_u64();
        let name = format!(".wasi-blobstore-{:016x}{:016x}", random(), random());
        let file = dir
            .open_at(PathFlags::empty(), &name, OpenFlags::CREATE | OpenFlags::EXCLUSIVE, DescriptorFlags::READ | DescriptorFlags::WRITE)
            .map_err(|e| format!("making a scratch file in {path}: {e:?}"))?;
        // POSIX keeps an unlinked file while it is open: unlinked now, it can't be left
        // behind, not even by an instance that is killed.
        let leftover = dir.unlink_file_at(&name).is_err().then_some((dir, name));
        Ok(Spool { file: Some(file), len: Cell::new(0), leftover })
    }

    fn file(&self) -> &Descriptor {
        self.file.as_ref().expect("open until dropped")
    }

    pub fn writer(&self) -> Result<OutputStream, String> {
        self.file().write_via_stream(0).map_err(|e| format!("writing the scratch file: {e:?}"))
    }

    pub fn append(&self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            let n = self.file().write(data, self.len.get()).map_err(|e| format!("writing the scratch file: {e:?}"))?;
            self.len.set(self.len.get() + n);
            data = &data[n as usize..];
        }
        Ok(())
    }

    pub fn reader(&self) -> Result<InputStream, String> {
        self.file().read_via_stream(0).map_err(|e| format!("reading the scratch file: {e:?}"))
    }

    pub fn size(&self) -> Result<u64, String> {
        Ok(self.file().stat().map_err(|e| format!("the scratch file: {e:?}"))?.size)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // Closed first: a system that refused to unlink an open file may allow it now.
        self.file = None;
        if let Some((dir, name)) = &self.leftover {
            let _ = dir.unlink_file_at(name);
        }
    }
}
