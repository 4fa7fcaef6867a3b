//! The docs (README.md and docs/**/*.md, read by `common::docs` wherever a section now lives)
//! against themselves and the code: every relative link reaches a file and a heading; the
//! configuration reference lists exactly the keys the code reads; the okra-admin page names
//! every command and the docs name no command that does not exist; the docs name exactly the
//! metrics the workers export. None of this needs mdbook.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use common::docs;

/// `a/../b` → `b`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Inline links `[text](target)` outside code: (line number, target).
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.starts_with("```") || l.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans are not links.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or("");
            out.push((n + 1, target.to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// Every relative link in README.md and docs/ points to a file that exists, and every
/// `#anchor` to a heading of that page (GitHub's rule: lowercase, spaces to `-`, punctuation
/// dropped).
#[test]
fn every_link_reaches_a_file_and_a_heading() {
    let pages = docs::every_page();
    let anchors: BTreeMap<PathBuf, BTreeSet<String>> = pages
        .iter()
        .map(|p| (p.path.clone(), docs::anchors(&p.text)))
        .collect();
    let mut checked = 0;
    let mut problems = Vec::new();
    for page in &pages {
        for (line, target) in links(&page.text) {
            let scheme = target
                .split_once(':')
                .is_some_and(|(s, _)| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()));
            if scheme || target.starts_with('/') || target.is_empty() {
                continue;
            }
            checked += 1;
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let dest = if file.is_empty() {
                page.path.clone()
            } else {
                normalize(&page.path.parent().unwrap().join(file))
            };
            let at = format!("{}:{line}: ({target})", page.path.display());
            if !docs::root().join(&dest).exists() {
                problems.push(format!("{at}: {} does not exist", dest.display()));
            } else if !anchor.is_empty() {
                match anchors.get(&dest) {
                    None => problems.push(format!(
                        "{at}: #{anchor} points into a file that is not a Markdown page"
                    )),
                    Some(known) if !known.contains(anchor) => {
                        problems.push(format!("{at}: {} has no heading #{anchor}", dest.display()))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    verdict(problems);
    assert!(
        checked > 20,
        "the docs link to each other ({checked} links)"
    );
}

/// Every key the code reads, `section.key`: `okra_queue::config::SECTIONS` (any section added
/// there, such as `[gateway]`, `[webhooks]` or `[telemetry]`, comes with it), with
/// `[provider]`'s per-provider tables as `provider.<name>.key`.
fn code_keys() -> BTreeSet<String> {
    use okra_queue::okra::providers::{PROVIDERS, ProviderConf};
    let names: BTreeSet<&str> = PROVIDERS.iter().map(|p| p.name).collect();
    let per_provider: Vec<String> = match serde_json::to_value(ProviderConf::default()).unwrap() {
        serde_json::Value::Object(map) => map.keys().cloned().collect(),
        _ => unreachable!("ProviderConf is a table"),
    };
    let mut out = BTreeSet::new();
    for (section, keys) in okra_queue::config::SECTIONS.iter() {
        for key in keys {
            if *section == "provider" && names.contains(key.as_str()) {
                out.extend(per_provider.iter().map(|k| format!("provider.<name>.{k}")));
            } else {
                out.insert(format!("{section}.{key}"));
            }
        }
    }
    out
}

/// The `section.key` names a text writes in code spans, with a provider's name written
/// `<name>` and a trailing placeholder (`okra.lookup.<kind>`) dropped.
fn doc_keys(text: &str, sections: &BTreeSet<&str>) -> BTreeSet<String> {
    use okra_queue::okra::providers::PROVIDERS;
    let mut out = BTreeSet::new();
    for span in docs::code(text) {
        for word in span.split([',', ' ', '=', '(', ')']) {
            let word = word.trim();
            let mut parts: Vec<&str> = word.split('.').collect();
            let keyish = parts.len() >= 2
                && sections.contains(parts[0])
                && parts[1..].iter().all(|p| {
                    !p.is_empty()
                        && p.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || "_<>".contains(c)
                        })
                });
            if !keyish {
                continue;
            }
            if parts[0] == "provider"
                && parts.len() > 2
                && PROVIDERS.iter().any(|p| p.name == parts[1])
            {
                parts[1] = "<name>";
            }
            while parts.len() > 2 && parts.last().is_some_and(|p| p.starts_with('<')) {
                parts.pop();
            }
            out.insert(parts.join("."));
        }
    }
    out
}

/// The configuration reference (every section headed "Configuration": the reference page,
/// and the providers' page for `[provider]`) lists every key the code reads, and lists no key
/// the code does not read. A map-valued key (`okra.lookup`, `provider.<name>.price`) may be
/// written with its entries.
#[test]
fn the_configuration_reference_is_the_codes_keys() {
    let code = code_keys();
    let sections: BTreeSet<&str> = okra_queue::config::SECTIONS
        .iter()
        .map(|(s, _)| *s)
        .collect();
    let reference = docs::section("Configuration");
    let listed = doc_keys(&reference, &sections);
    let mut problems = Vec::new();
    for key in &code {
        if !listed
            .iter()
            .any(|d| d == key || d.starts_with(&format!("{key}.")))
        {
            problems.push(format!(
                "the configuration reference does not list `{key}` (a key the code reads)"
            ));
        }
    }
    for key in &listed {
        if !code.iter().any(|c| {
            c == key || key.starts_with(&format!("{c}.")) || c.starts_with(&format!("{key}."))
        }) {
            problems.push(format!(
                "the configuration reference lists `{key}`, which the code does not read (okra_queue::config::SECTIONS)"
            ));
        }
    }
    verdict(problems);
}

/// One line per problem, every problem at once.
fn verdict(problems: Vec<String>) {
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `okra-admin`'s commands as clap lists them: `cmd`, and `cmd sub` for a command with
/// subcommands; and the global flags that take a value.
fn admin_commands() -> (BTreeSet<String>, BTreeSet<String>) {
    fn help(args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args(args)
            .arg("--help")
            .env_remove("REDIS_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "okra-admin {args:?} --help failed");
        String::from_utf8(out.stdout).unwrap()
    }
    fn listed(help: &str) -> Vec<String> {
        help.lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            // A wrapped description is indented deeper than the command names.
            .filter(|l| !l[2..].starts_with(' '))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_string)
            .collect()
    }
    let top = help(&[]);
    let mut commands = BTreeSet::new();
    for cmd in listed(&top) {
        for sub in listed(&help(&[&cmd])) {
            commands.insert(format!("{cmd} {sub}"));
        }
        commands.insert(cmd);
    }
    let valued = top
        .lines()
        .skip_while(|l| !l.starts_with("Options:"))
        .filter_map(|l| {
            let l = l.trim_start();
            let flag = l.split([' ', ',']).find(|w| w.starts_with("--"))?;
            l[l.find(flag)? + flag.len()..]
                .starts_with(" <")
                .then(|| flag.to_string())
        })
        .collect();
    assert!(commands.len() > 10, "okra-admin's commands: {commands:?}");
    (commands, valued)
}

/// Each `okra-admin ...` the code of a text runs, as the command it names: `cmd` or
/// `cmd sub` (global flags skipped).
fn admin_uses(
    text: &str,
    commands: &BTreeSet<String>,
    valued: &BTreeSet<String>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in docs::code(text) {
        for (at, _) in line.match_indices("okra-admin") {
            let rest = &line[at + "okra-admin".len()..];
            if !(rest.is_empty() || rest.starts_with(' ')) || line[..at].ends_with("--entrypoint ")
            {
                continue; // okra-admin.md, okra-admin's, docker's `--entrypoint okra-admin IMAGE`
            }
            let mut words = rest.split_whitespace().peekable();
            while let Some(w) = words.peek() {
                if !w.starts_with('-') {
                    break;
                }
                let takes_value = valued.contains(*w);
                words.next();
                if takes_value {
                    words.next();
                }
            }
            let Some(cmd) = words.next() else { continue };
            let cmd = cmd.trim_end_matches([';', ')', '`', ',']);
            if cmd.starts_with(['<', '$', '#', '|', '&']) || cmd.is_empty() {
                continue;
            }
            let used = match words.next() {
                Some(sub) if commands.contains(&format!("{cmd} {sub}")) => format!("{cmd} {sub}"),
                _ => cmd.to_string(),
            };
            out.push((used, line.trim().to_string()));
        }
    }
    out
}

/// The okra-admin page shows every command (and subcommand) clap knows, and every
/// `okra-admin <word>` the docs run is a real command.
#[test]
fn the_okra_admin_page_is_the_clis_commands() {
    let (commands, valued) = admin_commands();
    let page = docs::section("Operator's guide: okra-admin");
    let shown: BTreeSet<String> = admin_uses(&page, &commands, &valued)
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let mut problems = Vec::new();
    for cmd in &commands {
        // A command with subcommands is shown through them.
        let through_subs = commands.iter().any(|c| c.starts_with(&format!("{cmd} ")));
        if !shown.contains(cmd) && !through_subs {
            problems.push(format!(
                "the okra-admin page does not show `okra-admin {cmd}` (from okra-admin --help)"
            ));
        }
    }
    for (used, line) in admin_uses(&docs::all(), &commands, &valued) {
        let top = used.split(' ').next().unwrap();
        if !commands.contains(top) {
            problems.push(format!(
                "the docs run `okra-admin {used}`, which is not a command of okra-admin: {line}"
            ));
        }
    }
    verdict(problems);
}

/// The metric names the workers export: the name given to each `metrics` macro
/// (`counter!`, `gauge!`, `histogram!` and their `describe_`) in src/ and workers/.
fn code_metrics() -> BTreeSet<String> {
    let mut files = Vec::new();
    for dir in ["src", "workers"] {
        rs_files(&docs::root().join(dir), &mut files);
    }
    let mut out = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for macro_ in ["counter!(", "gauge!(", "histogram!("] {
            for (at, _) in text.match_indices(macro_) {
                let rest = text[at + macro_.len()..].trim_start();
                if let Some(name) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                    out.insert(name.to_string());
                }
            }
        }
        // Names handed to a macro through a list (`for name in [...] { counter!(name, ...) }`)
        // are described too, so the `describe_` calls above already hold them.
    }
    out
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The metric names a text writes: every `okq_…`, and every `okra_…` ending in `_total` or
/// `_seconds` (others, such as `okra_queue` or `okra_timeout`, are a crate and a class), with
/// Prometheus's `_bucket`/`_sum`/`_count` series read as their metric.
fn doc_metrics(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    for word in words {
        let word = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| word.strip_suffix(s))
            .unwrap_or(word);
        let metric = (word.starts_with("okq_") && !word.ends_with('_'))
            || (word.starts_with("okra_")
                && (word.ends_with("_total") || word.ends_with("_seconds")));
        if metric {
            out.insert(word.to_string());
        }
    }
    out
}

/// The docs name every metric the workers export, and no metric they do not.
#[test]
fn the_docs_name_the_workers_metrics() {
    let code = code_metrics();
    assert!(code.len() > 10, "the workers' metrics: {code:?}");
    let docs = doc_metrics(&docs::all());
    let mut problems = Vec::new();
    for m in code.difference(&docs) {
        problems.push(format!(
            "the docs do not name the metric {m} (exported by the workers)"
        ));
    }
    for m in docs.difference(&code) {
        problems.push(format!(
            "the docs name the metric {m}, which no worker exports"
        ));
    }
    verdict(problems);
}

/// Once the book exists (docs/SUMMARY.md), the README is its front door: at most ~250 lines,
/// and every page of docs/ is reachable from it by links; SUMMARY.md lists every page.
#[test]
fn the_readme_is_the_front_door_of_the_book() {
    let root = docs::root();
    if !root.join("docs/SUMMARY.md").exists() {
        return; // the one-file README, before scripts/split-docs.py
    }
    let pages = docs::every_page();
    let readme = &pages[0].text;
    let lines = readme.lines().count();
    assert!(
        lines <= 260,
        "README.md is {lines} lines; the front door holds at most ~250"
    );
    let mut reached = BTreeSet::from([PathBuf::from("README.md")]);
    let mut todo = vec![PathBuf::from("README.md")];
    while let Some(path) = todo.pop() {
        let Some(page) = pages.iter().find(|p| p.path == path) else {
            continue;
        };
        for (_, target) in links(&page.text) {
            let file = target.split('#').next().unwrap_or("");
            if file.is_empty() || file.contains(':') || !file.ends_with(".md") {
                continue;
            }
            let dest = normalize(&path.parent().unwrap().join(file));
            if reached.insert(dest.clone()) {
                todo.push(dest);
            }
        }
    }
    let summary = std::fs::read_to_string(root.join("docs/SUMMARY.md")).unwrap();
    let mut problems = Vec::new();
    for page in &pages {
        let p = &page.path;
        if p.ends_with("SUMMARY.md") {
            continue;
        }
        if !reached.contains(p) {
            problems.push(format!(
                "{} is not reachable by links from README.md",
                p.display()
            ));
        }
        let in_book = p
            .strip_prefix("docs")
            .ok()
            .filter(|b| !b.starts_with("research"));
        if let Some(b) = in_book
            && !summary.contains(&format!("]({})", b.display()))
        {
            problems.push(format!("docs/SUMMARY.md does not list {}", p.display()));
        }
    }
    verdict(problems);
}
