//! Runs a command component (`wasi:cli/run`, e.g. `examples/blobstore-cli` composed with
//! the blobstore adapter and a backend) as `wasmtime run` would: WASI and wasi:http from
//! this host, arguments and stdin given, stdout and stderr collected.

use wasmtime::Store;
use wasmtime::component::Linker;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::runtime::{HostOptions, HostState, Runtime, load_precompiled};

/// A command line and the standard streams, for `HostOptions::command`.
#[derive(Clone)]
pub struct CommandIo {
    /// Program name first.
    pub args: Vec<String>,
    pub stdin: Vec<u8>,
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
}

/// What a run left.
#[derive(Debug)]
pub struct Ran {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs `component`'s `wasi:cli/run` with `args` and `stdin`, in an instance given `options`.
pub async fn run(component: &[u8], mut options: HostOptions, args: &[&str], stdin: Vec<u8>) -> anyhow::Result<Ran> {
    let engine = Runtime::shared()?.engine().clone();
    let component = load_precompiled(&engine, component)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    let io = CommandIo {
        args: args.iter().map(|a| a.to_string()).collect(),
        stdin,
        stdout: MemoryOutputPipe::new(usize::MAX),
        stderr: MemoryOutputPipe::new(1 << 20),
    };
    options.command = Some(io.clone());
    let mut store = Store::new(&engine, HostState::new(&options)?);
    store.limiter(HostState::limiter);
    let command = wasmtime_wasi::p2::bindings::Command::instantiate_async(&mut store, &component, &linker).await?;
    let status = match command.wasi_cli_run().call_run(&mut store).await {
        Ok(Ok(())) => 0,
        Ok(Err(())) => 1,
        // `exit(n)` ends the instance with a trap carrying the status.
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => exit.0,
            None => return Err(anyhow::Error::from(e)),
        },
    };
    drop(store);
    Ok(Ran { status, stdout: io.stdout.contents().to_vec(), stderr: String::from_utf8_lossy(&io.stderr.contents()).into_owned() })
}
