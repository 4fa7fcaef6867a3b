//! The dashboard in a real headless Chromium, driven through chromedriver (WebDriver), against
//! the real `okra-admin web`, `okra-worker` and `okra-sandbox` binaries and a real Redis: the
//! overview's counts change as jobs run without a reload; dead letters are filtered by class
//! and one is opened; pausing from the page stops the worker claiming; every letter of a filter
//! is requeued through the confirmation and leaves the list; one person is found (the form is
//! POSTed: the number stays out of the URL) and erased through its confirmation; the audit
//! trail lists it. Each step saves a screenshot under
//! `target/web-screenshots/`.

mod common;

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::procs::{Proc, Sandbox, WorkerSpec, spawn, start_worker};
use common::web::Web;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, Queue, QueueConfig};

/// chromedriver on a free port, stopped by PID when dropped.
struct Driver {
    _proc: Proc,
    port: u16,
}

impl Driver {
    fn start(dir: &std::path::Path) -> Self {
        let port = free_port();
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"));
        let proc = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            spawn(&mut cmd, dir.join("chromedriver.log"), false)
        }))
        .unwrap_or_else(|_| {
            panic!("chromedriver is needed (Debian: apt-get install chromium chromium-driver; .ci/run does)")
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { _proc: proc, port }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"],
            }),
        );
        ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a headless Chromium session")
    }
}

/// The browser on one dashboard: each step of a test is one line (open a page, fill a field,
/// click, wait for a text, save a screenshot), each failing with the selector it was after.
struct Page {
    c: Client,
    base: String,
}

