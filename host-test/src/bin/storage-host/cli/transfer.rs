//! Moving files: a list of actions (uploads, downloads, copies) carried out by `--jobs`
//! workers at once, each with its own component instance (one per bucket it touches), so
//! every file still goes through the component. Each finished file prints a line as
//! `aws s3` does (`upload: a.txt to s3://b/a.txt`); a failed one prints why on stderr and the
//! others go on. On SIGINT or SIGTERM no new file starts; uploads in flight are aborted by
//! the component (the host stops feeding them) and downloads leave no partial file.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use host_test::{GetOptions, PutOptions, Storage};

use super::Opener;
use super::address::Remote;
use super::interrupt::{Interrupt, Signal};
use super::local::{self, Partial};
use super::output::{self, Problem};
use super::progress::{Board, Counter};

/// One file to move.
#[derive(Debug, Clone)]
pub enum Action {
    Upload { from: PathBuf, to: Remote, size: u64 },
    Download { from: Remote, to: PathBuf, size: u64 },
    Copy { from: Remote, to: Remote, size: u64 },
}

impl Action {
    pub fn size(&self) -> u64 {
        match self {
            Action::Upload { size, .. } | Action::Download { size, .. } | Action::Copy { size, .. } => *size,
        }
    }

    fn verb(&self, moving: bool) -> &'static str {
        match (self, moving) {
            (Action::Upload { .. }, false) => "upload",
            (Action::Download { .. }, false) => "download",
            (Action::Copy { .. }, false) => "copy",
            (Action::Upload { .. }, true) => "move",
            (Action::Download { .. }, true) => "move",
            (Action::Copy { .. }, true) => "move",
        }
    }

    /// `verb: FROM to TO`, as aws-cli prints it (control characters escaped).
    pub fn describe(&self, opener: &Opener, moving: bool) -> String {
        let (from, to) = match self {
            Action::Upload { from, to, .. } => (from.display().to_string(), opener.show(to)),
            Action::Download { from, to, .. } => (opener.show(from), to.display().to_string()),
            Action::Copy { from, to, .. } => (opener.show(from), opener.show(to)),
        };
        output::terminal_safe(&format!("{}: {from} to {to}", self.verb(moving))).into_owned()
    }

    /// What the progress bar calls it.
    fn name(&self) -> String {
        let name = match self {
            Action::Upload { from, .. } => from.display().to_string(),
            Action::Download { from, .. } | Action::Copy { from, .. } => from.key.clone(),
        };
        output::terminal_safe(&name).into_owned()
    }
}

/// How the actions are carried out.
pub struct Run {
    pub opener: Opener,
    pub interrupt: Interrupt,
    pub board: Board,
    pub jobs: usize,
    pub dryrun: bool,
    pub quiet: bool,
    /// `mv`: the source goes once its copy is whole.
    pub moving: bool,
    /// The content type of uploads (default: guessed from each file's extension).
    pub content_type: Option<String>,
}

/// How it went.
#[derive(Default)]
pub struct Outcome {
    pub done: usize,
    /// Each failed file, with why.
    pub failed: Vec<(String, Problem)>,
    /// The files not started because of a signal.
    pub not_started: usize,
    pub signal: Option<Signal>,
}

/// Carries out `actions`, `run.jobs` at a time.
pub async fn carry_out(run: Arc<Run>, actions: Vec<Action>) -> Outcome {
    if run.dryrun {
        for action in &actions {
            run.board.line(&format!("(dryrun) {}", action.describe(&run.opener, run.moving)));
        }
        return Outcome { done: actions.len(), ..Outcome::default() };
    }
    let total = actions.len();
    let queue = Arc::new(Mutex::new(VecDeque::from(actions)));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..run.jobs.clamp(1, total.max(1)) {
        let (run, queue, outcome) = (run.clone(), queue.clone(), outcome.clone());
        workers.spawn(async move { worker(&run, &queue, &outcome).await });
    }
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            let problem = Problem::Local(format!("a transfer worker failed: {e}"));
            outcome.lock().expect("no worker panics holding it").failed.push((String::new(), problem));
        }
    }
    let mut outcome = std::mem::take(&mut *outcome.lock().expect("the workers are done"));
    outcome.not_started = queue.lock().expect("the workers are done").len();
    outcome.signal = run.interrupt.caught();
    outcome
}

/// A worker: one file at a time, its stores opened on first use.
async fn worker(run: &Run, queue: &Mutex<VecDeque<Action>>, outcome: &Mutex<Outcome>) {
    let counter = Counter::default();
    let mut stores: HashMap<Option<String>, Storage> = HashMap::new();
    loop {
        if run.interrupt.caught().is_some() {
            return;
        }
        let Some(action) = queue.lock().expect("no worker panics holding it").pop_front() else { return };
        // A server-side copy moves no bytes through here, and a single download learns its
        // size from the response: spinners until then.
        let total = match &action {
            Action::Copy { .. } | Action::Download { size: 0, .. } => None,
            other => Some(other.size()),
        };
        let bar = run.board.file(&action.name(), counter.clone(), total);
        let result = one(run, &mut stores, &counter, &action, &bar).await;
        let moved = match &result {
            Ok(()) => Some(action.size()),
            Err(_) => None,
        };
        bar.finish(moved);
        let mut outcome = outcome.lock().expect("no worker panics holding it");
        match result {
            Ok(()) => {
                outcome.done += 1;
                if !run.quiet {
                    run.board.line(&action.describe(&run.opener, run.moving));
                }
            }
            Err(problem) => outcome.failed.push((action.describe(&run.opener, run.moving), problem)),
        }
    }
}

