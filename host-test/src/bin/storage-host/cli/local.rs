//! Local files: where a download goes, the partial file it is written to, and the file an
//! upload reads. Errors name the path.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::output::{Problem, local};

/// Where `get KEY DEST` writes, as `cp` does: into DEST/<KEY's last segment> when DEST is
/// a directory (`.`, `..`, an existing one, or anything ending in `/`), else DEST itself.
pub fn download_path(key: &str, dest: &str) -> Result<PathBuf, Problem> {
    let path = Path::new(dest);
    let is_dir = dest.ends_with('/') || matches!(dest, "." | "..") || path.ends_with(".") || path.ends_with("..") || path.is_dir();
    if !is_dir {
        return Ok(path.to_path_buf());
    }
    let name = key.rsplit('/').next().filter(|n| !n.is_empty() && *n != "." && *n != "..");
    let Some(name) = name else {
        return Err(Problem::Usage(format!("{key:?} has no file name to save under in {dest}: give a file path")));
    };
    Ok(path.join(name))
}

/// A download being written: under a temporary name beside its destination, renamed into
/// place once complete. Dropped unfinished (an error, an interrupt), the file is removed,
/// and the directories made for it: nothing is ever left, under either name.
pub struct Partial {
    file: Option<std::io::BufWriter<tempfile::NamedTempFile>>,
    dest: PathBuf,
    /// The outermost directory made for this download, if any.
    made: Option<PathBuf>,
}

impl Partial {
    pub fn create(dest: PathBuf) -> Result<Partial, Problem> {
        if dest.is_dir() {
            return Err(Problem::Usage(format!("{} is a directory", dest.display())));
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let made = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).last().map(Path::to_path_buf);
        std::fs::create_dir_all(&dir).map_err(|e| local(dir.display(), e))?;
        let mut partial = Partial { file: None, dest, made };
        let name = partial.dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Mode 0666 less the umask, as a file `create`d there would have (tempfile's own is 0600).
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(|e| local(dir.display(), e))?;
        partial.file = Some(std::io::BufWriter::new(file));
        Ok(partial)
    }

    pub fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        match &mut self.file {
            Some(file) => file.write_all(chunk),
            None => Err(std::io::Error::other("the download was already finished")),
        }
    }

    /// Renames the complete file into place.
    pub fn finish(mut self) -> Result<(), Problem> {
        let dest = self.dest.clone();
        let Some(file) = self.file.take() else { return Err(Problem::Local(format!("{}: not written", dest.display()))) };
        let file = file.into_inner().map_err(|e| local(dest.display(), e.into_error()))?;
        file.persist(&dest).map_err(|e| local(dest.display(), e.error))?;
        self.made = None;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        // The temporary file goes first (NamedTempFile removes itself), then the directories
        // made for it, if they are still empty.
        drop(self.file.take());
        if let Some(made) = &self.made {
            let mut dir = self.dest.parent();
            while let Some(d) = dir {
                if std::fs::remove_dir(d).is_err() || d == made {
                    break;
                }
                dir = d.parent();
            }
        }
    }
}

/// Signal handlers that could not be installed.
pub fn signals(e: &std::io::Error) -> Problem {
    Problem::Local(format!("signals: {e}"))
}

/// The file `put` uploads, with its size: a directory is a usage error, not a read that
/// fails halfway.
pub async fn open_upload(path: &str) -> Result<(tokio::fs::File, u64), Problem> {
    let file = tokio::fs::File::open(path).await.map_err(|e| local(path, e))?;
    let meta = file.metadata().await.map_err(|e| local(path, e))?;
    if meta.is_dir() {
        return Err(Problem::Usage(format!("{path} is a directory: put uploads one file")));
    }
    Ok((file, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_take_the_keys_last_segment() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        assert_eq!(download_path("a/b/report.txt", d).unwrap(), dir.path().join("report.txt"));
        assert_eq!(download_path("report.txt", &format!("{d}/new/")).unwrap(), dir.path().join("new/report.txt"));
        assert_eq!(download_path("a/x.bin", ".").unwrap(), Path::new(".").join("x.bin"));
        assert_eq!(download_path("a/x.bin", &format!("{d}/file.out")).unwrap(), dir.path().join("file.out"));
    }

    #[test]
    fn a_partial_file_is_gone_unless_finished() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        let mut partial = Partial::create(dest.clone()).unwrap();
        partial.write(b"half").unwrap();
        drop(partial);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing left behind");
        let mut partial = Partial::create(dest.clone()).unwrap();
        partial.write(b"whole").unwrap();
        partial.finish().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let created = dir.path().join("created");
        std::fs::File::create(&created).unwrap();
        assert_eq!(mode(&dest), mode(&created), "the mode a created file gets (umask applied), not 0600");
    }

    #[test]
    fn directories_made_for_a_failed_download_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a/b/out.bin");
        let partial = Partial::create(dest.clone()).unwrap();
        assert!(dir.path().join("a/b").is_dir());
        drop(partial);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a/b made and removed");
        let mut partial = Partial::create(dest.clone()).unwrap();
        partial.write(b"kept").unwrap();
        partial.finish().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"kept");
    }
}