impl Page {
    async fn open(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    async fn find(&self, at: Locator<'_>) -> fantoccini::elements::Element {
        self.c
            .find(at)
            .await
            .unwrap_or_else(|e| panic!("no {at:?} on the page: {e}"))
    }

    async fn click(&self, css: &str) {
        self.find(Locator::Css(css)).await.click().await.unwrap();
    }

    async fn click_link(&self, text: &str) {
        self.find(Locator::LinkText(text))
            .await
            .click()
            .await
            .unwrap();
    }

    async fn fill(&self, css: &str, value: &str) {
        self.find(Locator::Css(css))
            .await
            .send_keys(value)
            .await
            .unwrap();
    }

    async fn select(&self, css: &str, value: &str) {
        self.find(Locator::Css(css))
            .await
            .select_by_value(value)
            .await
            .unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.find(Locator::Css(css)).await.text().await.unwrap()
    }

    async fn source(&self) -> String {
        self.c.source().await.unwrap()
    }

    /// Waits until the element's text is `want`, reading the page as it is (no reload).
    async fn until_text(&self, css: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = match self.c.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} shows {got:?}, not {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Accepts the confirmation dialog a click opened.
    async fn accept_dialog(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.c.accept_alert().await.is_err() {
            assert!(Instant::now() < deadline, "no confirmation dialog");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves the page as `target/web-screenshots/<name>.png`.
    async fn shot(&self, name: &str) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

const INDEX_KEY: &str = "browser-index-key-0123456789";

fn bvn(b: &str) -> OkraJob {
    OkraJob::new("bvn_verify", &[("bvn", b)]).unwrap()
}

#[tokio::test]
async fn the_dashboard_in_a_real_browser() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let mut cfg = QueueConfig::new("identity");
    cfg.retry.max_attempts = 3;
    cfg.index_key = Some(okra_queue::ident::IndexKey::new(INDEX_KEY).unwrap());
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    queue.pause().await.unwrap();
    for i in 0..20 {
        queue
            .enqueue(&bvn(&format!("2220000{i:04}")), EnqueueOptions::default())
            .await
            .unwrap();
    }
    for i in 0..10 {
        queue
            .enqueue(&bvn(&format!("22200{i:02}0601")), EnqueueOptions::default())
            .await
            .unwrap();
    }
    let web = Web::start(
        dir.path(),
        &server,
        "identity",
        &[],
        &[("OKQ_QUEUE__INDEX_KEY", INDEX_KEY)],
    );
    let driver = Driver::start(dir.path());
    let p = Page {
        c: driver.browser().await,
        base: web.url.clone(),
    };

    // The overview shows the waiting jobs, then follows them as a worker runs them.
    p.open("/").await;
    p.until_text(r#"a[data-count="ready"] .n"#, "30").await;
    assert!(p.text("[data-state]").await.starts_with("paused"));
    p.shot("1-overview-paused").await;
    let _worker = start_worker(
        dir.path(),
        1,
        &server.url(),
        &sandbox.url,
        &WorkerSpec::default(),
    );
    queue.resume().await.unwrap();
    p.until_text(r#"a[data-count="completed"] .n"#, "20").await;
    p.until_text(r#"a[data-count="dead"] .n"#, "10").await;
    p.until_text(r#"a[data-count="ready"] .n"#, "0").await;
    p.shot("2-overview-after-the-run").await;

    // Dead letters filtered by class, and one opened.
    p.open("/q/identity/dead").await;
    p.fill(r#"input[name="class"]"#, "flagged_user").await;
    p.click("form.filters button").await;
    p.until_text("b[data-total]", "10").await;
    p.shot("3-dead-letters-by-class").await;
    p.click(r#"a[href^="/q/identity/dead/01"]"#).await;
    let page = p.source().await;
    assert!(
        page.contains("FLAGGED_USER") && page.contains("*******0601"),
        "{page}"
    );
    assert!(!page.contains("2220000"), "identifiers are masked");
    p.shot("4-dead-letter").await;

    // Pause from the page (it asks first): the worker stops claiming.
    p.open("/").await;
    p.click(r#"form[action="/q/identity/pause"] button"#).await;
    p.accept_dialog().await;
    p.until_text(r#"[data-state="paused"]"#, "paused: paused by an operator")
        .await;
    for i in 0..5 {
        queue
            .enqueue(&bvn(&format!("2229999{i:04}")), EnqueueOptions::default())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = queue.stats().await.unwrap();
    assert_eq!(
        (s.ready, s.running),
        (5, 0),
        "a paused queue is not claimed from: {s:?}"
    );
    p.until_text(r#"a[data-count="ready"] .n"#, "5").await;
    p.shot("5-paused-from-the-page").await;

    // Requeue every flagged letter through the confirmation; they leave the dead letters.
    p.open("/q/identity/dead?class=flagged_user").await;
    p.click_link("Requeue all matching…").await;
    p.until_text("b[data-count]", "10").await;
    p.shot("6-confirm-requeue").await;
    p.click(r#"form[action="/q/identity/dead/bulk"] button"#)
        .await;
    p.until_text("p[data-changed] b", "10").await;
    p.shot("7-requeued").await;
    p.open("/q/identity/dead?class=flagged_user").await;
    p.until_text("b[data-total]", "0").await;
    let s = queue.stats().await.unwrap();
    assert_eq!((s.dead, s.ready), (0, 15), "{s:?}");
    p.open("/").await;
    p.until_text(r#"a[data-count="ready"] .n"#, "15").await;
    p.shot("8-overview-after-requeue").await;

    // One person erased from the find page, through the confirmation.
    p.open("/q/identity/find").await;
    p.select(r#"select[name="by"]"#, "bvn").await;
    p.fill(r#"input[name="value"]"#, "22200000001").await;
    p.click("form.filters button").await;
    // The form is POSTed: the number is in no URL (address bar, history, a proxy's log).
    // (The click returns before the answer is loaded: wait for it.)
    p.c.wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::LinkText("Erase this person…"))
        .await
        .expect("the found person's erase link");
    let url = p.c.current_url().await.unwrap();
    assert_eq!(url.path(), "/q/identity/find", "{url}");
    assert_eq!(url.query(), None, "{url}");
    assert!(!p.source().await.contains("22200000001"));
    let history: String =
        p.c.execute(
            "return String(window.history.length) + location.href",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!history.contains("22200000001"), "{history}");
    p.click_link("Erase this person…").await;
    p.until_text("b[data-count]", "1").await;
    assert!(
        !p.source().await.contains("22200000001"),
        "never the number"
    );
    p.shot("9-erase-confirmation").await;
    p.click(r#"form[action="/q/identity/erase"] button.danger"#)
        .await;
    p.until_text("b[data-erased]", "1").await;
    assert!(
        queue
            .find_by_identity(okra_queue::ident::IdType::Bvn, "22200000001", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The audit trail page lists it, newest first.
    p.open("/audit").await;
    p.until_text("table.audit tbody tr:first-child td:nth-child(3)", "erase")
        .await;
    p.shot("10-audit-trail").await;

    // On a phone's width the pages fold to one column.
    p.c.set_window_size(390, 844).await.unwrap();
    p.open("/q/identity/dead").await;
    p.shot("11-phone-dead-letters").await;
    p.c.close().await.unwrap();
}
