//! `cp`, `mv`, `sync`, `rm`, `mb` and `rb` as `aws s3` has them: one file or a folder's
//! tree (`--recursive`), local to S3, S3 to local or S3 to S3, many files at once. What
//! moves and how is `plan` and `transfer`; this module turns arguments into that.

use std::process::ExitCode;
use std::sync::Arc;

use host_test::{Entry, Error, ListOptions, Storage};

use super::address::{self, Location, Remote};
use super::filters::Filters;
use super::interrupt::Interrupt;
use super::output::{self, Problem};
use super::plan::{self, Place};
use super::progress::Board;
use super::transfer::{self, Action, Outcome, Run};
use super::{Opener, Transfer, local, single};

const UPLOADS_LEFT: &str = "uploads in flight may be left pending: `storage-host pending-uploads` lists them, `abort-upload` removes them";

/// `cp` (`moving`: `mv`) of one file or, `recursive`, of a folder's tree.
#[allow(clippy::too_many_arguments)]
pub async fn copy(
    opener: &Opener,
    quiet: bool,
    source: &str,
    destination: &str,
    recursive: bool,
    moving: bool,
    transfer: &Transfer,
    filters: &[(bool, String)],
) -> Result<ExitCode, Problem> {
    let (source, dest) = (address::location(source)?, address::location(destination)?);
    let filters = Filters::new(filters)?;
    if let (Location::Local(a), Location::Local(b)) = (&source, &dest) {
        return Err(Problem::Usage(format!("{} and {} are both local: one side must be s3://BUCKET/KEY", a.display(), b.display())));
    }
    let interrupt = Interrupt::listen(UPLOADS_LEFT).map_err(|e| local::signals(&e))?;
    if !recursive {
        return copy_one(opener, quiet, source, dest, moving, transfer, interrupt).await;
    }
    let mut problems = Vec::new();
    let tree = match &source {
        Location::Local(dir) if !dir.is_dir() => return Err(Problem::Usage(format!("{} is not a directory: --recursive copies a folder", dir.display()))),
        Location::Local(dir) => plan::local_tree(dir, &filters, &mut problems),
        Location::Remote(from) => {
            let mut storage = opener.open(from.bucket.as_deref(), None, None).await?;
            plan::remote_tree(&mut storage, &address::folder(&from.key), &filters).await?
        }
    };
    problems.extend(plan::unplaceable(&tree, &dest).into_iter().map(|k| format!("{k}: no local file can have this name; skipped")));
    let source_root = folder_of(&source);
    let actions = plan::actions(&tree, &dest, &source_root);
    let run = new_run(opener, quiet, interrupt, transfer, moving, &actions);
    finish(&run, transfer::carry_out(run.clone(), actions).await, problems, false)
}

/// A remote location as the folder it names (`s3://b/p` is `p/`).
fn folder_of(location: &Location) -> Location {
    match location {
        Location::Remote(r) => Location::Remote(r.as_folder()),
        local => local.clone(),
    }
}

/// How `actions` are carried out; more than one get an overall bar.
fn new_run(opener: &Opener, quiet: bool, interrupt: Interrupt, transfer: &Transfer, moving: bool, actions: &[Action]) -> Arc<Run> {
    let mut board = Board::new(quiet || transfer.dryrun);
    if actions.len() > 1 {
        board = board.with_overall(if moving { "move" } else { "copy" }, actions.len() as u64, actions.iter().map(Action::size).sum());
    }
    Arc::new(Run {
        opener: opener.clone(),
        interrupt,
        board,
        jobs: usize::from(transfer.jobs),
        dryrun: transfer.dryrun,
        quiet,
        moving,
        content_type: transfer.content_type.clone(),
    })
}

