//! Listings: the pages of a ListObjectsV2 listing (`list`), and the pending multipart
//! uploads (`pending-uploads`). What a page means for the listing (which keys are handed
//! on, what is still wanted, whether the server is going round in circles) is decided by
//! [`ListState`] without I/O, and tested natively.

use std::rc::Rc;

use crate::client::call_read;
use crate::config::Settings;
use crate::error::{Error, invalid_argument, transport};
use crate::keys;
use crate::paging::Tokens;
use crate::quote::Q;
use crate::replies::{Format, datetime};
use crate::request::{self, ListQuery};
use crate::types::{Entry, ListOptions, ObjectVersion, PendingUpload, StoredFile};
use crate::xml;

/// A 1,000-key listing with 1 KiB keys is ~1.3 MB of XML.
const MAX_LIST_BODY: u64 = 16 << 20;
/// S3 returns at most this many keys per ListObjectsV2 page.
const MAX_PAGE: u32 = 1000;
/// Entries in one page past which a page is refused: S3 sends at most the 1,000 asked
/// for; a server that sends ten times that is broken, and ordering it would cost too much.
const MAX_PAGE_ENTRIES: usize = 10 * MAX_PAGE as usize;
/// Truncated pages in a row with nothing in them: S3 may send a few, never endlessly.
const MAX_EMPTY_PAGES: u32 = 100;
/// `pending-uploads` answers with one list: past this many, a narrower prefix is needed.
const MAX_PENDING_UPLOADS: usize = 100_000;

/// The most bytes a delimiter may have (S3 sets no limit; a page's folders end with it).
const MAX_DELIMITER_BYTES: usize = 64;

/// A listing under way: `list`'s resource.
pub struct Listing {
    settings: Rc<Settings>,
    state: ListState,
}

impl Listing {
    /// ListObjectVersions' pages: every version and delete marker.
    pub fn versions(settings: Rc<Settings>, prefix: &str, options: ListOptions) -> Result<Listing, Error> {
        let mut listing = Listing::new(settings, prefix, options)?;
        listing.state.versions = true;
        Ok(listing)
    }

    pub fn new(settings: Rc<Settings>, prefix: &str, options: ListOptions) -> Result<Listing, Error> {
        let full_prefix = keys::full_list_prefix(&settings.prefix, prefix)?;
        if let Some(d) = &options.delimiter
            && (d.is_empty() || d.len() > MAX_DELIMITER_BYTES || d.chars().any(char::is_control))
        {
            return Err(invalid_argument(format!("delimiter {d} must be 1 to {MAX_DELIMITER_BYTES} bytes without control characters", d = Q(d))));
        }
        // Any text may be where to start (it need not be a key); the key rules keep it fit
        // for the URL, as they do a prefix.
        let start_after = options.start_after.as_deref().map(|after| keys::full_list_prefix(&settings.prefix, after)).transpose()?;
        let state = ListState::new(settings.prefix.clone(), full_prefix, options.limit).with(options.delimiter, start_after);
        Ok(Listing { settings, state })
    }

    /// The next page with entries in it; `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Entry>>, Error> {
        // A server may return an empty page that is still truncated; keep going.
        while let Some((token, max_keys)) = self.state.next_request() {
            let query =
                ListQuery { full_prefix: &self.state.full_prefix, delimiter: self.state.delimiter.as_deref(), start_after: self.state.start_after.as_deref() };
            let req = match self.state.versions {
                true => request::list_object_versions(&self.settings, &query, token, max_keys)?,
                false => request::list_objects_v2(&self.settings, &query, token, max_keys)?,
            };
            let reply = call_read(&self.settings, &req, None, None, MAX_LIST_BODY).await?;
            let text = std::str::from_utf8(&reply.body).map_err(|_| transport("listing is not UTF-8"))?;
            let page = if self.state.versions { xml::parse_versions(text) } else { xml::parse_list(text) };
            let entries = self.state.accept(page.map_err(transport)?)?;
            if !entries.is_empty() {
                return Ok(Some(entries));
            }
        }
        Ok(None)
    }
}

/// Where a listing stands, page after page.
pub struct ListState {
    /// The store's prefix, taken off every key handed on.
    store_prefix: String,
    full_prefix: String,
    delimiter: Option<String>,
    /// A full key: the first request asks for keys after it.
    start_after: Option<String>,
    /// Listing versions (ListObjectVersions), not objects.
    versions: bool,
    token: Option<String>,
    remaining: Option<u32>,
    done: bool,
    /// Truncated pages in a row with nothing in them.
    empty_pages: u32,
    /// The continuation tokens so far, to catch a server that goes round in a loop.
    seen: Tokens<String>,
}

