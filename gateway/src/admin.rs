//! The admin listener: `/metrics` for Prometheus, `/health` (liveness) and `/ready` (the same
//! readiness as the public port's) for orchestrators and, when enabled for tests and demos,
//! `/debug/outcomes` with the in-memory billing sink's records. Kept off the public port.

use crate::config::ErrorShape;
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::wire::ApiError;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;
use tollgate_billing::BillingSink;

pub struct AdminApp {
    pub metrics: Arc<Metrics>,
    pub sink: Arc<dyn BillingSink>,
    pub expose_outcomes: bool,
    pub ready: Arc<Readiness>,
    pub error_shape: ErrorShape,
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .expect("static response parts")
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => reply(200, "text/plain; version=0.0.4", self.metrics.render()),
            "/debug/outcomes" if self.expose_outcomes => {
                let outcomes = self.sink.recent().unwrap_or_default();
                reply(
                    200,
                    "application/json",
                    serde_json::to_vec(&outcomes).unwrap_or_default(),
                )
            }
            "/health" => reply(200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            "/ready" => {
                let (status, body) = self.ready.answer().await;
                reply(status, "application/json", body.to_vec())
            }
            _ => {
                let e = ApiError::new(
                    404,
                    "NOT_FOUND",
                    "admin endpoints: /metrics, /health, /ready",
                );
                reply(404, "application/json", e.body(self.error_shape).to_vec())
            }
        }
    }
}
