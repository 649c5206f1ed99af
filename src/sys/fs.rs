//! Reading a small file (credentials, a web identity token) by absolute path through
//! wasi:filesystem's preopens (none in the `proxy` build) — directly,
//! not through `std::fs`, which links wasi-libc's path emulation (8 KB of the component,
//! measured).

/// Why a file could not be read.
#[derive(Debug)]
pub enum FileError {
    /// No such file, or no preopened directory holds the path: to a component both mean
    /// "not found", so neither is an error for optional files.
    Missing,
    /// The file is there and could not be read (or is too big, or not UTF-8).
    #[cfg_attr(all(target_arch = "wasm32", feature = "proxy"), allow(dead_code))]
    Unreadable(String),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The `proxy` build has no filesystem: say so rather than "not found".
            FileError::Missing if cfg!(all(target_arch = "wasm32", feature = "proxy")) => f.write_str("not read: the proxy build has no filesystem"),
            FileError::Missing => f.write_str("not found"),
            FileError::Unreadable(why) => f.write_str(why),
        }
    }
}

/// Credential files are small; this bounds what a wrong path can make us read.
#[cfg_attr(all(target_arch = "wasm32", feature = "proxy"), allow(dead_code))]
const MAX_FILE: usize = 1 << 20;

#[cfg(all(target_arch = "wasm32", not(feature = "proxy")))]
pub fn read_to_string(path: &str) -> Result<String, FileError> {
    use wasip2::filesystem::types::{DescriptorFlags, ErrorCode, OpenFlags, PathFlags};
    use wasip2::io::streams::StreamError;

    // The preopen with the longest path that contains `path`.
    let dirs = wasip2::filesystem::preopens::get_directories();
    let (dir, relative) = dirs
        .iter()
        .filter_map(|(dir, root)| {
            let root = root.trim_end_matches('/');
            let rest = if root.is_empty() { path.strip_prefix('/') } else { path.strip_prefix(root)?.strip_prefix('/') }?;
            Some((root.len(), dir, rest))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, dir, rest)| (dir, rest))
        // Outside every preopened directory, the file does not exist for this component:
        // the host shows it nothing there (storage-host preopens the directory of every
        // file named, made absolute, that exists).
        .ok_or(FileError::Missing)?;
    let file = dir.open_at(PathFlags::SYMLINK_FOLLOW, relative, OpenFlags::empty(), DescriptorFlags::READ).map_err(|e| match e {
        ErrorCode::NoEntry => FileError::Missing,
        other => FileError::Unreadable(other.name().to_string()),
    })?;
    let stream = file.read_via_stream(0).map_err(|e| FileError::Unreadable(e.name().to_string()))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_FILE {
                    return Err(FileError::Unreadable(format!("larger than {MAX_FILE} bytes")));
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(FileError::Unreadable(e.to_debug_string())),
        }
    }
    String::from_utf8(bytes).map_err(|_| FileError::Unreadable("not UTF-8".into()))
}

/// The `proxy` build imports no filesystem: to it, every file is missing (credentials come
/// from the config or the runtime config).
#[cfg(all(target_arch = "wasm32", feature = "proxy"))]
pub fn read_to_string(_path: &str) -> Result<String, FileError> {
    Err(FileError::Missing)
}

/// Native builds (unit tests) read through std.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_to_string(path: &str) -> Result<String, FileError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.len() > MAX_FILE => Err(FileError::Unreadable(format!("larger than {MAX_FILE} bytes"))),
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(FileError::Missing),
        Err(e) => Err(FileError::Unreadable(e.to_string())),
    }
}
