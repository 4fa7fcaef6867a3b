//! The gateway's OpenAPI document under a standard validator (`openapi-spec-validator`, from
//! PyPI; `scripts/ensure-gateway-tools.sh` installs it, as `.ci/run` does), and the example
//! clients of `examples/clients/` (Python, Node, curl) run against a real gateway, each
//! verifying a Standard Webhooks signature made here with the `hmac` crate.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::harness::api_key;
use super::{Stack, openapi};

/// The validator: on PATH, or where the install script puts it.
fn validator() -> PathBuf {
    let installed = PathBuf::from("/opt/okq-openapi/bin/openapi-spec-validator");
    if installed.exists() {
        return installed;
    }
    let found = Command::new("sh")
        .args(["-c", "command -v openapi-spec-validator"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    PathBuf::from(found.unwrap_or_else(|| {
        panic!(
            "openapi-spec-validator is not installed: run `bash scripts/ensure-gateway-tools.sh`"
        )
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_passes_a_standard_validator() {
    let s = Stack::start(&[]).await;
    let doc = openapi(&s.gw).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    let file = s.dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = Command::new(validator())
        .args(["--schema", "3.1"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for id in ["enqueue", "batch", "show", "cancel"] {
        assert!(
            doc.to_string()
                .contains(&format!("\"operationId\":\"{id}\"")),
            "{id}"
        );
    }
}

/// A Standard Webhooks sample signed here: the clients must verify it.
fn signed_sample() -> Vec<(&'static str, String)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b"okq test webhook secret, 32 byte";
    let secret = format!("whsec_{}", b64.encode(key));
    let (id, ts) = ("msg_test_1".to_string(), okra_queue::job::now_ms() / 1000);
    let body = r#"{"type":"job.completed","timestamp":"2026-12-05T00:00:00Z","data":{"queue":"identity","job_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","kind":"bvn_verify","metadata":{"order":"A-1"}}}"#;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let sig = b64.encode(mac.finalize().into_bytes());
    vec![
        ("OKQ_WEBHOOK_SECRET", secret),
        ("OKQ_WEBHOOK_ID", id),
        ("OKQ_WEBHOOK_TIMESTAMP", ts.to_string()),
        ("OKQ_WEBHOOK_BODY", body.to_string()),
        // A rotation's two signatures: an old one first, then the current one.
        (
            "OKQ_WEBHOOK_SIGNATURE",
            format!("v1,b2xkIHNpZ25hdHVyZQ== v1,{sig}"),
        ),
    ]
}

fn client(dir: &Path, program: &str, script: &str, gw: &str, token: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(program)
        .arg(root.join("examples/clients").join(script))
        .current_dir(dir)
        .env("OKQ_GATEWAY", gw)
        .env("OKQ_TOKEN", token)
        .env("OKQ_QUEUE", "identity")
        .envs(signed_sample())
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed (scripts/ensure-gateway-tools.sh): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script}:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_clients_enqueue_wait_and_verify_webhooks() {
    let s = Stack::start(&[]).await;
    let token = api_key(&s.server, "identity", "clients", &[]);
    for (program, script) in [
        ("python3", "python/walkthrough.py"),
        ("node", "node/walkthrough.mjs"),
        ("bash", "curl/walkthrough.sh"),
    ] {
        let text = client(s.dir.path(), program, script, &s.gw.url, &token);
        assert!(text.contains("is completed"), "{script}:\n{text}");
        assert!(
            text.contains("webhook signature verified"),
            "{script}:\n{text}"
        );
    }
}
