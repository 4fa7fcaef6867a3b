//! "The docs": README.md and every page under docs/, read as one, so a test finds a block,
//! a table or a section wherever it lives (the README, or the book it was split into).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One Markdown file, with its path relative to the repository's root (`docs/x.md`).
pub struct Page {
    pub path: PathBuf,
    pub text: String,
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn markdown(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            markdown(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// README.md and every docs/**/*.md, working notes (docs/research/) included.
pub fn every_page() -> Vec<Page> {
    let mut paths = vec![root().join("README.md")];
    markdown(&root().join("docs"), &mut paths);
    paths
        .into_iter()
        .map(|p| Page {
            text: std::fs::read_to_string(&p).unwrap(),
            path: p.strip_prefix(root()).unwrap().to_path_buf(),
        })
        .collect()
}

/// The user's docs: README.md and docs/, without the working notes in docs/research/.
pub fn pages() -> Vec<Page> {
    every_page()
        .into_iter()
        .filter(|p| !p.path.starts_with("docs/research"))
        .collect()
}

/// Every page of the user's docs, one after the other.
pub fn all() -> String {
    pages()
        .into_iter()
        .map(|p| p.text)
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_fence(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("```") || l.starts_with("~~~")
}

/// (line index, level, text) of every heading outside code fences.
pub fn headings(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if is_fence(line) {
            fenced = !fenced;
            continue;
        }
        let level = line.chars().take_while(|&c| c == '#').count();
        if !fenced && (1..=6).contains(&level) && line[level..].starts_with(' ') {
            let words = line[level..].trim().trim_end_matches('#').trim_end();
            out.push((i, level, words.to_string()));
        }
    }
    out
}

/// GitHub's anchor for a heading: link text kept, lowercase, punctuation dropped (letters,
/// digits, `-`, `_` and spaces stay), spaces to `-`.
pub fn slug(heading: &str) -> String {
    let mut plain = String::new();
    let mut rest = heading;
    // `[text](url)` reads as `text`.
    while let Some(open) = rest.find('[') {
        let (before, after) = rest.split_at(open);
        plain.push_str(before);
        match after
            .find("](")
            .and_then(|m| after[m..].find(')').map(|c| (m, m + c)))
        {
            Some((mid, close)) => {
                plain.push_str(&after[1..mid]);
                rest = &after[close + 1..];
            }
            None => {
                plain.push('[');
                rest = &after[1..];
            }
        }
    }
    plain.push_str(rest);
    plain
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A page's anchors (a repeated heading gets `-1`, `-2`, ... as on GitHub).
pub fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut out = BTreeSet::new();
    for (_, _, words) in headings(text) {
        let s = slug(&words);
        let n = seen.entry(s.clone()).or_default();
        out.insert(if *n == 0 {
            s.clone()
        } else {
            format!("{s}-{n}")
        });
        *n += 1;
    }
    out
}

/// The text of every section, on any page, whose heading is `heading` (its subsections
/// included), joined: a section reads the same before and after the README was split.
pub fn section(heading: &str) -> String {
    let mut out = String::new();
    for page in pages() {
        let lines: Vec<&str> = page.text.lines().collect();
        let heads = headings(&page.text);
        for (n, (start, level, words)) in heads.iter().enumerate() {
            if words != heading {
                continue;
            }
            let end = heads[n + 1..]
                .iter()
                .find(|(_, l, _)| l <= level)
                .map_or(lines.len(), |(i, _, _)| *i);
            out.push_str(&lines[*start..end].join("\n"));
            out.push('\n');
        }
    }
    assert!(
        !out.is_empty(),
        "no page of the docs has a section \"{heading}\""
    );
    out
}

/// The lines of code of a page: fenced blocks' lines, and each inline `code` span.
pub fn code(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if is_fence(line) {
            fenced = !fenced;
        } else if fenced {
            out.push(line.to_string());
        } else {
            out.extend(line.split('`').skip(1).step_by(2).map(str::to_string));
        }
    }
    out
}

/// A text with every link's target left out (`[text](target)` → `[text]()`): a table the code
/// writes is the same table wherever the docs put it, and its links' targets are checked by
/// tests/docs.rs for the page it is on.
pub fn without_link_targets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        out.push_str(&rest[..i + 2]);
        let after = &rest[i + 2..];
        match after.find([')', '\n']) {
            Some(end) if after[end..].starts_with(')') => rest = &after[end..],
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}
