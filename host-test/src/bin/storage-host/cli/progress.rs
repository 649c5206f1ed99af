//! The transfer progress line on a terminal.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A progress line on stderr (bytes, rate, ETA) for transfers of 1 MiB or more, when
/// stderr is a terminal; nothing otherwise.
pub struct Progress {
    pub done: Arc<AtomicU64>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(verb: &'static str, total: Option<u64>) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        let show = std::io::stderr().is_terminal() && total.is_none_or(|t| t >= 1 << 20);
        let ticker = show.then(|| {
            let done = done.clone();
            tokio::spawn(async move {
                let start = std::time::Instant::now();
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    let n = done.load(Ordering::Relaxed);
                    let secs = start.elapsed().as_secs_f64();
                    let rate = n as f64 / secs;
                    let mut line = format!("\r{verb} {}", human(n));
                    if let Some(total) = total {
                        let eta = if rate > 0.0 { (total.saturating_sub(n)) as f64 / rate } else { 0.0 };
                        line.push_str(&format!(" / {} ({:.0}%)  ETA {eta:.0}s", human(total), n as f64 * 100.0 / total.max(1) as f64));
                    }
                    line.push_str(&format!("  {}/s   ", human(rate as u64)));
                    eprint!("{line}");
                }
            })
        });
        Progress { done, ticker }
    }

    pub fn add(&self, n: usize) {
        self.done.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
            // Clear the line: the JSON result (or error) is what stays.
            eprint!("\r\x1b[2K");
        }
    }
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Counts what the component reads from the file, for the progress line.
pub struct Counted<R> {
    pub inner: R,
    pub done: Arc<AtomicU64>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        self.done.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        poll
    }
}