/// One file: `-` for stdin or stdout, else through the same workers as a tree.
async fn copy_one(
    opener: &Opener,
    quiet: bool,
    source: Location,
    dest: Location,
    moving: bool,
    transfer: &Transfer,
    interrupt: Interrupt,
) -> Result<ExitCode, Problem> {
    let action = match (source, dest) {
        (Location::Local(from), Location::Remote(to)) if from.as_os_str() == "-" && !moving => {
            let options = host_test::PutOptions { content_type: transfer.content_type.clone(), ..host_test::put_options() };
            drop(interrupt);
            let to = address::key_for(&to, "-");
            if to.key.ends_with("/-") || to.key == "-" {
                return Err(Problem::Usage("stdin has no name: give the whole key, s3://BUCKET/KEY".into()));
            }
            return single::put(opener, quiet, &to, "-", options, single::Report::Line).await;
        }
        (Location::Remote(from), Location::Local(to)) if to.as_os_str() == "-" && !moving => {
            let mut storage = opener.open(from.bucket.as_deref(), None, Some(&interrupt)).await?;
            single::to_stdout(&mut storage, &interrupt, &from.key, None, false).await?;
            return Ok(ExitCode::SUCCESS);
        }
        (Location::Local(from), Location::Remote(to)) => {
            if from.is_dir() {
                return Err(Problem::Usage(format!("{} is a directory: add --recursive to copy what is in it", from.display())));
            }
            let name = from.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let size = std::fs::metadata(&from).map_err(|e| output::local(from.display(), e))?.len();
            Action::Upload { to: address::key_for(&to, &name), from, size }
        }
        (Location::Remote(from), Location::Local(to)) => {
            let path = local::download_path(&from.key, &to.to_string_lossy())?;
            Action::Download { from, to: path, size: 0 }
        }
        (Location::Remote(from), Location::Remote(to)) => {
            let to = address::key_for(&to, address::last_segment(&from.key));
            Action::Copy { from, to, size: 0 }
        }
        (Location::Local(_), Location::Local(_)) => unreachable!("refused by `copy`"),
    };
    let actions = vec![action];
    let run = new_run(opener, quiet, interrupt, transfer, moving, &actions);
    let outcome = transfer::carry_out(run.clone(), actions).await;
    finish(&run, outcome, Vec::new(), true)
}

/// `sync SOURCE DEST`: copies what is new or changed; with `delete`, deletes what SOURCE lacks.
pub async fn sync(
    opener: &Opener,
    quiet: bool,
    source: &str,
    destination: &str,
    delete: bool,
    transfer: &Transfer,
    filters: &[(bool, String)],
) -> Result<ExitCode, Problem> {
    let (source, dest) = (folder_of(&address::location(source)?), folder_of(&address::location(destination)?));
    let filters = Filters::new(filters)?;
    let mut problems = Vec::new();
    let mut trees = Vec::new();
    for side in [&source, &dest] {
        trees.push(match side {
            Location::Local(dir) if side == &source && !dir.is_dir() => {
                return Err(Problem::Usage(format!("{} is not a directory: sync works on folders", dir.display())));
            }
            Location::Local(dir) => plan::local_tree(dir, &filters, &mut problems),
            Location::Remote(r) => {
                let mut storage = opener.open(r.bucket.as_deref(), None, None).await?;
                plan::remote_tree(&mut storage, &r.key, &filters).await?
            }
        });
    }
    if let (Location::Local(_), Location::Local(_)) = (&source, &dest) {
        return Err(Problem::Usage("both sides are local: one must be s3://BUCKET/FOLDER".into()));
    }
    let (from, to) = (&trees[0], &trees[1]);
    let wanted: plan::Tree = from
        .iter()
        .filter(|(relative, found)| to.get(*relative).is_none_or(|there| plan::changed(found, there)))
        .map(|(r, f)| (r.clone(), f.clone()))
        .collect();
    problems.extend(plan::unplaceable(&wanted, &dest).into_iter().map(|k| format!("{k}: no local file can have this name; skipped")));
    let actions = plan::actions(&wanted, &dest, &source);
    let interrupt = Interrupt::listen(UPLOADS_LEFT).map_err(|e| local::signals(&e))?;
    let run = new_run(opener, quiet, interrupt, transfer, false, &actions);
    let mut outcome = transfer::carry_out(run.clone(), actions).await;
    if delete && outcome.signal.is_none() {
        let extra: Vec<&plan::Found> = to.iter().filter(|(relative, _)| !from.contains_key(*relative)).map(|(_, f)| f).collect();
        delete_extra(&run, &dest, &extra, &mut outcome).await;
    }
    finish(&run, outcome, problems, false)
}

/// Deletes the destination's files the source lacks.
async fn delete_extra(run: &Run, dest: &Location, extra: &[&plan::Found], outcome: &mut Outcome) {
    match dest {
        Location::Local(_) => {
            for found in extra {
                let Place::Local(path) = &found.at else { continue };
                let line = output::terminal_safe(&format!("delete: {}", path.display())).into_owned();
                if run.dryrun {
                    run.board.line(&format!("(dryrun) {line}"));
                    continue;
                }
                match std::fs::remove_file(path) {
                    Ok(()) if !run.quiet => run.board.line(&line),
                    Ok(()) => {}
                    Err(e) => outcome.failed.push((line, output::local(path.display(), e))),
                }
            }
        }
        Location::Remote(r) => {
            let keys: Vec<String> = extra.iter().filter_map(|f| if let Place::Key(k) = &f.at { Some(k.clone()) } else { None }).collect();
            if keys.is_empty() {
                return;
            }
            match run.opener.open(r.bucket.as_deref(), None, None).await {
                Ok(mut storage) => delete_keys(&mut storage, run, r, keys, outcome).await,
                Err(problem) => outcome.failed.push(("delete".into(), problem)),
            }
        }
    }
}

