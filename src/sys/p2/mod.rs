//! The WASI 0.2 backend: wasip2's calls, with a small executor (`reactor`) that runs the
//! async core on wasi:io/poll.

pub mod http;
pub mod io;
pub mod reactor;
pub mod time;
