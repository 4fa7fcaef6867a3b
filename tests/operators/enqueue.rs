//! `okra-admin enqueue`: from flags, from JSON Lines, and a file that fails part-way.

use super::*;

#[tokio::test]
async fn enqueue_from_flags_and_from_json_lines() {
    let server = RedisServer::start();
    let q = "enq";
    let r = admin(
        &server,
        q,
        &["enqueue", "bvn_verify", "--bvn", "22234567890"],
    )
    .ok();
    let id = r.out.trim().to_string();
    assert_eq!(id.len(), 26, "a ULID: {id}");
    let r = admin(&server, q, &["--json", "job", "show", &id])
        .ok()
        .json();
    assert_eq!(r["state"], "ready");
    assert_eq!(r["kind"], "bvn_verify");

    let delayed = admin(
        &server,
        q,
        &[
            "--json",
            "enqueue",
            "nuban_verify",
            "--nuban",
            "0123456789",
            "--bank",
            "b1",
            "--delay",
            "1h",
            "--max-attempts",
            "2",
        ],
    )
    .ok()
    .json();
    let id = delayed["id"].as_str().unwrap();
    let r = admin(&server, q, &["--json", "job", "show", id])
        .ok()
        .json();
    assert_eq!(r["state"], "scheduled");
    assert_eq!(r["max_attempts"], 2);

    let keyed = [
        "enqueue",
        "rc_verify",
        "--rc-number",
        "RC1",
        "--company-name",
        "Acme",
        "--idempotency-key",
        "acme",
    ];
    let a = admin(&server, q, &keyed).ok();
    let b = admin(&server, q, &keyed).ok();
    assert!(
        b.out.starts_with(a.out.trim()),
        "a duplicate key returns the first id: {}",
        b.out
    );
    assert!(b.out.contains("duplicate"), "{}", b.out);

    // Refused before Redis, with a one-line reason.
    let r = admin(&server, q, &["enqueue", "bvn_verify", "--bvn", "123"]);
    assert_eq!(r.code, 2, "a bad flag value is a usage error");
    assert!(r.err.contains("11 digits"), "{}", r.err);
    assert_eq!(r.err.trim().lines().count(), 1);
    let r = admin(
        &server,
        q,
        &["enqueue", "nuban_verify", "--nuban", "0123456789"],
    );
    assert_eq!(r.code, 2);
    assert!(r.err.contains("bank"), "{}", r.err);
    let r = admin(
        &server,
        q,
        &["enqueue", "bvn_check", "--bvn", "22234567890"],
    );
    assert_ne!(r.code, 0);

    let lines = [
        r#"{"kind":"bvn_verify","bvn":"22234567891"}"#,
        "not json",
        r#"{"kind":"bvn_verify","bvn":"1"}"#,
        r#"{"kind":"nin_verify","nin":"12345678901","options":{"delay":"30s","max_attempts":5,"idempotency_key":"k1"}}"#,
        r#"{"kind":"nin_verify","nin":"12345678901","options":{"idempotency_key":"k1"}}"#,
        "",
        r#"{"kind":"teleport","x":1}"#,
    ]
    .join("\n");
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), &lines).unwrap();
    let r = admin(
        &server,
        q,
        &["enqueue", "--file", path.path().to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "invalid lines make the exit status 1");
    assert!(
        r.out.contains("accepted 2, duplicates 1, invalid 3"),
        "{}",
        r.out
    );
    assert!(r.err.contains("line 2:"), "{}", r.err);
    assert!(
        r.err.contains("line 3:") && r.err.contains("11 digits"),
        "{}",
        r.err
    );
    assert!(
        r.err
            .contains("line 7: unknown kind (expected one of bvn_verify"),
        "{}",
        r.err
    );

    let r = admin_with_stdin(
        &server,
        "enq2",
        &["--json", "enqueue", "--file", "-"],
        &lines,
    )
    .json();
    assert_eq!(
        (
            r["accepted"].as_u64(),
            r["duplicates"].as_u64(),
            r["invalid"].as_u64()
        ),
        (Some(2), Some(1), Some(3))
    );
    assert_eq!(r["errors"][0]["line"], 2);
    let s = admin(&server, "enq2", &["--json", "stats"]).ok().json();
    assert_eq!(s["ready"], 1);
    assert_eq!(s["scheduled"], 1);
}

#[tokio::test]
async fn enqueue_file_that_fails_part_way_names_the_lines_written_and_not() {
    let server = RedisServer::start();
    let q = "partial";
    // A foreign value where the idempotency key of line 2,102 would go: Redis refuses its chunk.
    server.cli(&["HSET", &format!("okq:{{{q}}}:idem:taken"), "f", "v"]);
    let mut lines = vec!["# 2,500 jobs".to_string()];
    for i in 0..2_500 {
        let key = if i == 2_100 {
            r#","options":{"idempotency_key":"taken"}"#
        } else {
            ""
        };
        lines.push(format!(
            r#"{{"kind":"bvn_verify","bvn":"22{i:05}1234"{key}}}"#
        ));
    }
    let text = lines.join("\n");
    let r = admin_with_stdin(&server, q, &["enqueue", "--file", "-"], &text);
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.out, r.err);
    assert!(r.err.contains("enqueue stopped part-way"), "{}", r.err);
    assert!(r.err.contains("written:     lines 2-2001"), "{}", r.err);
    assert!(r.err.contains("not written: lines 2002-2501"), "{}", r.err);
    let j = admin_with_stdin(
        &server,
        "partial2",
        &["--json", "enqueue", "--file", "-"],
        &text,
    );
    assert_eq!(j.code, 0, "another queue has no foreign key: {}", j.err);
    let s = admin(&server, q, &["--json", "stats"]).ok().json();
    assert_eq!(s["ready"], 2_000, "exactly the lines it says it wrote");
}

/// A kind no provider of `[provider] order` sells is refused where it is enqueued (exit 2, one
/// line), from flags and from a file, and nothing is written: it would never be sent.
#[tokio::test]
async fn a_kind_no_provider_sells_is_refused_at_enqueue() {
    let server = RedisServer::start();
    let q = "unsold";
    let prembly = [("OKQ_PROVIDER__ORDER", r#"["prembly", "dojah"]"#)];
    let r = common::cli::admin_with_env(
        &server,
        q,
        &["enqueue", "customer_verify", "--customer", "cus-5f3e9a7712"],
        &prembly,
    );
    assert_eq!(r.code, 2, "{}", r.err);
    assert_eq!(
        r.err.trim(),
        "okra-admin: no provider of provider.order (prembly, dojah) sells customer_verify"
    );
    let line = r#"{"kind":"customer_verify","customer":"cus-5f3e9a7712"}"#;
    let r = common::cli::run_with_input(
        common::cli::command(&server, q, &["enqueue", "--file", "-"]).envs(prembly),
        &format!("{line}\n"),
    );
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(
        r.err.contains("line 1: no provider of provider.order"),
        "{}",
        r.err
    );
    // What they sell is taken.
    common::cli::admin_with_env(
        &server,
        q,
        &["enqueue", "bvn_verify", "--bvn", "22234567890"],
        &prembly,
    )
    .ok();
    let stats = admin(&server, q, &["--json", "stats"]).ok().json();
    assert_eq!(stats["ready"], 1, "{stats}");
}
