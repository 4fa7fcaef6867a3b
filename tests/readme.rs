//! The docs (README.md and docs/, wherever a block now lives: `common::docs`) against the
//! code: the examples (`examples/producer.rs` and `examples/worker.rs`, built without default
//! features by `make test`) run against a real Redis and are shown verbatim; the
//! classification and kind tables are the code's own; the source map names the files that
//! exist.

mod common;

use std::process::Command;

use common::*;
use okra_queue::{Queue, QueueConfig};

/// target/<profile>/deps/<this test> → target/<profile>/examples/<name>
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "built by scripts/check-lean.sh (make test): {}",
        path.display()
    );
    path
}

#[tokio::test]
async fn the_readme_worker_example_runs() {
    let server = RedisServer::start();
    let stdout =
        common::procs::run_ok(Command::new(example("worker")).env("REDIS_URL", server.url()));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].ends_with("completed after 2 attempts: /products/kyc/bvn-verify"),
        "{stdout}"
    );
    assert_eq!(
        lines[1..],
        [
            "event enqueued bvn_verify ",
            "event retry bvn_verify server_error",
            "event completed bvn_verify ",
            // Paid once with the library's pay-once unit: the second job reuses the answer.
            "the same person again: reuse"
        ],
        "{stdout}"
    );
}

#[tokio::test]
async fn the_readme_producer_example_runs() {
    let server = RedisServer::start();
    let stdout =
        common::procs::run_ok(Command::new(example("producer")).env("REDIS_URL", server.url()));
    assert!(stdout.contains("enqueued 5 jobs"), "{stdout}");
    let queue = Queue::connect(&server.settings(), QueueConfig::new("identity"))
        .await
        .unwrap();
    let s = queue.stats().await.unwrap();
    assert_eq!((s.ready, s.scheduled, s.duplicates), (4, 1, 1), "{s:?}");
}

/// The docs show the examples exactly as they are compiled and run here.
#[test]
fn the_docs_show_the_examples_verbatim() {
    let docs = docs::all();
    for name in ["producer", "worker"] {
        let path = format!("{}/examples/{name}.rs", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text
            .lines()
            .filter(|l| !l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            docs.contains(&format!("```rust\n{}\n```", code.trim())),
            "no page of the docs shows examples/{name}.rs as it is"
        );
    }
}

/// The kinds are written once, in the kind table; the docs show their tables (the wire
/// format, and the free lookups indented as the list item they sit in), link targets aside.
#[test]
fn the_docs_kind_tables_are_the_kind_table() {
    use okra_queue::okra::kinds;
    let wire = kinds::readme_table();
    assert!(
        docs::without_link_targets(&docs::all()).contains(&docs::without_link_targets(&wire)),
        "the docs' wire-format table differs from okra::kinds::KINDS; it should read:\n{wire}"
    );
    let lookups: String = kinds::lookups_table()
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect();
    assert!(
        docs::without_link_targets(&docs::all()).contains(&docs::without_link_targets(&lookups)),
        "the docs' free-lookup table differs from okra::kinds::KINDS; it should read:\n{lookups}"
    );
}

/// The failure classification is written once, in code; the docs show that table (its links
/// aim where the page it is on needs: tests/docs.rs checks them, so targets are left out here).
#[test]
fn the_docs_classification_table_is_the_codes() {
    let table = okra_queue::okra::classify::readme_table();
    assert!(
        docs::without_link_targets(&docs::all()).contains(&docs::without_link_targets(&table)),
        "the docs' classification table differs from okra::classify::TABLE; it should read:\n{table}"
    );
}

/// Every path the source map (the "Source layout" section, wherever it is) names exists.
#[test]
fn the_docs_source_map_matches_the_tree() {
    let section = docs::section("Source layout");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut named = 0;
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        for path in first.split('`').skip(1).step_by(2) {
            named += 1;
            assert!(
                root.join(path).exists(),
                "the source map names {path}, which does not exist"
            );
        }
    }
    assert!(named > 10, "the source map names the tree's parts");
}
