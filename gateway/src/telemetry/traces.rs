//! Traces: one OpenTelemetry span per LLM call and one child span per upstream attempt,
//! exported over OTLP/HTTP (protobuf) by the SDK's batch processor, which runs on its own
//! thread with a bounded queue (a slow collector costs dropped spans, never a blocked
//! worker). Spans carry the GenAI semantic conventions (`gen_ai.*`) and Tollgate's request
//! id and cost; the client's W3C `traceparent` makes the call span its child, and each
//! attempt sends the provider a `traceparent` naming the attempt span.
//!
//! Without `tracing:` none of this exists: the proxy holds `None` and pays one branch.

use crate::config::TracingConfig;
use async_trait::async_trait;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, Span,
};
use opentelemetry_sdk::Resource;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::services::ServiceReadyNotifier;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tollgate_billing::{Outcome, OutcomeStatus};

/// The node's tracer, once [`TracesService`] has started the exporter.
pub struct Traces {
    cfg: TracingConfig,
    installed: OnceLock<(SdkTracerProvider, SdkTracer)>,
}

/// What a call's span knows when the call is admitted.
pub struct CallStart<'a> {
    /// The API the client spoke: `openai` or `anthropic`.
    pub api: &'static str,
    pub model: &'a str,
    pub request_id: &'a str,
    /// The request's output limit (`max_tokens`, or what the gateway inserted).
    pub max_tokens: u64,
    pub stream: bool,
    pub started_unix_ms: u64,
}

/// One attempt at a provider.
pub struct AttemptStart<'a> {
    pub provider: &'a str,
    /// The API the provider speaks.
    pub kind: &'static str,
    pub upstream_model: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub number: u32,
}

/// The open spans of one call.
pub struct CallTrace {
    tracer: SdkTracer,
    call: Span,
    attempt: Option<Span>,
}

impl Traces {
    pub fn new(cfg: &TracingConfig) -> Arc<Traces> {
        Arc::new(Traces {
            cfg: cfg.clone(),
            installed: OnceLock::new(),
        })
    }

    /// Build the exporter and its thread. Called by [`TracesService`] in the process that
    /// serves (after a `--daemon` fork, which keeps no thread started before it).
    fn install(&self) -> Result<(), String> {
        // reqwest 0.13 is built without a default TLS provider here: ring, as everywhere.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_timeout(self.cfg.timeout)
            .with_headers(
                self.cfg
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.expose().to_string()))
                    .collect(),
            );
        if let Some(e) = &self.cfg.endpoint {
            exporter = exporter.with_endpoint(e.clone());
        }
        let exporter = exporter.build().map_err(|e| e.to_string())?;
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(self.cfg.queue)
            .with_max_export_batch_size(self.cfg.queue.min(512))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::new(exporter, batch))
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                self.cfg.sample_ratio,
            ))))
            .with_resource(
                Resource::builder_empty()
                    .with_service_name(self.cfg.service_name.clone())
                    .with_attribute(KeyValue::new(
                        "service.version",
                        crate::metrics::runtime::VERSION,
                    ))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("tollgate");
        self.installed
            .set((provider, tracer))
            .map_err(|_| "the tracer is installed once".to_string())
    }

    /// Export what is queued and stop the exporter (graceful shutdown; blocks up to the
    /// export timeout).
    pub fn shutdown(&self) {
        if let Some((provider, _)) = self.installed.get() {
            if let Err(e) = provider.shutdown_with_timeout(self.cfg.timeout) {
                log::warn!("traces: final export failed: {e}");
            }
        }
    }

    /// The call's span, child of the client's `traceparent` when it sent one.
    pub fn start_call(
        &self,
        headers: &http::HeaderMap,
        c: CallStart<'_>,
    ) -> Option<Box<CallTrace>> {
        let (_, tracer) = self.installed.get()?;
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        let call = tracer
            .span_builder(format!("chat {}", c.model))
            .with_kind(SpanKind::Server)
            .with_start_time(UNIX_EPOCH + Duration::from_millis(c.started_unix_ms))
            .with_attributes([
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.system", c.api),
                KeyValue::new("gen_ai.provider.name", c.api),
                KeyValue::new("gen_ai.request.model", c.model.to_string()),
                KeyValue::new("gen_ai.request.max_tokens", c.max_tokens as i64),
                KeyValue::new("gen_ai.request.stream", c.stream),
                KeyValue::new("tollgate.request_id", c.request_id.to_string()),
            ])
            .start_with_context(tracer, &parent);
        Some(Box::new(CallTrace {
            tracer: tracer.clone(),
            call,
            attempt: None,
        }))
    }
}