impl ListState {
    pub fn new(store_prefix: String, full_prefix: String, limit: Option<u32>) -> ListState {
        ListState {
            store_prefix,
            full_prefix,
            delimiter: None,
            start_after: None,
            versions: false,
            token: None,
            remaining: limit,
            done: limit == Some(0),
            empty_pages: 0,
            seen: Tokens::new(),
        }
    }

    /// Grouped by `delimiter`, from after `start_after` (a full key).
    pub fn with(self, delimiter: Option<String>, start_after: Option<String>) -> ListState {
        ListState { delimiter, start_after, ..self }
    }

    /// What to ask for next (the continuation token and max-keys), or `None` when the
    /// listing is complete.
    pub fn next_request(&self) -> Option<(Option<&str>, u32)> {
        (!self.done).then(|| (self.token.as_deref(), self.remaining.map_or(MAX_PAGE, |r| r.min(MAX_PAGE))))
    }

    /// Takes in one page: the entries to hand on, files and folders in key order (none: ask
    /// for the next page). An error leaves the state as it was: a later call asks for the
    /// same page again, and fails again unless the server has recovered. Ending there would
    /// pass off a cut listing as whole.
    pub fn accept(&mut self, page: xml::ListPage) -> Result<Vec<Entry>, Error> {
        let count = page.objects.len() + page.prefixes.len();
        if count > MAX_PAGE_ENTRIES {
            return Err(transport(format!("the server sent {count} entries in one page; at most {MAX_PAGE} were asked for")));
        }
        // S3 sorts a page's files and its folders each by key, and counts both into
        // max-keys: merged, they are the page in key order.
        let mut listed: Vec<(String, Option<xml::ListedObject>)> = Vec::with_capacity(page.objects.len() + page.prefixes.len());
        listed.extend(page.objects.into_iter().map(|o| (o.key.clone(), Some(o))));
        if !page.prefixes.is_empty() {
            let Some(delimiter) = &self.delimiter else {
                return Err(transport("the server listed folders (common prefixes) without being asked for a delimiter"));
            };
            for full in page.prefixes {
                keys::listed_folder(&self.store_prefix, &full, delimiter).map_err(transport)?;
                listed.push((full, None));
            }
        }
        // Stable, and each key's versions newest first (the latest, then by date) whatever
        // order a server sent them in: moto sends the delete markers after the versions.
        crate::order::sort_by(&mut listed, |a, b| {
            let newest = |o: &Option<xml::ListedObject>| o.as_ref().map(|o| (o.version.as_ref().is_some_and(|v| v.is_latest), o.last_modified.clone()));
            a.0.cmp(&b.0).then_with(|| newest(&b.1).cmp(&newest(&a.1)))
        });
        // A server that ignores max-keys may send more; beyond the caller's limit they are
        // simply not wanted (the listing ends there), so nothing is skipped.
        let wanted = self.remaining.map_or(usize::MAX, |r| r as usize);
        let mut entries = Vec::with_capacity(listed.len().min(wanted));
        for (full, object) in listed {
            if entries.len() == wanted {
                break;
            }
            // Nothing at or before `start-after`: Garage lists the folder a start-after key
            // is in (`photos/` after `photos/`); S3 and s3s-fs don't.
            if self.start_after.as_ref().is_some_and(|after| full <= *after) {
                continue;
            }
            let Some(object) = object else {
                entries.push(Entry::Folder(full[self.store_prefix.len()..].to_string()));
                continue;
            };
            // A key the caller could not have written (`../x`, outside the prefix) is an
            // error, never handed on; a folder marker (`dir/`) is no file, and no count.
            let Some(key) = keys::listed(&self.store_prefix, &object.key).map_err(transport)? else { continue };
            if let Some(version) = object.version {
                entries.push(Entry::Version(ObjectVersion {
                    key: key.to_string(),
                    version_id: version.id,
                    is_latest: version.is_latest,
                    is_delete_marker: version.is_delete_marker,
                    size: object.size,
                    etag: object.etag,
                    last_modified: object.last_modified.and_then(|d| datetime(&d, Format::DateTime)),
                }));
                continue;
            }
            entries.push(Entry::File(StoredFile {
                key: key.to_string(),
                size: object.size,
                etag: object.etag,
                last_modified: object.last_modified.and_then(|d| datetime(&d, Format::DateTime)),
                ..Default::default()
            }));
        }
        let looping = match &page.next_continuation_token {
            Some(next) if page.is_truncated => !self.seen.advance(next),
            _ => false,
        };
        if page.is_truncated && (looping || (entries.is_empty() && self.empty_pages >= MAX_EMPTY_PAGES)) {
            return Err(transport("the server keeps listing without progress (its continuation tokens go round in a loop, or only empty pages)"));
        }
        if let Some(r) = self.remaining.as_mut() {
            *r = r.saturating_sub(entries.len() as u32);
        }
        self.empty_pages = if entries.is_empty() { self.empty_pages + 1 } else { 0 };
        self.token = page.next_continuation_token;
        self.done = !page.is_truncated || self.remaining == Some(0);
        Ok(entries)
    }
}

