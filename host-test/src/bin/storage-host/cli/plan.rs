//! What a recursive `cp`/`mv`/`rm` or a `sync` has to do: the files on each side (a local
//! tree walked, a remote folder listed through the component), the filters applied to
//! their paths below the folder, and for `sync` which are new or changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use host_test::{Entry, ListOptions, Storage};

use super::address;
use super::filters::Filters;
use super::output::{self, Problem};
use super::transfer::Action;

/// A file on one side, by its path below the folder.
#[derive(Debug, Clone)]
pub struct Found {
    pub size: u64,
    /// Seconds since the epoch.
    pub modified: u64,
    pub etag: Option<String>,
    /// Where it is: a local path, or a key.
    pub at: Place,
}

#[derive(Debug, Clone)]
pub enum Place {
    Local(PathBuf),
    Key(String),
}

/// What was found, by path below the folder; and what could not be read.
pub type Tree = BTreeMap<String, Found>;

/// Every file under the local directory `root` the filters choose. Unreadable entries and
/// names that can't be keys are reported in `problems` and skipped.
pub fn local_tree(root: &Path, filters: &Filters, problems: &mut Vec<String>) -> Tree {
    let mut tree = Tree::new();
    if !root.exists() {
        return tree;
    }
    // Symbolic links are followed, as aws-cli does by default.
    for entry in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                problems.push(output::terminal_safe(&e.to_string()).into_owned());
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = match address::relative_key(root, entry.path()) {
            Ok(relative) => relative,
            Err(why) => {
                problems.push(output::terminal_safe(&why).into_owned());
                continue;
            }
        };
        // A download in progress (ours, `.NAME.*.part`) is not a file yet.
        let name = address::last_segment(&relative);
        if name.starts_with('.') && name.ends_with(".part") {
            continue;
        }
        if !filters.chosen(&relative) {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) => {
                problems.push(format!("{}: {e}", entry.path().display()));
                continue;
            }
        };
        let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
        tree.insert(relative, Found { size: meta.len(), modified, etag: None, at: Place::Local(entry.path().to_path_buf()) });
    }
    tree
}

/// Every object under the folder `folder` (a key prefix ending in `/`, or "" for the
/// bucket) the filters choose, listed through the component. Folder markers (keys ending
/// in `/`) hold no file and are left out.
pub async fn remote_tree(storage: &mut Storage, folder: &str, filters: &Filters) -> Result<Tree, Problem> {
    let mut tree = Tree::new();
    let options = ListOptions { limit: None, delimiter: None, start_after: None };
    storage
        .list_pages(folder, &options, |page| {
            for entry in page {
                let Entry::File(file) = entry else { continue };
                let Some(relative) = file.key.strip_prefix(folder).map(str::to_string) else { continue };
                if relative.is_empty() || relative.ends_with('/') || !filters.chosen(&relative) {
                    continue;
                }
                let modified = file.last_modified.map_or(0, |d| d.seconds);
                tree.insert(relative, Found { size: file.size, modified, etag: file.etag.clone(), at: Place::Key(file.key) });
            }
            Ok(())
        })
        .await?;
    Ok(tree)
}

/// Whether `sync` copies `source` over `dest`: a different size, or a source newer than
/// the destination (an upload is newer than its file, and a download takes its object's
/// time, so a second sync finds nothing to do). Two objects with the same size and ETag
/// are the same bytes, whatever their times.
pub fn changed(source: &Found, dest: &Found) -> bool {
    if source.size != dest.size {
        return true;
    }
    if let (Some(a), Some(b)) = (&source.etag, &dest.etag)
        && a == b
    {
        return false;
    }
    source.modified > dest.modified
}

/// Turns each chosen source file into the action that puts it under the destination.
pub fn actions(source: &Tree, dest: &super::address::Location, source_root: &super::address::Location) -> Vec<Action> {
    use super::address::Location;
    source
        .iter()
        .filter_map(|(relative, found)| {
            let size = found.size;
            Some(match (&found.at, dest, source_root) {
                (Place::Local(from), Location::Remote(to), _) => {
                    Action::Upload { from: from.clone(), to: to.with_key(format!("{}{relative}", address::folder(&to.key))), size }
                }
                (Place::Key(key), Location::Local(dir), Location::Remote(from)) => {
                    // A key no local file can be named after is reported by `unplaceable`.
                    Action::Download { from: from.with_key(key.clone()), to: address::local_path(dir, relative)?, size }
                }
                (Place::Key(key), Location::Remote(to), Location::Remote(from)) => {
                    Action::Copy { from: from.with_key(key.clone()), to: to.with_key(format!("{}{relative}", address::folder(&to.key))), size }
                }
                _ => return None,
            })
        })
        .collect()
}

/// The source keys no local file can be named after (`a/../b`, `a//b`), when downloading.
pub fn unplaceable(source: &Tree, dest: &super::address::Location) -> Vec<String> {
    match dest {
        super::address::Location::Local(dir) => {
            source.keys().filter(|relative| address::local_path(dir, relative).is_none()).map(|r| output::terminal_safe(r).into_owned()).collect()
        }
        super::address::Location::Remote(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(size: u64, modified: u64, etag: Option<&str>) -> Found {
        Found { size, modified, etag: etag.map(str::to_string), at: Place::Key(String::new()) }
    }

    #[test]
    fn sync_copies_what_is_new_or_changed() {
        assert!(changed(&found(1, 10, None), &found(2, 20, None)), "size");
        assert!(changed(&found(1, 30, None), &found(1, 20, None)), "newer");
        assert!(!changed(&found(1, 20, None), &found(1, 20, None)), "same");
        assert!(!changed(&found(1, 10, None), &found(1, 20, None)), "older");
        assert!(!changed(&found(1, 30, Some("e")), &found(1, 20, Some("e"))), "same bytes");
        assert!(changed(&found(1, 30, Some("e")), &found(1, 20, Some("f"))));
    }

    #[test]
    fn a_local_tree_has_keys_below_its_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/x.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("top.log"), b"").unwrap();
        std::fs::write(dir.path().join(".y.bin.abc.part"), b"").unwrap();
        let mut problems = Vec::new();
        let tree = local_tree(dir.path(), &Filters::default(), &mut problems);
        assert_eq!(tree.keys().collect::<Vec<_>>(), ["a/b/x.txt", "top.log"]);
        let txt = Filters::new(&[(false, "*.log".into())]).unwrap();
        assert_eq!(local_tree(dir.path(), &txt, &mut problems).keys().collect::<Vec<_>>(), ["a/b/x.txt"]);
        assert!(problems.is_empty());
    }
}