/// The store for `bucket`, opened the first time this worker needs it.
async fn store<'a>(
    run: &Run,
    stores: &'a mut HashMap<Option<String>, Storage>,
    bucket: &Option<String>,
    counter: &Counter,
) -> Result<&'a mut Storage, Problem> {
    if !stores.contains_key(bucket) {
        let storage = run.opener.open(bucket.as_deref(), Some(counter.clone()), Some(&run.interrupt)).await?;
        stores.insert(bucket.clone(), storage);
    }
    Ok(stores.get_mut(bucket).expect("inserted"))
}

async fn one(
    run: &Run,
    stores: &mut HashMap<Option<String>, Storage>,
    counter: &Counter,
    action: &Action,
    bar: &super::progress::FileBar,
) -> Result<(), Problem> {
    match action {
        Action::Upload { from, to, .. } => {
            let storage = store(run, stores, &to.bucket, counter).await?;
            upload(run, storage, from, &to.key).await?;
            if run.moving {
                std::fs::remove_file(from).map_err(|e| output::local(from.display(), e))?;
            }
        }
        Action::Download { from, to, .. } => {
            let storage = store(run, stores, &from.bucket, counter).await?;
            download(&run.interrupt, storage, &from.key, to, bar).await?;
            if run.moving {
                storage.delete(&from.key).await?;
            }
        }
        Action::Copy { from, to, .. } if run.opener.same_bucket(from, to) => {
            let storage = store(run, stores, &from.bucket, counter).await?;
            match run.moving {
                true => storage.move_(&from.key, &to.key).await?,
                false => storage.copy(&from.key, &to.key).await?,
            };
        }
        Action::Copy { from, to, .. } => {
            // Across buckets the bytes come down and go up again, through a temporary file
            // (a server-side copy names one bucket's store).
            let scratch = tempfile::Builder::new().prefix(".storage-host-copy.").tempdir().map_err(|e| output::local("a temporary directory", e))?;
            let path = scratch.path().join("object");
            let storage = store(run, stores, &from.bucket, counter).await?;
            download(&run.interrupt, storage, &from.key, &path, bar).await?;
            let storage = store(run, stores, &to.bucket, counter).await?;
            upload(run, storage, &path, &to.key).await?;
            if run.moving {
                let storage = store(run, stores, &from.bucket, counter).await?;
                storage.delete(&from.key).await?;
            }
        }
    }
    Ok(())
}

/// Uploads the file at `path` to `key`, streaming; an interrupted upload is aborted by the
/// component.
async fn upload(run: &Run, storage: &mut Storage, path: &Path, key: &str) -> Result<(), Problem> {
    let name = path.display().to_string();
    let (file, size) = local::open_upload(&name).await?;
    let content_type = run.content_type.clone().or_else(|| guess_content_type(path));
    let options = PutOptions { content_type, size: Some(size), ..host_test::put_options() };
    let result = storage.put_stream(key, run.interrupt.reader(file), &options).await;
    match (result, run.interrupt.caught()) {
        (Ok(_), _) => Ok(()),
        (Err(e), Some(signal)) => Err(Problem::Interrupted(signal, format!("the upload was stopped: {e}"))),
        (Err(e), None) => Err(e.into()),
    }
}

/// The content type a file's extension says (`page.html`: `text/html`), if any.
pub fn guess_content_type(path: &Path) -> Option<String> {
    mime_guess::from_path(path).first_raw().map(str::to_string)
}

/// Downloads `key` to `path` through the component's checked, parallel read: written under
/// a temporary name and renamed into place once whole, its time set to the object's
/// (so `sync` sees it unchanged).
pub async fn download(interrupt: &Interrupt, storage: &mut Storage, key: &str, path: &Path, bar: &super::progress::FileBar) -> Result<(), Problem> {
    let mut partial = Partial::create(path.to_path_buf())?;
    let options = GetOptions { parallel: true, ..host_test::get_options(None) };
    let sink = |chunk: &[u8]| {
        bar.add(chunk.len());
        partial.write(chunk)
    };
    let fetched = tokio::select! {
        done = storage.download(key, &options, true, |info, _| bar.set_total(info.size), sink) => done,
        signal = interrupt.wait() => {
            return Err(Problem::Interrupted(signal, format!("the download was stopped; {} was not written", path.display())));
        }
    };
    let (info, _) = fetched.map_err(|e| match e {
        host_test::Failure::Host(e) if e.downcast_ref::<std::io::Error>().is_some() => Problem::Local(format!("{}: {e:#}", path.display())),
        e => e.into(),
    })?;
    partial.finish()?;
    if let Some(when) = info.last_modified {
        let time = std::time::UNIX_EPOCH + std::time::Duration::new(when.seconds, when.nanoseconds);
        let set = std::fs::File::options().write(true).open(path).and_then(|f| f.set_modified(time));
        set.map_err(|e| output::local(path.display(), e))?;
    }
    Ok(())
}