impl CallTrace {
    /// A new attempt's span (ending one still open: a retry on a fresh connection).
    pub fn start_attempt(&mut self, a: AttemptStart<'_>) {
        self.end_attempt(None, Some("retried"));
        let parent = Context::new().with_remote_span_context(self.call.span_context().clone());
        let span = self
            .tracer
            .span_builder(format!("chat {}", a.upstream_model))
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.system", a.kind),
                KeyValue::new("gen_ai.provider.name", a.kind),
                KeyValue::new("gen_ai.request.model", a.upstream_model.to_string()),
                KeyValue::new("server.address", a.host.to_string()),
                KeyValue::new("server.port", i64::from(a.port)),
                KeyValue::new("tollgate.provider", a.provider.to_string()),
                KeyValue::new("tollgate.attempt", i64::from(a.number)),
            ])
            .start_with_context(&self.tracer, &parent);
        self.attempt = Some(span);
    }

    /// Set `traceparent` (and `tracestate`) on the provider's request: the open attempt.
    pub fn inject(&self, headers: &mut pingora::http::RequestHeader) {
        let Some(attempt) = &self.attempt else {
            return;
        };
        let cx = Context::new().with_remote_span_context(attempt.span_context().clone());
        TraceContextPropagator::new().inject_context(&cx, &mut Upstream(headers));
    }

    /// The open attempt ended: with the provider's status, and why it was abandoned if it was
    /// (`connect`, `timeout`, `status_5xx`, `slow`, `stale_connection`).
    pub fn end_attempt(&mut self, status: Option<u16>, failure: Option<&'static str>) {
        let Some(mut span) = self.attempt.take() else {
            return;
        };
        if let Some(s) = status {
            span.set_attribute(KeyValue::new("http.response.status_code", i64::from(s)));
        }
        if let Some(why) = failure {
            span.set_attribute(KeyValue::new("tollgate.failover_reason", why));
            span.set_attribute(KeyValue::new("error.type", why));
            span.set_status(Status::error(why));
        }
        span.end();
    }

    /// The call is over: its outcome on the call span, which ends (the last attempt too).
    pub fn finish(mut self, o: &Outcome) {
        let attempt_failed = o.status == OutcomeStatus::UpstreamFailed;
        let status = (o.http_status > 0).then_some(o.http_status);
        self.end_attempt(status, attempt_failed.then_some("failed"));
        let t = &o.tokens;
        let input = t
            .input_tokens
            .saturating_add(t.cache_read_tokens)
            .saturating_add(t.cache_write_5m_tokens)
            .saturating_add(t.cache_write_1h_tokens);
        let span = &mut self.call;
        span.set_attributes([
            KeyValue::new("gen_ai.usage.input_tokens", input as i64),
            KeyValue::new("gen_ai.usage.output_tokens", t.output_tokens as i64),
            KeyValue::new(
                "gen_ai.usage.cache_read.input_tokens",
                t.cache_read_tokens as i64,
            ),
            KeyValue::new(
                "gen_ai.usage.cache_creation.input_tokens",
                t.cache_write_5m_tokens
                    .saturating_add(t.cache_write_1h_tokens) as i64,
            ),
            KeyValue::new("http.response.status_code", i64::from(o.http_status)),
            KeyValue::new("tollgate.outcome", o.status.as_str()),
            KeyValue::new("tollgate.attempts", i64::from(o.attempts)),
            KeyValue::new("tollgate.cost_usdc", o.buyer_cost_usdc),
        ]);
        if !o.upstream_model.is_empty() {
            span.set_attribute(KeyValue::new(
                "gen_ai.response.model",
                o.upstream_model.clone(),
            ));
        }
        if !o.provider.is_empty() {
            span.set_attribute(KeyValue::new("tollgate.provider", o.provider.clone()));
        }
        if let Some(ms) = o.ttft_ms {
            span.set_attribute(KeyValue::new("tollgate.time_to_first_token_ms", ms as i64));
        }
        if let Some(code) = o.error_code {
            span.set_attribute(KeyValue::new("error.type", code));
        }
        if attempt_failed || o.http_status >= 500 {
            span.set_status(Status::error(o.error_code.unwrap_or("upstream failed")));
        }
        span.end_with_timestamp(SystemTime::now());
    }
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct Upstream<'a>(&'a mut pingora::http::RequestHeader);

impl Injector for Upstream<'_> {
    fn set(&mut self, key: &str, value: String) {
        let _ = self.0.insert_header(key.to_string(), value);
    }
}

/// Starts the exporter when the services start, before the listeners (they depend on it:
/// no call arrives untraced); its queue is flushed by the graceful shutdown
/// ([`Traces::shutdown`]).
pub struct TracesService(pub Arc<Traces>);

#[async_trait]
impl BackgroundService for TracesService {
    async fn start_with_ready_notifier(
        &self,
        _shutdown: ShutdownWatch,
        ready: ServiceReadyNotifier,
    ) {
        let traces = self.0.clone();
        // Building the HTTP client blocks (it starts its own runtime on a thread).
        match tokio::task::spawn_blocking(move || traces.install()).await {
            Ok(Ok(())) => log::info!("traces: exporting over OTLP/HTTP"),
            Ok(Err(e)) => log::error!("traces: exporter not started, nothing is traced: {e}"),
            Err(e) => log::error!("traces: exporter not started, nothing is traced: {e}"),
        }
        ready.notify_ready();
    }
}
