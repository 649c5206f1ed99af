//! The storage interface's functions, called by name: one code path for the WASI 0.2 build
//! (`wasm-storages:storage/storage@0.2.0`, synchronous functions) and the WASI 0.3 build
//! (`storage@0.3.0`, `async func`s). Both take and give the very same types (0.3.0 uses
//! 0.2.0's), so a typed call checks against either; wasmtime runs a call into an async
//! function concurrently (`call_async` on a store with concurrency support). What differs
//! is the bodies' streams: wasi:io resources in 0.2, `stream<u8>` in 0.3 (see the stream
//! helpers below).

use std::pin::Pin;
use std::task::{Context, Poll};

use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, Destination, FutureConsumer, FutureReader, Instance, Lift, Lower, Source, StreamConsumer, StreamProducer,
    StreamReader, StreamResult,
};
use wasmtime::{AsContextMut, StoreContextMut};

/// Which build of the storage interface an instance exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// `wasm-storages:storage/storage@0.2.0` (the 0.2 build and the memory backend).
    P2,
    /// `wasm-storages:storage/storage@0.3.0` (the `--features p3` build).
    P3,
}

impl Generation {
    fn interface(self) -> &'static str {
        match self {
            Generation::P2 => "wasm-storages:storage/storage@0.2.0",
            Generation::P3 => "wasm-storages:storage/storage@0.3.0",
        }
    }
}

/// An instance's storage interface.
#[derive(Clone, Copy)]
pub struct Api {
    instance: Instance,
    interface: ComponentExportIndex,
    pub generation: Generation,
}

impl Api {
    pub fn new(mut store: impl AsContextMut, instance: Instance, generation: Generation) -> anyhow::Result<Api> {
        let interface = instance
            .get_export_index(&mut store, None, generation.interface())
            .ok_or_else(|| anyhow::anyhow!("the component does not export {}", generation.interface()))?;
        Ok(Api { instance, interface, generation })
    }

    /// The interface's function `name`, typed.
    pub fn typed<P, R>(&self, mut store: impl AsContextMut, name: &str) -> wasmtime::Result<wasmtime::component::TypedFunc<P, R>>
    where
        P: ComponentNamedList + Lower,
        R: ComponentNamedList + Lift,
    {
        let index = self
            .instance
            .get_export_index(&mut store, Some(&self.interface), name)
            .ok_or_else(|| wasmtime::format_err!("{} exports no function {name}", self.generation.interface()))?;
        self.instance.get_typed_func::<P, R>(&mut store, &index)
    }

    /// Calls the interface's function `name` (`[method]store.put`, `[static]store.open`)
    /// with `params`; its one result.
    pub async fn call<P, R>(&self, mut store: impl AsContextMut<Data: Send>, name: &str, params: P) -> wasmtime::Result<R>
    where
        P: ComponentNamedList + Lower + Send + Sync,
        R: Lift + Send + Sync + 'static,
    {
        let func = self.typed::<P, (R,)>(&mut store, name)?;
        Ok(func.call_async(&mut store, params).await?.0)
    }
}

/// A `stream<u8>` for the guest that yields what `reader` reads, and says how it ended on
/// `end` (`ok`, or why reading failed): a stream carries no error.
pub struct ReadProducer<R> {
    reader: R,
    end: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
}

/// How a stream given to a 0.3 `put-stream` ended: `ok`, or why reading it failed.
pub type End = FutureReader<Result<(), String>>;

/// `reader` as the `stream<u8>` and `future<result<_, string>>` of a 0.3 `put-stream`.
pub fn put_stream_args<D: 'static>(
    mut store: impl AsContextMut<Data = D>,
    reader: impl tokio::io::AsyncRead + Send + Sync + 'static,
) -> wasmtime::Result<(StreamReader<u8>, End)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stream = StreamReader::new(&mut store, ReadProducer { reader: Box::pin(reader), end: Some(tx) })?;
    let end = FutureReader::new(&mut store, async move { Ok::<_, wasmtime::Error>(rx.await.unwrap_or_else(|_| Err("the host dropped the stream".into()))) })?;
    Ok((stream, end))
}

