//! The crate's shape, checked: the modules form no cycle, and no raw WASI call (a
//! `wasip2::` or `wasip3::` path) appears outside `sys` (the bindings' type map in `lib.rs` aside).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each top-level module (a file or folder under `src/`) and the top-level modules its
/// non-test code names as `crate::x`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "architecture" || module == "fuzz" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests may reach anywhere: only the code the component ships counts.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let uses = graph.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if name != module && name != "bindings" {
                uses.insert(name);
            }
        }
        // `use crate::{a, b}` lists.
        for (i, _) in code.match_indices("use crate::{") {
            let list = &code[i + 12..i + 12 + code[i + 12..].find('}').unwrap()];
            for name in list.split(',').map(|n| n.trim().split("::").next().unwrap().to_string()) {
                if !name.is_empty() && name != module {
                    uses.insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn the_modules_form_no_cycle() {
    let graph = graph();
    assert!(graph.contains_key("client") && graph.contains_key("sys"), "{graph:?}");
    // Depth-first search; `path` is the chain being followed.
    fn visit(module: &str, graph: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if let Some(at) = path.iter().position(|m| m == module) {
            panic!("module cycle: {} -> {module}", path[at..].join(" -> "));
        }
        if !done.insert(module.to_string()) {
            return;
        }
        path.push(module.to_string());
        for next in graph.get(module).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
    // `sys` is the bottom layer: it knows only the error type.
    assert!(graph["sys"].iter().all(|m| m == "error"), "sys depends on {:?}", graph["sys"]);
}

#[test]
fn raw_wasi_calls_are_only_in_sys() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        if relative.starts_with("sys") || relative == Path::new("lib.rs") || relative == Path::new("architecture.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for wasi in ["wasip2::", "wasip3::"] {
            assert!(!text.contains(wasi), "{} names {wasi} directly: raw WASI belongs in src/sys/", relative.display());
        }
    }
}
