//! The collectors of the tests: an OTLP/HTTP receiver (a small axum server decoding the
//! protobuf with `opentelemetry-proto`) and an OTLP/gRPC one (opentelemetry-proto's
//! `TraceService` on tonic's server), each on a thread and runtime of its own, so a test
//! blocked on a flush never blocks it. Both listen on 127.0.0.1 only.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

type Got = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

/// An OTLP/HTTP receiver on a thread and runtime of its own (so a test blocked on a flush
/// never blocks it).
pub struct Receiver {
    pub url: String,
    pub got: Got,
    running: Running,
}

impl Receiver {
    pub fn start() -> Self {
        let got: Got = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let store = got.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().route(
                    "/v1/traces",
                    axum::routing::post(move |body: axum::body::Bytes| {
                        let store = store.clone();
                        async move {
                            let req =
                                ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                            store.lock().unwrap().push(req);
                            (
                                [("content-type", "application/x-protobuf")],
                                ExportTraceServiceResponse::default().encode_to_vec(),
                            )
                        }
                    }),
                );
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Self {
            url,
            got,
            running: Running {
                stop: Some(stop),
                thread: Some(thread),
            },
        }
    }

    pub fn spans(&self) -> Vec<Span> {
        spans_of(&self.got)
    }

    pub fn stop(&mut self) {
        self.running.stop();
    }
}

/// A receiver's server thread and the signal that ends it; stopped when dropped.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every span received so far.
fn spans_of(got: &Got) -> Vec<Span> {
    let got = got.lock().unwrap();
    got.iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect()
}

/// An OTLP/gRPC receiver: `url` is its address (`http://127.0.0.1:port`, no path).
pub struct GrpcReceiver {
    pub url: String,
    pub got: Got,
    /// Held for its drop: the server stops with the receiver.
    _running: Running,
}

/// The `TraceService` that keeps what it is sent.
struct Sink(Got);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl GrpcReceiver {
    pub fn start() -> Self {
        let got: Got = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let sink = Sink(got.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(sink))
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Self {
            url,
            got,
            _running: Running {
                stop: Some(stop),
                thread: Some(thread),
            },
        }
    }

    pub fn spans(&self) -> Vec<Span> {
        spans_of(&self.got)
    }
}
