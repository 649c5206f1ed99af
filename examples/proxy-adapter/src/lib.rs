//! Answers, inside a composition, what Rust's standard library makes every `wasm32-wasip2`
//! component import and a `wasi:http/proxy` host (`wasmtime serve` without `-Scli`, Spin,
//! wasmCloud, edge runtimes) does not give: plugged into the `proxy` builds of the S3
//! component and the file server (`examples/compose.sh --proxy`), their composition imports
//! only the proxy world and `wasi:config/store`.
//!
//! What each answer means to those components (which read their settings from
//! `wasi:config/store` and no file):
//! - `environment`: empty — no variables, arguments or working directory;
//! - `terminal-*`: no terminal (stdout and stderr stay the host's streams);
//! - `exit`: a trap — a library never exits, and a proxy host offers no exit to pass it on to;
//! - `insecure-seed`: from `wasi:random/random`.
//!
//! `no_std` and allocation-free, so it imports nothing of its own but `wasi:random/random`.
//! Native builds (the workspace's `cargo clippy --all-targets`) compile to nothing.

#![cfg_attr(target_arch = "wasm32", no_std)]

#[cfg(target_arch = "wasm32")]
mod adapter {
    extern crate alloc;

    use alloc::string::String;
    use alloc::vec::Vec;

    wit_bindgen::generate!({
        world: "wasm-storages:proxy-adapter/proxy-adapter@0.1.0",
        path: ["../../wit", "wit"],
        generate_all,
    });

    use exports::wasi::cli::{environment, exit, terminal_input, terminal_output, terminal_stderr, terminal_stdin, terminal_stdout};
    use exports::wasi::random::insecure_seed;

    struct Adapter;

    export!(Adapter);

    impl environment::Guest for Adapter {
        fn get_environment() -> Vec<(String, String)> {
            Vec::new()
        }
        fn get_arguments() -> Vec<String> {
            Vec::new()
        }
        fn initial_cwd() -> Option<String> {
            None
        }
    }

    impl exit::Guest for Adapter {
        fn exit(_status: Result<(), ()>) {
            core::arch::wasm32::unreachable()
        }
        fn exit_with_code(_status_code: u8) {
            core::arch::wasm32::unreachable()
        }
    }

    /// A terminal, which there never is: no value of it is ever made.
    pub enum NoTerminal {}

    impl terminal_input::GuestTerminalInput for NoTerminal {}
    impl terminal_output::GuestTerminalOutput for NoTerminal {}

    impl terminal_input::Guest for Adapter {
        type TerminalInput = NoTerminal;
    }
    impl terminal_output::Guest for Adapter {
        type TerminalOutput = NoTerminal;
    }
    impl terminal_stdin::Guest for Adapter {
        fn get_terminal_stdin() -> Option<terminal_input::TerminalInput> {
            None
        }
    }
    impl terminal_stdout::Guest for Adapter {
        fn get_terminal_stdout() -> Option<terminal_output::TerminalOutput> {
            None
        }
    }
    impl terminal_stderr::Guest for Adapter {
        fn get_terminal_stderr() -> Option<terminal_output::TerminalOutput> {
            None
        }
    }

    impl insecure_seed::Guest for Adapter {
        fn insecure_seed() -> (u64, u64) {
            (wasi::random::random::get_random_u64(), wasi::random::random::get_random_u64())
        }
    }

    /// Nothing here allocates (the lists it returns are empty); a request for memory is a
    /// bug, and traps.
    struct NoAlloc;

    unsafe impl core::alloc::GlobalAlloc for NoAlloc {
        unsafe fn alloc(&self, _layout: core::alloc::Layout) -> *mut u8 {
            core::ptr::null_mut()
        }
        unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
    }

    #[global_allocator]
    static ALLOCATOR: NoAlloc = NoAlloc;

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        core::arch::wasm32::unreachable()
    }
}
