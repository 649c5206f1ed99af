//! Local files: where a download goes, the partial file it is written to, and the file an
//! upload reads. Errors name the path.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::output::{local, Problem};

/// Where `get KEY DEST` writes, as `cp` does: into DEST/<KEY's last segment> when DEST is
/// a directory (`.`, `..`, an existing one, or anything ending in `/`, made if need be),
/// else DEST itself.
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
    if !path.is_dir() {
        std::fs::create_dir_all(path).map_err(|e| local(dest, e))?;
    }
    Ok(path.join(name))
}

/// A download being written: under a temporary name beside its destination, renamed into
/// place once complete. Dropped unfinished (an error, an interrupt), the file is removed:
/// nothing partial is ever left, under either name.
pub struct Partial {
    file: std::io::BufWriter<tempfile::NamedTempFile>,
    dest: PathBuf,
}

impl Partial {
    pub fn create(dest: PathBuf) -> Result<Partial, Problem> {
        if dest.is_dir() {
            return Err(Problem::Usage(format!("{} is a directory", dest.display())));
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let file = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".part").tempfile_in(dir).map_err(|e| local(dir.display(), e))?;
        Ok(Partial { file: std::io::BufWriter::new(file), dest })
    }

    pub fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.file.write_all(chunk)
    }

    /// Renames the complete file into place.
    pub fn finish(self) -> Result<(), Problem> {
        let Partial { file, dest } = self;
        let file = file.into_inner().map_err(|e| local(dest.display(), e.into_error()))?;
        file.persist(&dest).map_err(|e| local(dest.display(), e.error))?;
        Ok(())
    }
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
        assert!(dir.path().join("new").is_dir());
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
    }
}