/// Deletes `keys` of `at`'s bucket, 1,000 per request, a line for each.
async fn delete_keys(storage: &mut Storage, run: &Run, at: &Remote, keys: Vec<String>, outcome: &mut Outcome) {
    let show = |key: &str| output::terminal_safe(&format!("delete: {}", run.opener.show(&at.with_key(key.to_string())))).into_owned();
    if run.dryrun {
        keys.iter().for_each(|key| run.board.line(&format!("(dryrun) {}", show(key))));
        return;
    }
    for chunk in keys.chunks(1000) {
        // Ctrl-C stops between requests: what was deleted is said, the rest stays.
        if let Some(signal) = run.interrupt.caught() {
            outcome.signal = Some(signal);
            outcome.not_started += chunk.len();
            continue;
        }
        match storage.delete_many(chunk).await {
            Ok(failed) => {
                for key in chunk {
                    match failed.iter().find(|(k, _)| k == key) {
                        Some((_, e)) => outcome.failed.push((show(key), Error::clone(e).into())),
                        None if !run.quiet => run.board.line(&show(key)),
                        None => {}
                    }
                }
                outcome.done += chunk.len() - failed.len();
            }
            Err(e) => {
                outcome.failed.push((format!("delete of {} keys", chunk.len()), e.into()));
                return;
            }
        }
    }
}

/// `rm KEY...`: each key, in its bucket.
pub async fn remove(opener: &Opener, quiet: bool, keys: &[String], dryrun: bool) -> Result<ExitCode, Problem> {
    let targets = keys.iter().map(|k| address::key(k)).collect::<Result<Vec<_>, _>>()?;
    let run = removal_run(opener, quiet, dryrun)?;
    let mut outcome = Outcome::default();
    for (bucket, keys) in by_bucket(&targets) {
        let at = Remote { bucket: bucket.clone(), key: String::new() };
        let mut storage = opener.open(bucket.as_deref(), None, None).await?;
        if keys.len() == 1 && !dryrun {
            // One key: its error is the command's (a missing key is not one).
            storage.delete(&keys[0]).await?;
            if !quiet {
                run.board.line(&output::terminal_safe(&format!("delete: {}", opener.show(&at.with_key(keys[0].clone())))));
            }
            continue;
        }
        delete_keys(&mut storage, &run, &at, keys, &mut outcome).await;
    }
    finish(&run, outcome, Vec::new(), false)
}

fn removal_run(opener: &Opener, quiet: bool, dryrun: bool) -> Result<Arc<Run>, Problem> {
    let interrupt = Interrupt::listen("").map_err(|e| local::signals(&e))?;
    let transfer = Transfer { include: Vec::new(), exclude: Vec::new(), jobs: 1, dryrun, content_type: None };
    Ok(new_run(opener, quiet, interrupt, &transfer, false, &[]))
}

/// Keys grouped by bucket, in the order given.
fn by_bucket(targets: &[Remote]) -> Vec<(Option<String>, Vec<String>)> {
    let mut groups: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for t in targets {
        match groups.iter_mut().find(|(b, _)| *b == t.bucket) {
            Some((_, keys)) => keys.push(t.key.clone()),
            None => groups.push((t.bucket.clone(), vec![t.key.clone()])),
        }
    }
    groups
}

/// `rm --recursive FOLDER...`: every key below each folder the filters choose, folder
/// markers included.
pub async fn remove_folders(opener: &Opener, quiet: bool, folders: &[String], dryrun: bool, filters: &[(bool, String)]) -> Result<ExitCode, Problem> {
    let filters = Filters::new(filters)?;
    let run = removal_run(opener, quiet, dryrun)?;
    let mut outcome = Outcome::default();
    for folder in folders {
        let at = address::key(folder)?.as_folder();
        let mut storage = opener.open(at.bucket.as_deref(), None, None).await?;
        let keys = keys_below(&mut storage, &at.key, &filters).await?;
        delete_keys(&mut storage, &run, &at, keys, &mut outcome).await;
    }
    finish(&run, outcome, Vec::new(), false)
}