/// The multipart uploads begun and never completed or aborted under `prefix`.
pub async fn pending_uploads(settings: &Settings, prefix: &str) -> Result<Vec<PendingUpload>, Error> {
    let full_prefix = keys::full_list_prefix(&settings.prefix, prefix)?;
    let mut found = Vec::new();
    let mut markers: Option<(String, String)> = None;
    let mut seen = Tokens::new();
    let mut empty_pages = 0;
    loop {
        let (key_marker, id_marker) = markers.as_ref().map_or((None, None), |(k, i)| (Some(k.as_str()), Some(i.as_str())));
        let req = request::list_multipart_uploads(settings, &full_prefix, key_marker, id_marker)?;
        let reply = call_read(settings, &req, None, None, MAX_LIST_BODY).await?;
        let page = xml::parse_uploads(&reply.text()).map_err(transport)?;
        let before = found.len();
        for upload in page.uploads {
            // A folder's upload (`dir/`) is no file's: it can't be aborted by key here.
            let Some(key) = keys::listed(&settings.prefix, &upload.key).map_err(transport)? else { continue };
            found.push(PendingUpload {
                key: key.to_string(),
                upload_id: upload.upload_id,
                initiated: upload.initiated.and_then(|d| datetime(&d, Format::DateTime)),
            });
        }
        empty_pages = if found.len() == before { empty_pages + 1 } else { 0 };
        if found.len() > MAX_PENDING_UPLOADS {
            return Err(invalid_argument(format!(
                "more than {MAX_PENDING_UPLOADS} uploads are pending under {prefix}: ask for a narrower prefix",
                prefix = Q(&prefix)
            )));
        }
        match page.next {
            Some(next) if !seen.advance(&next) || empty_pages > MAX_EMPTY_PAGES => {
                return Err(transport("the server keeps listing uploads without progress (its markers go round in a loop, or only empty pages)"));
            }
            Some(next) => markers = Some(next),
            None => return Ok(found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{ListPage, ListedObject};

    fn page(keys: &[&str], next: Option<&str>) -> ListPage {
        ListPage {
            prefixes: Vec::new(),
            objects: keys
                .iter()
                .map(|k| ListedObject { key: k.to_string(), size: 1, last_modified: Some("2024-01-02T03:04:05.000Z".into()), ..Default::default() })
                .collect(),
            is_truncated: next.is_some(),
            next_continuation_token: next.map(str::to_string),
        }
    }

    fn keys(entries: &[Entry]) -> Vec<&str> {
        entries
            .iter()
            .map(|e| match e {
                Entry::File(f) => f.key.as_str(),
                Entry::Folder(f) => f.as_str(),
                Entry::Version(v) => v.key.as_str(),
            })
            .collect()
    }

    #[test]
    fn folders_and_files_come_in_key_order_and_count_alike() {
        let mut s = ListState::new("p/".into(), "p/".into(), Some(3)).with(Some("/".into()), None);
        let mut listed = page(&["p/a.txt", "p/c.txt"], Some("t"));
        listed.prefixes = vec!["p/b/".into(), "p/d/".into()];
        let entries = s.accept(listed).unwrap();
        assert_eq!(keys(&entries), ["a.txt", "b/", "c.txt"]);
        assert!(matches!(&entries[1], Entry::Folder(_)) && matches!(&entries[2], Entry::File(_)));
        assert_eq!(s.next_request(), None, "the limit counts folders too");
        // Folders a client could not have made keys in, or outside the prefix, are errors.
        for bad in ["p/../", "q/x/", "p/x", "p//", "p/"] {
            let mut s = ListState::new("p/".into(), "p/".into(), None).with(Some("/".into()), None);
            let mut listed = page(&[], None);
            listed.prefixes = vec![bad.into()];
            assert!(matches!(s.accept(listed), Err(Error::Transport(_))), "{bad}");
        }
        // Folders nobody asked for.
        let mut s = ListState::new(String::new(), String::new(), None);
        let mut listed = page(&[], None);
        listed.prefixes = vec!["x/".into()];
        assert!(s.accept(listed).is_err());
        // Another delimiter.
        let mut s = ListState::new(String::new(), String::new(), None).with(Some("-".into()), None);
        let mut listed = page(&["a"], None);
        listed.prefixes = vec!["2024-".into()];
        assert_eq!(keys(&s.accept(listed).unwrap()), ["2024-", "a"]);
    }

    #[test]
    fn pages_follow_tokens_and_strip_the_store_prefix() {
        let mut s = ListState::new("p/".into(), "p/d/".into(), None);
        assert_eq!(s.next_request(), Some((None, MAX_PAGE)));
        let files = s.accept(page(&["p/d/a", "p/d/b"], Some("t1"))).unwrap();
        assert_eq!(keys(&files), ["d/a", "d/b"]);
        assert!(matches!(&files[0], Entry::File(f) if f.last_modified.map(|d| d.seconds) == Some(1_704_164_645)));
        assert_eq!(s.next_request(), Some((Some("t1"), MAX_PAGE)));
        assert_eq!(keys(&s.accept(page(&["p/d/c"], None)).unwrap()), ["d/c"]);
        assert_eq!(s.next_request(), None);
    }

    #[test]
    fn the_limit_asks_for_less_and_cuts_what_a_server_sends_beyond_it() {
        let mut s = ListState::new(String::new(), String::new(), Some(3));
        assert_eq!(s.next_request(), Some((None, 3)));
        assert_eq!(keys(&s.accept(page(&["a", "b"], Some("t"))).unwrap()), ["a", "b"]);
        assert_eq!(s.next_request(), Some((Some("t"), 1)));
        // A server that ignores max-keys: only what is still wanted, then the end.
        assert_eq!(keys(&s.accept(page(&["c", "d", "e"], Some("u"))).unwrap()), ["c"]);
        assert_eq!(s.next_request(), None);
        assert_eq!(ListState::new(String::new(), String::new(), Some(0)).next_request(), None);
    }

    #[test]
    fn folder_markers_are_passed_over_and_foreign_keys_are_errors() {
        let mut s = ListState::new("p/".into(), "p/".into(), Some(2));
        assert_eq!(keys(&s.accept(page(&["p/dir/", "p/x"], Some("t"))).unwrap()), ["x"]);
        assert_eq!(s.next_request(), Some((Some("t"), 1)), "a folder marker counts for nothing");
        let mut s = ListState::new("p/".into(), "p/".into(), None);
        assert!(matches!(s.accept(page(&["p/../etc/passwd"], None)), Err(Error::Transport(_))));
        assert!(matches!(s.accept(page(&["q/other"], None)), Err(Error::Transport(_))));
        assert_eq!(s.next_request(), Some((None, MAX_PAGE)), "a failed page is asked for again");
    }

    #[test]
    fn looping_tokens_and_endless_empty_pages_are_errors_that_keep_the_place() {
        let mut s = ListState::new(String::new(), String::new(), None);
        s.accept(page(&["a"], Some("A"))).unwrap();
        s.accept(page(&["b"], Some("B"))).unwrap();
        let stuck = s.accept(page(&["c"], Some("A")));
        assert!(matches!(stuck, Err(Error::Transport(m)) if m.contains("loop")));
        assert_eq!(s.next_request(), Some((Some("B"), MAX_PAGE)), "nothing counted from the looping page");

        let mut s = ListState::new(String::new(), String::new(), None);
        for i in 0..MAX_EMPTY_PAGES {
            assert!(s.accept(page(&[], Some(&format!("t{i}")))).unwrap().is_empty());
        }
        assert!(s.accept(page(&[], Some("last"))).is_err());
        // An empty last page ends the listing quietly.
        let mut s = ListState::new(String::new(), String::new(), None);
        assert!(s.accept(page(&[], None)).unwrap().is_empty());
        assert_eq!(s.next_request(), None);
    }

    #[test]
    fn each_keys_versions_come_latest_first_whatever_the_servers_order() {
        let version = |key: &str, id: &str, latest: bool, marker: bool, at: &str| ListedObject {
            key: key.into(),
            last_modified: Some(at.into()),
            version: Some(xml::ListedVersion { id: id.into(), is_latest: latest, is_delete_marker: marker }),
            ..Default::default()
        };
        // moto's order: versions, then delete markers; all in one second.
        let mut listed = page(&[], None);
        listed.objects = vec![
            version("b", "b1", true, false, "2024-01-01T00:00:00Z"),
            version("a", "a2", false, false, "2024-01-01T00:00:00Z"),
            version("a", "a1", false, false, "2024-01-01T00:00:00Z"),
            version("a", "m", true, true, "2024-01-01T00:00:00Z"),
        ];
        let mut s = ListState::new(String::new(), String::new(), None);
        let ids: Vec<String> = s
            .accept(listed)
            .unwrap()
            .into_iter()
            .map(|e| match e {
                Entry::Version(v) => v.version_id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, ["m", "a2", "a1", "b1"]);
    }

    #[test]
    fn nothing_at_or_before_start_after_is_handed_on() {
        let mut s = ListState::new(String::new(), String::new(), None).with(Some("/".into()), Some("photos/".into()));
        let mut listed = page(&["z.txt"], None);
        listed.prefixes = vec!["photos/".into()];
        assert_eq!(keys(&s.accept(listed).unwrap()), ["z.txt"]);
    }
}
