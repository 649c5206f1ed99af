//! `put` and `get`: one object, streamed from or to a file, stdin or stdout, printing what
//! was stored as JSON. Interrupted, they leave nothing behind (see `interrupt`).

use std::io::Write as _;
use std::process::ExitCode;

use host_test::{ByteRange, GetOptions, PutOptions, Storage};

use super::Opener;
use super::address::Remote;
use super::interrupt::Interrupt;
use super::local::{self, Partial};
use super::output::{Problem, file_json, json_line, terminal_safe};
use super::progress::{Board, Counter};
use super::transfer;

const UPLOAD_LEFT: &str = "the upload may be left pending: `storage-host pending-uploads` lists it, `abort-upload` removes it";

/// How `put` says what it stored.
pub enum Report {
    /// The stored file as JSON (`put`).
    Json,
    /// `upload: FROM to s3://…` unless quiet (`cp`).
    Line,
}

/// Uploads FILE (or stdin for `-`) to `to`, streaming: the file is never loaded whole, by
/// the host or the component. Interrupted, the component aborts the upload.
pub async fn put(opener: &Opener, quiet: bool, to: &Remote, file: &str, mut options: PutOptions, report: Report) -> Result<ExitCode, Problem> {
    let interrupt = Interrupt::listen(UPLOAD_LEFT).map_err(|e| local::signals(&e))?;
    let sent = Counter::default();
    let mut storage = opener.open(to.bucket.as_deref(), Some(sent.clone()), Some(&interrupt)).await?;
    let board = Board::new(quiet);
    let result = if file == "-" {
        let bar = board.file("stdin", sent, None);
        let result = storage.put_stream(&to.key, interrupt.reader(tokio::io::stdin()), &options).await;
        bar.finish(None);
        result
    } else {
        let (reader, size) = local::open_upload(file).await?;
        // A regular file's size is known: with `--upload-checksum none` that lets the host
        // splice it into the request.
        options.size = Some(size);
        if options.content_type.is_none() {
            options.content_type = transfer::guess_content_type(std::path::Path::new(file));
        }
        let bar = board.file(file, sent, Some(size));
        let result = storage.put_stream(&to.key, interrupt.reader(reader), &options).await;
        bar.finish(None);
        result
    };
    match (result, interrupt.caught()) {
        (Ok(stored), None) => match report {
            Report::Json => println!("{}", json_line(&file_json(&stored))),
            Report::Line if quiet => {}
            Report::Line => println!("{}", terminal_safe(&format!("upload: {file} to {}", opener.show(to)))),
        },
        (Ok(stored), Some(signal)) => {
            println!("{}", json_line(&file_json(&stored)));
            let key = &to.key;
            return Err(Problem::Interrupted(signal, format!("too late: the upload had completed, {key} is stored")));
        }
        // The component failed the upload after its source did: it aborted it, and says so
        // (or says what it could not clean up).
        (Err(e), Some(signal)) => return Err(Problem::Interrupted(signal, format!("the upload was stopped: {e}"))),
        (Err(e), None) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

/// Downloads `from` to FILE (a directory takes the key's last segment as the name), or to
/// stdout. The file appears whole or not at all: interrupted or failed, nothing is left.
pub async fn get(opener: &Opener, quiet: bool, from: &Remote, file: Option<&str>, range: Option<ByteRange>, single: bool) -> Result<ExitCode, Problem> {
    let interrupt = Interrupt::listen("").map_err(|e| local::signals(&e))?;
    let mut storage = opener.open(from.bucket.as_deref(), None, Some(&interrupt)).await?;
    let key = from.key.as_str();
    let Some(dest) = file.filter(|f| *f != "-") else {
        to_stdout(&mut storage, &interrupt, key, range, single).await?;
        return Ok(ExitCode::SUCCESS);
    };
    let path = local::download_path(key, dest)?;
    let board = Board::new(quiet);
    let bar = board.file(dest, Counter::default(), None);
    let done = match (range, single) {
        (None, false) => transfer::download(&interrupt, &mut storage, key, &path, &bar).await,
        // A range, or `--single`: one GET streamed by the host, unchecked.
        _ => streamed(&mut storage, &interrupt, key, &path, range, &bar).await,
    };
    bar.finish(None);
    done.map(|()| ExitCode::SUCCESS)
}

/// One GET streamed to `path` through a partial file.
async fn streamed(
    storage: &mut Storage,
    interrupt: &Interrupt,
    key: &str,
    path: &std::path::Path,
    range: Option<ByteRange>,
    bar: &super::progress::FileBar,
) -> Result<(), Problem> {
    let mut partial = Partial::create(path.to_path_buf())?;
    let options = host_test::get_options(range);
    let sink = |chunk: &[u8]| {
        bar.add(chunk.len());
        partial.write(chunk)
    };
    let started = |_: &host_test::StoredFile, span: Option<host_test::Span>| {
        if let Some(span) = span {
            bar.set_total(span.end - span.start);
        }
    };
    let done = tokio::select! {
        done = storage.download(key, &options, false, started, sink) => done,
        signal = interrupt.wait() => {
            return Err(Problem::Interrupted(signal, format!("the download was stopped; {} was not written", path.display())));
        }
    };
    done.map_err(|e| match e {
        host_test::Failure::Host(e) if e.downcast_ref::<std::io::Error>().is_some() => Problem::Local(format!("{}: {e:#}", path.display())),
        e => e.into(),
    })?;
    partial.finish()
}

/// Writes `key` to stdout: checked and in parallel ranges when whole, else one GET.
pub async fn to_stdout(storage: &mut Storage, interrupt: &Interrupt, key: &str, range: Option<ByteRange>, single: bool) -> Result<(), Problem> {
    let parallel = range.is_none() && !single;
    let options = GetOptions { parallel, ..host_test::get_options(range) };
    let mut out = std::io::stdout().lock();
    let sink = |chunk: &[u8]| out.write_all(chunk);
    tokio::select! {
        done = storage.download(key, &options, parallel, |_, _| (), sink) => { done?; }
        signal = interrupt.wait() => return Err(Problem::Interrupted(signal, "the download was stopped".into())),
    }
    out.flush().map_err(|e| super::output::local("stdout", e))
}
