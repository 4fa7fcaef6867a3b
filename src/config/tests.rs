//! The settings file: defaults, every problem reported, keys checked, secrets masked.
// figment's `Jail` closures return its own (large) error type.
#![allow(clippy::result_large_err)]

use super::*;
use std::time::Duration;

#[test]
fn defaults_are_valid() {
    Settings::default().validate().unwrap();
    let q = Settings::default().queue_config();
    assert_eq!(q.name, "identity");
    let account = q.account.unwrap();
    assert_eq!((account.name.as_str(), account.limit), ("default", 60));
    assert!(q.rate_limit.is_none());
}

#[test]
fn check_config_masks_every_credential() {
    let mut s = Settings::default();
    s.redis.url = "redis://app:urlpass@10.0.0.5:6379/0".into();
    s.redis.sentinels = vec![
        "redis://:sentpass@10.0.0.6:26379".into(),
        "rediss://ops:sentpass2@10.0.0.7:26379".into(),
        "10.0.0.8:26379".into(),
    ];
    s.redis.tls_key = Some("/etc/okq/client@2026.key".into());
    s.okra.base_url = "https://user:basepass@okra.internal/v2".into();
    let text = s.effective().join("\n");
    for secret in ["urlpass", "sentpass", "sentpass2", "basepass"] {
        assert!(!text.contains(secret), "{secret} shown:\n{text}");
    }
    assert!(text.contains("redis://:***@10.0.0.6:26379"), "{text}");
    assert!(text.contains("rediss://ops:***@10.0.0.7:26379"), "{text}");
    assert!(text.contains("10.0.0.8:26379"), "{text}");
    assert!(
        text.contains("/etc/okq/client@2026.key"),
        "paths are shown: {text}"
    );
    assert_eq!(
        masked("url", "redis://:a@h1:1,redis://u:b@h2:2".into()),
        "redis://:***@h1:1,redis://u:***@h2:2"
    );
}

#[test]
fn every_settings_key_is_in_default_toml() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml"))
        .unwrap();
    for (section, keys) in SECTIONS.iter() {
        let start = text
            .find(&format!("[{section}]"))
            .unwrap_or_else(|| panic!("config/default.toml has no [{section}]"));
        let body = &text[start..];
        let end = body[1..].find("\n[").map_or(body.len(), |i| i + 1);
        let body = &body[..end];
        for key in keys {
            let bare = |l: &str| l.trim_start_matches(['#', ' ']).to_string();
            // A key in its section, or a table of its own (`[okra.lookup]`).
            let listed = body
                .lines()
                .any(|l| bare(l).starts_with(&format!("{key} =")))
                || text
                    .lines()
                    .any(|l| bare(l).starts_with(&format!("[{section}.{key}")));
            assert!(
                listed,
                "config/default.toml does not list {section}.{key} (write it, commented out if it has no default)"
            );
        }
    }
}

#[test]
fn durations_and_overrides_parse() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "c.toml",
            r#"
            [retry]
            base_delay = "500ms"
            okra_timeout_delay = "2s"
            [worker]
            concurrency = 7
            [classification.status."404"]
            class = "not_found"
            action = "retry"
            "#,
        )?;
        jail.set_env("OKQ_QUEUE__NAME", "kyc");
        jail.set_env("OKQ_RETRY__MAX_ATTEMPTS", "3");
        let s = Settings::load(Some(Path::new("c.toml"))).unwrap();
        assert_eq!(s.retry.base_delay, Duration::from_millis(500));
        assert_eq!(s.worker.concurrency, 7);
        assert_eq!(s.queue.name, "kyc");
        assert_eq!(s.retry.max_attempts, 3);
        assert_eq!(s.classification.status["404"].action, "retry");
        Ok(())
    });
}

#[test]
fn bad_values_get_clear_errors() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("c.toml", "[worker]\nlease = \"soon\"\n")?;
        let e = Settings::load(Some(Path::new("c.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("worker.lease"), "{e}");
        assert!(e.contains("/c.toml)"), "names the file: {e}");
        jail.create_file("d.toml", "[wroker]\nlease = \"1s\"\n")?;
        let e = Settings::load(Some(Path::new("d.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("wroker"), "{e}");
        jail.create_file(
            "e.toml",
            "[retry]\nbase_dealy = \"1s\"\n[worker]\nlease = \"1s\"\n",
        )?;
        let e = Settings::load(Some(Path::new("e.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("retry.base_dealy: unknown key"), "{e}");
        assert!(e.contains("/e.toml)"), "names the file: {e}");
        let e = Settings::load(Some(Path::new("missing.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not found"), "{e}");
        Ok(())
    });
}

#[test]
fn queue_events_index_key_and_redis_tls_come_from_the_environment() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("OKQ_QUEUE__EVENTS_MAX", "0");
        jail.set_env("OKQ_QUEUE__INDEX_KEY", "an-index-key-of-16+");
        // The TLS files are read at load: one that is missing is a problem.
        jail.set_env("OKQ_REDIS__URL", "rediss://redis.internal:6380");
        jail.set_env("OKQ_REDIS__TLS_CA", "/etc/okq/ca.pem");
        let e = Settings::load(None).unwrap_err().to_string();
        assert!(e.contains("cannot read tls_ca /etc/okq/ca.pem"), "{e}");
        jail.create_file("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n")?;
        jail.set_env("OKQ_REDIS__TLS_CA", "ca.pem");
        let s = Settings::load(None).unwrap();
        assert_eq!(s.queue.events_max, 0);
        assert_eq!(s.queue_config().events_max, 0);
        assert!(s.queue_config().index_key.is_some());
        assert_eq!(s.redis.tls_ca.as_deref(), Some(Path::new("ca.pem")));
        jail.set_env("OKQ_QUEUE__INDEX_KEY", "short");
        let e = Settings::load(None).unwrap_err().to_string();
        assert!(e.contains("index_key") && e.contains("16 bytes"), "{e}");
        assert!(!e.contains("short\""), "the key is not echoed: {e}");
        Ok(())
    });
}
