//! The source tree's shape, checked on every `make test` (and `make lint`): no import cycle
//! between the library's top-level modules (a child importing its parent is fine), none
//! between the files of one folder either (`super::` and `crate::` paths to a sibling), the
//! storage layer at the bottom, and no source or test file over 700 lines. Read from the code's own
//! `crate::` paths, comments left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 700;

/// What the storage layer may import: the shared vocabulary below it, nothing above.
const BELOW_STORAGE: [&str; 4] = ["error", "ident", "job", "keys"];

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

/// The code without its comments (line comments, doc comments included, and block comments).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else if rest.starts_with('"') {
            // Skip string literals whole, so a `//` inside one is not a comment.
            let end = rest[1..]
                .char_indices()
                .scan(false, |escaped, (i, c)| {
                    let done = c == '"' && !*escaped;
                    *escaped = c == '\\' && !*escaped;
                    Some((i, done))
                })
                .find(|(_, done)| *done)
                .map_or(rest.len(), |(i, _)| i + 2);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The top-level modules a piece of code names through `crate::` (`crate::a::b`, and each
/// item of `crate::{a, b::c}`).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        if code[..i].ends_with('$') {
            continue;
        }
        let after = &code[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let (mut depth, mut item) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            out.insert(ident(item.trim()));
        } else {
            out.insert(ident(after));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

/// The library's module graph: top-level module → the top-level modules its files name.
fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        if first == "bin" || first == "lib.rs" {
            continue;
        }
        let module = first.trim_end_matches(".rs").to_string();
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let refs = g.entry(module.clone()).or_default();
        refs.extend(crate_refs(&code).into_iter().filter(|m| *m != module));
    }
    g
}

/// A cycle through `start`, if there is one (depth-first search).
fn cycle_from(g: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        g: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in g.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(g, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(g, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

/// The sibling files (or folders) a file's code names: `super::NAME` and `crate::<its
/// folder>::NAME`, where NAME is another file or folder of the same folder.
fn sibling_refs(code: &str, folder: &[String], siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut prefixes = vec!["super::".to_string()];
    if !folder.is_empty() {
        prefixes.push(format!("crate::{}::", folder.join("::")));
    }
    let mut out = BTreeSet::new();
    for prefix in &prefixes {
        for (i, _) in code.match_indices(prefix.as_str()) {
            let after = &code[i + prefix.len()..];
            let names: Vec<String> = match after.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|item| ident(item.trim()))
                    .collect(),
                None => vec![ident(after)],
            };
            out.extend(names.into_iter().filter(|n| siblings.contains(n)));
        }
    }
    out
}

/// Per folder of `dir` (itself included): each file → the sibling files it names.
fn folder_graphs(root: &Path, dir: &str) -> BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> {
    let mut files = Vec::new();
    rust_files(&root.join(dir), &mut files);
    let mut by_folder: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        by_folder
            .entry(f.parent().unwrap().to_path_buf())
            .or_default()
            .push(f);
    }
    let src = root.join("src");
    let mut out = BTreeMap::new();
    for (folder, files) in by_folder {
        let name = |p: &Path| p.file_stem().unwrap().to_string_lossy().to_string();
        let mut siblings: BTreeSet<String> = files.iter().map(|f| name(f)).collect();
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                siblings.insert(name(&path));
            }
        }
        // A file's path in the crate: `crate::rdb::…` for src/rdb (none outside the library).
        let module: Vec<String> = folder
            .strip_prefix(&src)
            .map(|rel| {
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let me = name(f);
            // The folder's own module file imports its children; a child naming it is fine.
            if matches!(me.as_str(), "mod" | "main" | "lib") {
                continue;
            }
            let code = code_only(&std::fs::read_to_string(f).unwrap());
            let refs = sibling_refs(&code, &module, &siblings);
            g.entry(me.clone())
                .or_default()
                .extend(refs.into_iter().filter(|r| *r != me && r != "mod"));
        }
        out.insert(folder, g);
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let g = graph(&root());
    assert!(g.contains_key("rdb") && g.contains_key("queue"), "{g:?}");
    let cycles: Vec<String> = g
        .keys()
        .filter_map(|m| cycle_from(&g, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn no_import_cycle_inside_any_folder() {
    let mut cycles = Vec::new();
    for dir in ["src", "workers"] {
        for (folder, g) in folder_graphs(&root(), dir) {
            for m in g.keys() {
                if let Some(c) = cycle_from(&g, m) {
                    cycles.push(format!("{}: {}", folder.display(), c.join(" -> ")));
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles between files of one folder (give what both need a file below them):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn storage_is_the_bottom_layer() {
    let g = graph(&root());
    let above: Vec<&String> = g["rdb"]
        .iter()
        .filter(|m| !BELOW_STORAGE.contains(&m.as_str()))
        .collect();
    assert!(above.is_empty(), "rdb imports from above it: {above:?}");
}

#[test]
fn no_source_or_test_file_is_over_700_lines() {
    let mut files = Vec::new();
    for dir in ["src", "workers", "tests", "benches", "examples"] {
        rust_files(&root().join(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by concern: {long:?}");
}

#[test]
fn the_checker_sees_imports_and_skips_comments() {
    let code = code_only(
        "use crate::{job::Lease, rdb::{Rdb, Keys}, error};\n// crate::okra\n/* crate::web */ let s = \"// x\"; crate::queue::Queue::x()",
    );
    let refs: Vec<String> = crate_refs(&code).into_iter().collect();
    assert_eq!(refs, ["error", "job", "queue", "rdb"]);
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycle_from(&g, "a").unwrap(), ["a", "b", "a"]);
    // Inside a folder: `super::` and the folder's own `crate::` path name siblings.
    let siblings = BTreeSet::from(["acker".to_string(), "process".to_string()]);
    let code = code_only(
        "use super::process::{WorkerProcess, every};\nuse super::{acker, Nope};\nuse crate::backend::acker::x; // super::gone",
    );
    let refs: Vec<String> = sibling_refs(&code, &["backend".to_string()], &siblings)
        .into_iter()
        .collect();
    assert_eq!(refs, ["acker", "process"]);
}
