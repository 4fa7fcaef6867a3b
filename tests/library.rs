//! The library as an app developer uses it: the README's producer example (`examples/producer.rs`,
//! built by `make test`) runs against a real Redis and enqueues what it says.

mod common;

use std::process::Command;

use common::*;
use okra_queue::{Queue, QueueConfig};

#[tokio::test]
async fn the_readme_producer_example_runs() {
    let server = RedisServer::start();
    // target/<profile>/deps/<this test> → target/<profile>/examples/producer
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/producer");
    assert!(
        example.exists(),
        "built by scripts/check-lean.sh (make test): {}",
        example.display()
    );
    let stdout = common::procs::run_ok(Command::new(&example).env("REDIS_URL", server.url()));
    assert!(stdout.contains("enqueued 5 jobs"), "{stdout}");
    let queue = Queue::connect(&server.settings(), QueueConfig::new("identity"))
        .await
        .unwrap();
    let s = queue.stats().await.unwrap();
    assert_eq!((s.ready, s.scheduled, s.duplicates), (4, 1, 1), "{s:?}");
}
