//! Every use of another top-level module of src/ (a `use crate::...` line or an inline `crate::`
//! path) points down the layer order written in src/lib.rs, so no two modules use each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Highest first: a module may use only the modules after it.
const LAYERS: &[&str] = &[
    "cli",
    "bench",
    "train",
    "eval",
    "sample",
    "run",
    "tasks",
    "transformer",
    "trm",
    "nn",
    "data",
    "log",
    "config",
    "rng",
    "files",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first path segment after each `crate::`, including every top-level name of a
/// `crate::{a, b::c}` group.
fn crate_uses(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut start_of_item) = (1, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => break,
                    '}' => depth -= 1,
                    ',' if depth == 1 => start_of_item = true,
                    c if c.is_whitespace() => {}
                    _ if start_of_item && depth == 1 => {
                        names.insert(ident(&group[i..]));
                        start_of_item = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

#[test]
fn every_import_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = first.trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for used in crate_uses(&text) {
            if used != top {
                graph
                    .entry(top.clone())
                    .or_default()
                    .entry(used)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        for (used, files) in uses {
            let ok = matches!((rank(module), rank(used)), (Some(a), Some(b)) if b > a);
            if !ok {
                wrong.push(format!("{module} -> {used} ({files:?})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up or name a module missing from the layer list:\n{}",
        wrong.join("\n")
    );
    // Every top-level module is placed in the order.
    for module in graph.keys() {
        assert!(rank(module).is_some(), "{module} is not in LAYERS");
    }
}

#[test]
fn the_parser_sees_groups_and_inline_paths() {
    let text = "use crate::{a::{B, C}, d, e::F};\nlet x = crate::g::h(1);\nuse crate::i;";
    let got: Vec<String> = crate_uses(text).into_iter().collect();
    assert_eq!(got, ["a", "d", "e", "g", "i"]);
}
