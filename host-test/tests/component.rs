//! Facts about the built component that deployers rely on.

mod common;

use host_test::runtime::{Runtime, COMPONENT};

/// What the component needs from its host: wasi:http's outgoing handler, what Rust's std
/// on wasip2 links (clocks, environment, stdio, exit, a hash seed), and the filesystem's
/// preopens, to read the shared AWS files and token files it is given. Never raw sockets.
#[test]
fn imports_http_std_basics_and_preopens_but_no_sockets() {
    if common::skip_on_memory("it inspects the S3 component itself") {
        return;
    }
    let rt = Runtime::shared().unwrap();
    let component = wasmtime::component::Component::new(rt.engine(), COMPONENT).unwrap();
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(rt.engine()).map(|(name, _)| name.to_string()).collect();
    let exports: Vec<String> = ty.exports(rt.engine()).map(|(name, _)| name.to_string()).collect();
    eprintln!("imports: {imports:#?}\nexports: {exports:#?}");
    // `types` too, so that a composition takes its types from here and imports only WASI.
    assert_eq!(exports, ["wasm-storages:storage/types@0.1.0", "wasm-storages:storage/storage@0.1.0"]);
    assert!(imports.iter().any(|i| i == "wasi:http/outgoing-handler@0.2.12"), "{imports:?}");
    assert!(imports.iter().any(|i| i == "wasi:cli/environment@0.2.12"), "{imports:?}");
    assert!(imports.iter().any(|i| i == "wasi:filesystem/preopens@0.2.12"), "{imports:?}");
    for import in &imports {
        assert!(!import.starts_with("wasi:sockets"), "unexpected import {import}");
    }
}

/// The release component stays within its budget (the README records the figure, and
/// why the budget moved from 512 KiB to 528 KiB).
#[test]
fn release_component_is_at_most_528_kib() {
    if common::skip_on_memory("it inspects the S3 component itself") {
        return;
    }
    assert!(COMPONENT.len() <= 528 * 1024, "component is {} bytes", COMPONENT.len());
}
