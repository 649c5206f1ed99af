//! Facts about the built component that deployers rely on.

use crate::common;

use host_test::runtime::{COMPONENT, Runtime};

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
    assert_eq!(exports, ["wasm-storages:storage/types@0.2.0", "wasm-storages:storage/storage@0.2.0"]);
    assert!(imports.iter().any(|i| i == "wasi:http/outgoing-handler@0.2.12"), "{imports:?}");
    assert!(imports.iter().any(|i| i == "wasi:cli/environment@0.2.12"), "{imports:?}");
    assert!(imports.iter().any(|i| i == "wasi:filesystem/preopens@0.2.12"), "{imports:?}");
    for import in &imports {
        assert!(!import.starts_with("wasi:sockets"), "unexpected import {import}");
    }
}

/// The release component stays within its budget: 568 KiB since issue 19's async core (the
/// README's "Size" records the figure and what each step cost or saved). The build links it
/// through `wasm-opt -Oz` (`.cargo/wasm-link`): a build that skipped that fails here.
#[test]
fn release_component_is_at_most_568_kib() {
    if common::skip_on_memory("it inspects the S3 component itself") {
        return;
    }
    assert!(COMPONENT.len() <= 581_632, "component is {} bytes", COMPONENT.len());
}

/// The consumer template (`examples/consumer`) ships the contract as it is: its
/// `wit/deps/` is this repository's `wit/storage.wit` and `wit/deps/`, folder for folder
/// and byte for byte (what `wit-deps` makes of `wit/`; `host-test/scripts/consumer-template.sh`
/// checks that too), and the contract names no WASI package but `wasi:io` and `wasi:clocks`.
#[test]
fn the_consumer_template_ships_the_contract_as_it_is() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let read = |path: &std::path::Path| std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let shipped = root.join("examples/consumer/wit/deps");
    let contract = read(&root.join("wit/storage.wit"));
    assert!(read(&shipped.join("storage/storage.wit")) == contract, "examples/consumer/wit/deps/storage/storage.wit differs from wit/storage.wit");
    let folders = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };
    let mut expected = folders(&root.join("wit/deps"));
    expected.push("storage".into());
    expected.sort();
    assert_eq!(folders(&shipped), expected, "the template's wit/deps/ holds other packages than wit/deps/ and storage");
    for package in folders(&root.join("wit/deps")) {
        let ours = root.join("wit/deps").join(&package);
        assert_eq!(folders(&ours), folders(&shipped.join(&package)), "wit/deps/{package}");
        for file in folders(&ours) {
            assert!(
                read(&ours.join(&file)) == read(&shipped.join(&package).join(&file)),
                "examples/consumer/wit/deps/{package}/{file} differs from wit/deps/{package}/{file}"
            );
        }
    }
    let text = String::from_utf8(contract).unwrap();
    let code = text.lines().filter(|line| !line.trim_start().starts_with("//"));
    let wasi: std::collections::BTreeSet<&str> =
        code.flat_map(|line| line.match_indices("wasi:").map(|(i, _)| line[i..].split(['/', ' ', ';', '@']).next().unwrap())).collect();
    assert_eq!(wasi.into_iter().collect::<Vec<_>>(), ["wasi:clocks", "wasi:io"], "the packages wit/storage.wit names");
}
