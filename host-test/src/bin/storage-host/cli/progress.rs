//! Progress on a terminal (indicatif): a bar per file being moved (bytes, total, percent,
//! rate, ETA; a spinner with bytes and rate when the size isn't known), and for a command
//! that moves many files one overall bar above them. Nothing is drawn when stderr is not a
//! terminal or with `--quiet`.
//!
//! A file's bar follows a byte counter: for a download, the bytes written; for an upload,
//! the bytes the host has sent (`HostOptions::uploaded`), not those the component has read
//! ahead into parts still in flight, and less a failed request's.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte counter a bar follows.
pub type Counter = Arc<AtomicU64>;

const TICK: Duration = Duration::from_millis(100);
const FILE: &str = "{msg:.bold} {wide_bar:.cyan/blue} {binary_bytes}/{binary_total_bytes} {percent:>3}% {binary_bytes_per_sec} ETA {eta}";
const SPINNER: &str = "{spinner} {msg:.bold} {binary_bytes} {binary_bytes_per_sec}";
const OVERALL: &str = "{msg:.bold} {wide_bar:.green/blue} {binary_bytes}/{binary_total_bytes} {percent:>3}% {binary_bytes_per_sec} ETA {eta}";

/// The bars of one command, and the lines it prints between them.
#[derive(Clone)]
pub struct Board {
    multi: MultiProgress,
    visible: bool,
    overall: Option<Overall>,
}

#[derive(Clone)]
struct Overall {
    bar: ProgressBar,
    files: Arc<(AtomicU64, u64)>,
}

impl Board {
    pub fn new(quiet: bool) -> Board {
        let visible = !quiet && std::io::stderr().is_terminal();
        let target = if visible { ProgressDrawTarget::stderr_with_hz(10) } else { ProgressDrawTarget::hidden() };
        Board { multi: MultiProgress::with_draw_target(target), visible, overall: None }
    }

    /// With an overall bar for `files` files of `bytes` bytes in all.
    pub fn with_overall(mut self, verb: &str, files: u64, bytes: u64) -> Board {
        if self.visible && files > 0 {
            let bar = self.multi.add(ProgressBar::new(bytes).with_style(style(OVERALL)));
            bar.set_message(format!("{verb} 0/{files} files"));
            bar.enable_steady_tick(TICK);
            self.overall = Some(Overall { bar, files: Arc::new((AtomicU64::new(0), files)) });
        }
        self
    }

    /// Prints `line` on stdout without tearing the bars.
    pub fn line(&self, line: &str) {
        match self.visible {
            true => self.multi.suspend(|| println!("{line}")),
            false => println!("{line}"),
        }
    }

    /// A bar for one file: `name`, following `counter` from its value now, `total` bytes
    /// if known (a spinner otherwise, until `set_total`).
    pub fn file(&self, name: &str, counter: Counter, total: Option<u64>) -> FileBar {
        let base = counter.load(Ordering::Relaxed);
        if !self.visible {
            return FileBar { bar: None, ticker: None, counter, overall: None, counted: Arc::default() };
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(style(FILE)),
            None => ProgressBar::no_length().with_style(style(SPINNER)),
        };
        let bar = self.multi.add(bar);
        bar.set_message(name.to_string());
        bar.enable_steady_tick(TICK);
        let counted = Arc::new(AtomicU64::new(0));
        let ticker = {
            let (bar, counter, overall, counted) = (bar.clone(), counter.clone(), self.overall.clone(), counted.clone());
            tokio::spawn(async move {
                loop {
                    follow(&bar, &counter, base, overall.as_ref(), &counted);
                    tokio::time::sleep(TICK).await;
                }
            })
        };
        FileBar { bar: Some(bar), ticker: Some(ticker), counter, overall: self.overall.clone(), counted }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("the templates are valid").progress_chars("=> ")
}

/// Moves a file's bar to its counter, and the overall bar by as much.
fn follow(bar: &ProgressBar, counter: &Counter, base: u64, overall: Option<&Overall>, counted: &AtomicU64) {
    // Never past the total: an upload's last request (CompleteMultipartUpload) has a body too.
    let now = counter.load(Ordering::Relaxed).saturating_sub(base).min(bar.length().unwrap_or(u64::MAX));
    bar.set_position(now);
    let before = counted.swap(now, Ordering::Relaxed);
    if let Some(overall) = overall {
        move_by(&overall.bar, now as i128 - before as i128);
    }
}

fn move_by(bar: &ProgressBar, delta: i128) {
    match delta >= 0 {
        true => bar.inc(delta as u64),
        false => bar.set_position(bar.position().saturating_sub(delta.unsigned_abs() as u64)),
    }
}

/// One file's bar; gone from the terminal once finished.
pub struct FileBar {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
    counter: Counter,
    overall: Option<Overall>,
    counted: Arc<AtomicU64>,
}

impl FileBar {
    /// The size, once known (a download learns it from the response).
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_style(style(FILE));
        }
    }

    /// Adds `n` bytes moved (a download's writes).
    pub fn add(&self, n: usize) {
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Clears the bar; the overall bar counts the file as `size` bytes if it was moved
    /// (a server-side copy moves no bytes through here), nothing if not.
    pub fn finish(mut self, moved: Option<u64>) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let Some(overall) = &self.overall {
            let counted = self.counted.load(Ordering::Relaxed);
            move_by(&overall.bar, i128::from(moved.unwrap_or(0)) - counted as i128);
            if moved.is_some() {
                let done = overall.files.0.fetch_add(1, Ordering::Relaxed) + 1;
                let message = overall.bar.message();
                let verb = message.split(' ').next().unwrap_or("");
                overall.bar.set_message(format!("{verb} {done}/{} files", overall.files.1));
            }
        }
    }
}

impl Board {
    /// Clears the overall bar (the per-file lines stay).
    pub fn finish(&self) {
        if let Some(overall) = &self.overall {
            overall.bar.finish_and_clear();
        }
    }
}
