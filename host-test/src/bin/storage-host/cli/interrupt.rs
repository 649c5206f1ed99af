//! Ctrl-C (SIGINT) and SIGTERM during a transfer. A download stops at once and its partial
//! file is removed. An upload can't be cut off from outside the component — only it knows
//! its multipart upload — so the host stops feeding it: the file it reads starts failing,
//! and no more data leaves (requests with a body are refused, those in flight cut off;
//! see `host_test::sender`). The component then aborts the upload, as after any failed
//! part, and returns. A second signal exits at once.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal's number, as shells report a process a signal ended.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// The first SIGINT or SIGTERM since [`Interrupt::listen`].
#[derive(Clone)]
pub struct Interrupt(watch::Receiver<Option<Signal>>, watch::Receiver<bool>);

impl Interrupt {
    /// Catches SIGINT and SIGTERM from now on. The second one exits the process at once,
    /// saying `unfinished` (what may be left behind).
    pub fn listen(unfinished: &'static str) -> std::io::Result<Interrupt> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (tx, rx) = watch::channel(None);
        let (stop_tx, stop) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let caught = tokio::select! {
                    _ = int.recv() => Signal::Interrupt,
                    _ = term.recv() => Signal::Terminate,
                };
                if tx.borrow().is_some() {
                    let left = if unfinished.is_empty() { String::new() } else { format!("; {unfinished}") };
                    eprintln!("storage-host: interrupted again ({}): exiting now{left}", caught.name());
                    std::process::exit(i32::from(caught.exit_code()));
                }
                tx.send_replace(Some(caught));
                stop_tx.send_replace(true);
            }
        });
        Ok(Interrupt(rx, stop))
    }

    /// For the host: true from the first signal on.
    pub fn stop(&self) -> host_test::sender::Stop {
        self.1.clone()
    }

    pub fn caught(&self) -> Option<Signal> {
        *self.0.borrow()
    }

    /// Resolves with the first signal.
    pub async fn wait(&self) -> Signal {
        let mut rx = self.0.clone();
        let caught = rx.wait_for(Option::is_some).await.map(|signal| *signal);
        match caught {
            Ok(signal) => signal.unwrap_or(Signal::Interrupt),
            // The listener is gone: no signal will come.
            Err(_) => std::future::pending().await,
        }
    }

    /// `inner`, failing every read once a signal has come, including one it is waiting in.
    pub fn reader<R: AsyncRead + Unpin>(&self, inner: R) -> Interruptible<R> {
        let this = self.clone();
        Interruptible { inner, caught: None, signalled: std::sync::Mutex::new(Box::pin(async move { this.wait().await })) }
    }
}

pub struct Interruptible<R> {
    inner: R,
    caught: Option<Signal>,
    // A Mutex only to make the reader `Sync`, as the host's input streams must be.
    signalled: std::sync::Mutex<Pin<Box<dyn std::future::Future<Output = Signal> + Send>>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Interruptible<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.caught.is_none()
            && let Ok(signalled) = self.signalled.get_mut()
            && let Poll::Ready(signal) = signalled.as_mut().poll(cx)
        {
            self.caught = Some(signal);
        }
        if let Some(signal) = self.caught {
            return Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::Interrupted, format!("interrupted by {}", signal.name()))));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}
