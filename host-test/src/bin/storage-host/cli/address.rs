//! What a command's arguments name: `s3://bucket/key` (a key in a bucket) or a local path,
//! and where a copy lands, by `aws s3 cp`'s rules.

use std::path::{Path, PathBuf};

use super::output::Problem;

/// One side of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Remote(Remote),
}

/// A key (or prefix) in a bucket; `bucket: None` is the one `--bucket` or S3_BUCKET names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub bucket: Option<String>,
    pub key: String,
}

impl Remote {
    /// `s3://bucket/key`, for messages; `bucket` fills in a missing one.
    pub fn show(&self, default_bucket: Option<&str>) -> String {
        format!("s3://{}/{}", self.bucket.as_deref().or(default_bucket).unwrap_or("?"), self.key)
    }

    pub fn with_key(&self, key: String) -> Remote {
        Remote { bucket: self.bucket.clone(), key }
    }

    /// The key as a folder: itself, ending in `/` unless it is empty (the whole bucket).
    pub fn as_folder(&self) -> Remote {
        self.with_key(folder(&self.key))
    }
}

/// `key` ending in `/` unless it is empty.
pub fn folder(key: &str) -> String {
    match key.is_empty() || key.ends_with('/') {
        true => key.to_string(),
        false => format!("{key}/"),
    }
}

/// `s3://bucket/key` if it says so, else `None`.
fn s3(arg: &str) -> Option<Result<Remote, Problem>> {
    let rest = arg.strip_prefix("s3://").or_else(|| arg.strip_prefix("S3://"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    Some(match bucket.is_empty() {
        true => Err(Problem::Usage(format!("{arg:?} names no bucket: write s3://BUCKET/KEY"))),
        false => Ok(Remote { bucket: Some(bucket.to_string()), key: key.to_string() }),
    })
}

/// An argument where a key is taken: `s3://bucket/key`, or a bare key in the default bucket.
pub fn key(arg: &str) -> Result<Remote, Problem> {
    s3(arg).unwrap_or_else(|| Ok(Remote { bucket: None, key: arg.to_string() }))
}

/// An argument of `cp`, `mv` or `sync`: `s3://…` is remote, anything else a local path
/// (`-` is stdin or stdout).
pub fn location(arg: &str) -> Result<Location, Problem> {
    match s3(arg) {
        Some(remote) => remote.map(Location::Remote),
        None => Ok(Location::Local(PathBuf::from(arg))),
    }
}

/// The key a single file is copied to: into the folder when the destination key is empty
/// or ends with `/` (under the source's last segment), else the key itself.
pub fn key_for(dest: &Remote, source_name: &str) -> Remote {
    match dest.key.is_empty() || dest.key.ends_with('/') {
        true => dest.with_key(format!("{}{source_name}", dest.key)),
        false => dest.clone(),
    }
}

/// The last segment of a key or path, which names the copy in a folder.
pub fn last_segment(name: &str) -> &str {
    name.trim_end_matches('/').rsplit('/').next().unwrap_or(name)
}

/// A local file's path relative to the directory being copied, as key segments joined with
/// `/`; a name that is not UTF-8 can't be a key.
pub fn relative_key(root: &Path, path: &Path) -> Result<String, String> {
    let relative = path.strip_prefix(root).map_err(|_| format!("{} is outside {}", path.display(), root.display()))?;
    let mut segments = Vec::new();
    for part in relative.components() {
        match part.as_os_str().to_str() {
            Some(s) => segments.push(s),
            None => return Err(format!("{}: the name is not UTF-8, so it can't be a key", path.display())),
        }
    }
    Ok(segments.join("/"))
}

/// Where a key's path below a folder goes under a local directory: `None` for a name no
/// local file can have (an empty, `.` or `..` segment, a folder marker ending in `/`).
pub fn local_path(root: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in relative.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\0') {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_addresses_and_bare_keys() {
        assert_eq!(key("s3://b/a/x.txt").unwrap(), Remote { bucket: Some("b".into()), key: "a/x.txt".into() });
        assert_eq!(key("s3://b").unwrap(), Remote { bucket: Some("b".into()), key: "".into() });
        assert_eq!(key("a/x.txt").unwrap(), Remote { bucket: None, key: "a/x.txt".into() });
        assert!(key("s3:///x").is_err());
        assert_eq!(location("./d/").unwrap(), Location::Local(PathBuf::from("./d/")));
        assert!(matches!(location("s3://b/p/").unwrap(), Location::Remote(_)));
    }

    #[test]
    fn copies_into_folders_take_the_last_segment() {
        let dest = key("s3://b/docs/").unwrap();
        assert_eq!(key_for(&dest, "x.txt").key, "docs/x.txt");
        assert_eq!(key_for(&key("s3://b").unwrap(), "x.txt").key, "x.txt");
        assert_eq!(key_for(&key("s3://b/y.txt").unwrap(), "x.txt").key, "y.txt");
        assert_eq!(last_segment("a/b/c.txt"), "c.txt");
        assert_eq!(folder("p"), "p/");
        assert_eq!(folder(""), "");
    }

    #[test]
    fn keys_that_cant_be_local_files_are_refused() {
        let root = Path::new("/tmp/r");
        assert_eq!(local_path(root, "a/b.txt"), Some(PathBuf::from("/tmp/r/a/b.txt")));
        for bad in ["a/../b", "../x", "a//b", "dir/", "./x", ""] {
            assert_eq!(local_path(root, bad), None, "{bad:?}");
        }
        assert_eq!(relative_key(Path::new("/r"), Path::new("/r/a/é.txt")).unwrap(), "a/é.txt");
    }
}
