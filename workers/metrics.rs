//! Prometheus metrics, served at `worker.metrics_addr` (`/metrics`, beside the probes).
//!
//! Counters come from where things happen (the engine counts outcomes by class, the handler
//! counts Okra HTTP statuses and latency), and every process exports its own. The queue-wide
//! gauges (depths, latency, workers, paused) describe the whole fleet, so one elected process
//! exports them (`okq_sampler` is 1 on it); on the others they are absent, and a sum over the
//! fleet counts each job once. A process that loses the role stops updating them and they
//! disappear from its scrape within 15 s.

use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use okra_queue::Queue;
use tracing::warn;

/// How often the sampler reads the queue, and how long its role lasts without renewal.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const SAMPLER_ROLE: Duration = Duration::from_secs(15);

/// Installs the Prometheus recorder, with every counter at 0, and keeps its histograms
/// drained; `/metrics` renders the returned handle (see `probes.rs`).
pub fn install(queue: &str) -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("okra_request_duration_seconds".into()),
            &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 90.0],
        )
        .context("metrics buckets")?
        .idle_timeout(MetricKindMask::GAUGE, Some(SAMPLER_ROLE))
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe();
    zero(queue);
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Every counter an alert may watch exists from the start, at 0: a rate over "no data" is no
/// alert at all.
fn zero(queue: &str) {
    for name in [
        "okq_late_outcomes_total",
        "okq_lost_leases_total",
        "okq_reap_races_total",
        "okq_orphans_total",
        "okq_leases_reaped_total",
        "okq_dead_trimmed_total",
    ] {
        metrics::counter!(name, "queue" => queue.to_string()).increment(0);
    }
    for kind in okra_queue::okra::kinds::names() {
        for t in okra_queue::rdb::Transition::ALL {
            metrics::counter!("okq_jobs_total", "queue" => queue.to_string(), "kind" => kind, "outcome" => t.history().as_str(), "class" => "")
                .increment(0);
        }
    }
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "okq_jobs_total",
        "Recorded attempts by kind, outcome (success, retry, dead, released) and failure class, as applied in Redis"
    );
    describe_counter!(
        "okq_late_outcomes_total",
        "Outcomes of runs whose lease was lost (taken back after expiring), rejected"
    );
    describe_counter!(
        "okq_lost_leases_total",
        "Running jobs whose lease this process learned it had lost"
    );
    describe_counter!(
        "okq_reap_races_total",
        "Reaper decisions not applied because the holder extended or finished first"
    );
    describe_counter!(
        "okq_orphans_total",
        "Ids found in the ready list without a job record, dropped"
    );
    describe_counter!(
        "okq_leases_reaped_total",
        "Expired leases taken back by this process"
    );
    describe_counter!(
        "okq_dead_trimmed_total",
        "Dead letters removed by the cap or the TTL"
    );
    describe_counter!(
        "okq_redis_errors_total",
        "Failed Redis round trips, by activity"
    );
    describe_counter!(
        "okra_http_requests_total",
        "Okra calls by endpoint and HTTP status"
    );
    describe_histogram!(
        "okra_request_duration_seconds",
        Unit::Seconds,
        "Okra call latency by endpoint"
    );
    describe_gauge!(
        "okq_queue_depth",
        "Jobs per state (exported by the elected sampler only)"
    );
    describe_gauge!(
        "okq_queue_latency_seconds",
        Unit::Seconds,
        "How long the oldest ready job has waited (elected sampler only)"
    );
    describe_gauge!(
        "okq_workers",
        "Worker processes with a recent heartbeat (elected sampler only)"
    );
    describe_gauge!(
        "okq_paused",
        "1 while the queue is paused, labelled with the reason (elected sampler only)"
    );
    describe_gauge!(
        "okq_throttled_seconds",
        Unit::Seconds,
        "How much longer claiming is throttled by Okra's 429 (elected sampler only)"
    );
    describe_gauge!(
        "okq_sampler",
        "1 on the process that exports the queue-wide gauges, 0 on the others"
    );
}

/// Every 5 s: holds or seeks the sampler role; while held, exports the queue-wide gauges.
pub async fn sample(queue: Queue, me: String) {
    let name = queue.name().to_string();
    let mut last_reason = String::new();
    loop {
        let elected = match queue.rdb().elect_sampler(&me, SAMPLER_ROLE).await {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "could not renew the sampler role");
                false
            }
        };
        metrics::gauge!("okq_sampler", "queue" => name.clone()).set(if elected {
            1.0
        } else {
            0.0
        });
        if elected {
            match queue.stats().await {
                Ok(s) => {
                    for (state, n) in [
                        ("scheduled", s.scheduled),
                        ("ready", s.ready),
                        ("running", s.running),
                        ("dead", s.dead),
                        ("completed", s.completed),
                        ("cancelled", s.cancelled),
                    ] {
                        metrics::gauge!("okq_queue_depth", "queue" => name.clone(), "state" => state)
                            .set(n as f64);
                    }
                    metrics::gauge!("okq_queue_latency_seconds", "queue" => name.clone())
                        .set(s.latency_ms as f64 / 1000.0);
                    metrics::gauge!("okq_workers", "queue" => name.clone()).set(s.workers as f64);
                    metrics::gauge!("okq_throttled_seconds", "queue" => name.clone())
                        .set(s.throttled_ms as f64 / 1000.0);
                    // One series per reason: the last reason seen goes to 0 when the pause lifts.
                    let reason = s.pause_reason.clone().unwrap_or_default();
                    if reason != last_reason {
                        metrics::gauge!("okq_paused", "queue" => name.clone(), "reason" => last_reason.clone()).set(0.0);
                        last_reason = reason.clone();
                    }
                    metrics::gauge!("okq_paused", "queue" => name.clone(), "reason" => reason)
                        .set(if s.paused { 1.0 } else { 0.0 });
                }
                Err(e) => warn!(error = %e, "could not sample queue depths"),
            }
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}
