//! The library as an app developer uses it: the README's examples (`examples/producer.rs` and
//! `examples/worker.rs`, built without default features by `make test`) run against a real
//! Redis and do what they say.

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
            "event completed bvn_verify "
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

/// The README shows the examples exactly as they are compiled and run here.
#[test]
fn the_readme_shows_the_examples_verbatim() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for name in ["producer", "worker"] {
        let path = format!("{}/examples/{name}.rs", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text
            .lines()
            .filter(|l| !l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            readme.contains(&format!("```rust\n{}\n```", code.trim())),
            "README does not show examples/{name}.rs as it is"
        );
    }
}