/// Every key below `folder` the filters choose (by their names below it).
async fn keys_below(storage: &mut Storage, folder: &str, filters: &Filters) -> Result<Vec<String>, Problem> {
    let mut keys = Vec::new();
    let options = ListOptions { limit: None, delimiter: None, start_after: None };
    storage
        .list_pages(folder, &options, |page| {
            for entry in page {
                if let Entry::File(file) = entry
                    && filters.chosen(file.key.strip_prefix(folder).unwrap_or(&file.key))
                {
                    keys.push(file.key);
                }
            }
            Ok(())
        })
        .await?;
    Ok(keys)
}

/// A bucket argument: `s3://BUCKET` (a key after it is refused), or the default bucket.
fn bucket_arg(arg: Option<&str>) -> Result<Option<String>, Problem> {
    let Some(arg) = arg else { return Ok(None) };
    let at = address::key(arg)?;
    match (at.bucket, at.key.is_empty()) {
        (Some(bucket), true) => Ok(Some(bucket)),
        _ => Err(Problem::Usage(format!("{arg:?}: give the bucket as s3://BUCKET"))),
    }
}

/// The bucket's name, for `mb` and `rb`'s lines.
fn bucket_name(opener: &Opener, bucket: Option<String>) -> String {
    let shown = opener.show(&Remote { bucket, key: String::new() });
    output::terminal_safe(shown.trim_start_matches("s3://").trim_end_matches('/')).into_owned()
}

/// `mb`: creates the bucket.
pub async fn make_bucket(opener: &Opener, arg: Option<&str>) -> Result<ExitCode, Problem> {
    let bucket = bucket_arg(arg)?;
    let mut storage = opener.open(bucket.as_deref(), None, None).await?;
    storage.create_bucket().await?;
    println!("make_bucket: {}", bucket_name(opener, bucket));
    Ok(ExitCode::SUCCESS)
}

/// `rb`: deletes the bucket; `force`: its objects and pending uploads first.
pub async fn remove_bucket(opener: &Opener, quiet: bool, arg: Option<&str>, force: bool) -> Result<ExitCode, Problem> {
    let bucket = bucket_arg(arg)?;
    let mut storage = opener.open(bucket.as_deref(), None, None).await?;
    if force {
        let run = removal_run(opener, quiet, false)?;
        let mut outcome = Outcome::default();
        let at = Remote { bucket: bucket.clone(), key: String::new() };
        let keys = keys_below(&mut storage, "", &Filters::default()).await?;
        delete_keys(&mut storage, &run, &at, keys, &mut outcome).await;
        for upload in storage.pending_uploads("").await? {
            storage.abort_upload(&upload.key, &upload.upload_id).await?;
        }
        // The bucket can't go while an object stays.
        if let Some((_, problem)) = outcome.failed.pop() {
            return Err(problem);
        }
    }
    storage.delete_bucket().await?;
    println!("remove_bucket: {}", bucket_name(opener, bucket));
    Ok(ExitCode::SUCCESS)
}

/// Reports how it went: each problem and failure on stderr; a single file's failure is the
/// command's error (its exit code); a signal exits 128+n.
fn finish(run: &Run, mut outcome: Outcome, problems: Vec<String>, single: bool) -> Result<ExitCode, Problem> {
    run.board.finish();
    if single && outcome.failed.len() == 1 && problems.is_empty() {
        return Err(outcome.failed.pop().expect("one").1);
    }
    for line in &problems {
        eprintln!("storage-host: {line}");
    }
    for (what, problem) in &outcome.failed {
        if let Problem::Interrupted(..) = problem {
            continue;
        }
        let why = match problem {
            Problem::Failure(f) => f.to_string(),
            Problem::Usage(why) | Problem::Local(why) | Problem::Interrupted(_, why) => why.clone(),
        };
        let first = why.lines().next().unwrap_or_default();
        eprintln!("storage-host: {} failed: {}", what, output::terminal_safe(first));
    }
    if let Some(signal) = outcome.signal.or(run.interrupt.caught()) {
        let stopped = outcome.failed.iter().filter(|(_, p)| matches!(p, Problem::Interrupted(..))).count();
        return Err(Problem::Interrupted(
            signal,
            format!(
                "{} files done, {stopped} stopped and {} not started; the stopped ones left no partial file and no pending upload",
                outcome.done, outcome.not_started
            ),
        ));
    }
    match outcome.failed.is_empty() && problems.is_empty() {
        true => Ok(ExitCode::SUCCESS),
        false => Ok(ExitCode::from(1)),
    }
}
