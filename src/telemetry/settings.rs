//! `[telemetry]`: where traces go and how a job's attempts relate to its producer. Every key
//! left empty falls back to the OpenTelemetry variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, ...),
//! so a fleet that configures its services with them needs nothing here.

use serde::{Deserialize, Serialize};

/// OTLP over HTTP with protobuf bodies (the collector's port 4318).
pub const HTTP: &str = "http/protobuf";
/// OTLP over gRPC (the collector's port 4317).
pub const GRPC: &str = "grpc";

/// An environment variable that is set and not blank.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// How an attempt's `process` span relates to the context stored with the job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Propagation {
    /// A new trace per attempt, linked to the producer's span (the messaging conventions'
    /// default: a job may run hours after the request that made it).
    #[default]
    Link,
    /// Each attempt's span is a child of the producer's span, in the producer's trace.
    Child,
}

/// `[telemetry]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Where traces go. Over `http/protobuf` a base URL (`http://collector:4318`;
    /// `/v1/traces` is appended); over `grpc` the collector's address as is
    /// (`http://collector:4317`). Empty: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is) or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; none of them set: no export.
    pub endpoint: String,
    /// `http/protobuf` or `grpc`. Empty: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`.
    pub protocol: String,
    /// `service.name`. Empty: `OTEL_SERVICE_NAME`, else the binary's name.
    pub service_name: String,
    /// `link` (default) or `child`.
    pub propagation: Propagation,
    /// Spans waiting for export at most; past it new spans are dropped and counted
    /// (`okra_trace_spans_dropped_total`), never waited for.
    pub queue_size: usize,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            protocol: String::new(),
            service_name: String::new(),
            propagation: Propagation::Link,
            queue_size: 2048,
        }
    }
}

impl TelemetrySettings {
    /// Where the traces go, or `None` when export is off: the setting, else
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, else `OTEL_EXPORTER_OTLP_ENDPOINT`. Over
    /// OTLP/HTTP a base URL (the setting, `OTEL_EXPORTER_OTLP_ENDPOINT`) gets `/v1/traces`;
    /// over gRPC every one is used as given (the path is the service's, not the URL's), as
    /// the OpenTelemetry specification says.
    pub fn traces_url(&self) -> Option<String> {
        let grpc = self.protocol() == GRPC;
        let base = |b: &str| {
            if grpc {
                b.trim().to_string()
            } else {
                format!("{}/v1/traces", b.trim().trim_end_matches('/'))
            }
        };
        if !self.endpoint.trim().is_empty() {
            return Some(base(&self.endpoint));
        }
        var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .map(|u| u.trim().to_string())
            .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|b| base(&b)))
    }

    /// The protocol in force: the setting, else `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`.
    pub fn protocol(&self) -> String {
        match self.protocol.trim() {
            "" => var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
                .map_or_else(|| HTTP.to_string(), |p| p.trim().to_string()),
            p => p.to_string(),
        }
    }

    /// Problems with the values, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.queue_size == 0 {
            out.push("telemetry.queue_size must be at least 1".to_string());
        }
        if !matches!(self.protocol.trim(), "" | HTTP | GRPC) {
            out.push(format!("telemetry.protocol must be {HTTP} or {GRPC}"));
        }
        let e = self.endpoint.trim();
        if !(e.is_empty() || e.starts_with("http://") || e.starts_with("https://")) {
            out.push("telemetry.endpoint must be an http:// or https:// URL".to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_setting_is_a_base_url_and_must_be_http() {
        let t = TelemetrySettings {
            endpoint: "http://collector:4318/".into(),
            ..TelemetrySettings::default()
        };
        assert_eq!(
            t.traces_url().as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert!(t.problems().is_empty());
        let bad = TelemetrySettings {
            endpoint: "collector:4318".into(),
            queue_size: 0,
            ..TelemetrySettings::default()
        };
        assert_eq!(bad.problems().len(), 2);
        assert!(
            !bad.problems()[1].contains("collector"),
            "never echoes the value"
        );
        let grpc = TelemetrySettings {
            endpoint: "http://collector:4317".into(),
            protocol: "grpc".into(),
            ..TelemetrySettings::default()
        };
        assert_eq!(
            grpc.traces_url().as_deref(),
            Some("http://collector:4317"),
            "gRPC takes the address as given"
        );
        assert!(grpc.problems().is_empty());
        let json = TelemetrySettings {
            protocol: "http/json".into(),
            ..TelemetrySettings::default()
        };
        assert_eq!(json.problems().len(), 1);
        let child: TelemetrySettings = serde_json::from_str(r#"{"propagation":"child"}"#).unwrap();
        assert_eq!(child.propagation, Propagation::Child);
        assert!(serde_json::from_str::<TelemetrySettings>(r#"{"propagation":"x"}"#).is_err());
    }
}