impl<R> ReadProducer<R> {
    fn ended(&mut self, how: Result<(), String>) -> Poll<wasmtime::Result<StreamResult>> {
        if let Some(end) = self.end.take() {
            let _ = end.send(how);
        }
        Poll::Ready(Ok(StreamResult::Dropped))
    }
}

impl<D, R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static> StreamProducer<D> for ReadProducer<R> {
    type Item = u8;
    type Buffer = bytes::Bytes;

    fn poll_produce<'a>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, u8, bytes::Bytes>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let cap = dst.remaining(&mut store).unwrap_or(0);
        let mut scratch = vec![0; cap.clamp(1, 256 * 1024)];
        let mut buf = tokio::io::ReadBuf::new(&mut scratch);
        match Pin::new(&mut self.reader).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => self.ended(Ok(())),
            Poll::Ready(Ok(())) => {
                let filled = buf.filled();
                let n = filled.len().min(cap);
                // What the guest's buffer has no room for waits in ours.
                if n < filled.len() {
                    dst.set_buffer(bytes::Bytes::copy_from_slice(&filled[n..]));
                }
                if n > 0 {
                    let mut direct = dst.as_direct(store, n);
                    direct.remaining()[..n].copy_from_slice(&filled[..n]);
                    direct.mark_written(n);
                }
                Poll::Ready(Ok(StreamResult::Completed))
            }
            Poll::Ready(Err(e)) => self.ended(Err(e.to_string())),
            Poll::Pending if finish => Poll::Ready(Ok(StreamResult::Cancelled)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Takes a guest's `stream<u8>` into a channel, chunk by chunk (bounded: the guest waits
/// while the host has not taken the chunks before).
pub struct ChannelConsumer(pub tokio_util::sync::PollSender<Vec<u8>>);

impl<D> StreamConsumer<D> for ChannelConsumer {
    type Item = u8;

    fn poll_consume(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<D>,
        src: Source<'_, u8>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        match self.0.poll_reserve(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return Poll::Ready(Ok(StreamResult::Dropped)),
            Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
            Poll::Pending => return Poll::Pending,
        }
        let mut src = src.as_direct(store);
        let chunk = src.remaining().to_vec();
        src.mark_read(chunk.len());
        if chunk.is_empty() {
            // A readiness probe: room is reserved for the next chunk.
            self.0.abort_send();
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        match self.0.send_item(chunk) {
            Ok(()) => Poll::Ready(Ok(StreamResult::Completed)),
            Err(_) => Poll::Ready(Ok(StreamResult::Dropped)),
        }
    }
}

/// Takes a guest's `future<T>` into a oneshot channel.
pub struct OneshotConsumer<T>(pub Option<tokio::sync::oneshot::Sender<T>>);

impl<D, T: Lift + Send + Sync + 'static> FutureConsumer<D> for OneshotConsumer<T> {
    type Item = T;

    fn poll_consume(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        store: StoreContextMut<D>,
        mut src: Source<'_, T>,
        _finish: bool,
    ) -> Poll<wasmtime::Result<()>> {
        let mut value = None;
        src.read(store, &mut value)?;
        if let (Some(value), Some(tx)) = (value, self.0.take()) {
            let _ = tx.send(value);
        }
        Poll::Ready(Ok(()))
    }
}

/// A guest's `stream<u8>` handed to a channel, and its receiving end.
pub fn stream_into_channel(store: impl AsContextMut<Data: 'static>, stream: StreamReader<u8>) -> wasmtime::Result<tokio::sync::mpsc::Receiver<Vec<u8>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    stream.pipe(store, ChannelConsumer(tokio_util::sync::PollSender::new(tx)))?;
    Ok(rx)
}

/// A guest's `future<T>` handed to a oneshot channel, and its receiving end.
pub fn future_into_channel<T: Lift + Send + Sync + 'static>(
    store: impl AsContextMut<Data: 'static>,
    future: FutureReader<T>,
) -> wasmtime::Result<tokio::sync::oneshot::Receiver<T>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    future.pipe(store, OneshotConsumer(Some(tx)))?;
    Ok(rx)
}
