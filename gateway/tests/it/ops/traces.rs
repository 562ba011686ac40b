//! Traces to a real OTLP/HTTP receiver (in this test, decoding `ExportTraceServiceRequest`
//! with `opentelemetry-proto`): the call span is the child of the client's `traceparent`, each
//! upstream attempt is a child of the call span, the provider sees a `traceparent` naming its
//! attempt, and the spans carry the GenAI attributes and Tollgate's request id and cost.

use super::*;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Spans received, with their resource's `service.name`.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

impl Received {
    fn spans(&self) -> Vec<(String, Span)> {
        self.0.lock().unwrap().clone()
    }
}

/// An OTLP/HTTP receiver on a loopback port: POST /v1/traces, protobuf.
async fn receiver() -> (String, Received, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let received = Received::default();
    let r = received.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let r = r.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let r = r.clone();
                    async move {
                        assert_eq!(req.uri().path(), "/v1/traces");
                        assert_eq!(
                            req.headers()["content-type"],
                            "application/x-protobuf",
                            "OTLP/HTTP protobuf"
                        );
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let export = ExportTraceServiceRequest::decode(body).expect("protobuf");
                        for rs in export.resource_spans {
                            let service = rs
                                .resource
                                .iter()
                                .flat_map(|res| &res.attributes)
                                .find(|kv| kv.key == "service.name")
                                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                                    Any::StringValue(s) => Some(s.clone()),
                                    _ => None,
                                })
                                .unwrap_or_default();
                            for ss in rs.scope_spans {
                                for span in ss.spans {
                                    r.0.lock().unwrap().push((service.clone(), span));
                                }
                            }
                        }
                        Ok::<_, hyper::Error>(
                            Response::builder()
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, received, task)
}

fn attr(span: &Span, key: &str) -> Option<Any> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone()?.value)
}

fn text(span: &Span, key: &str) -> String {
    match attr(span, key) {
        Some(Any::StringValue(s)) => s,
        other => panic!("{key}: {other:?} on span {}", span.name),
    }
}

fn int(span: &Span, key: &str) -> i64 {
    match attr(span, key) {
        Some(Any::IntValue(n)) => n,
        other => panic!("{key}: {other:?} on span {}", span.name),
    }
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const ERROR: i32 = 2;

#[tokio::test]
async fn call_and_attempt_spans_reach_an_otlp_receiver_with_trace_context_in_and_out() {
    let (url, received, receiver_task) = receiver().await;
    let failing = MockDefaults::default();
    failing.switch.fail_with(500);
    let bad = Mock::start_with(failing).await;
    let good = Mock::start().await;
    let mut opts = GatewayOpts::new(format!(
        r#"
  - {{ id: bad, kind: openai, base_url: "http://{}/v1", priority: 1, models: [{{ id: gpt-test, upstream_model: bad-gpt, pricing: {{ prompt: 1, completion: 2 }} }}] }}
  - {{ id: good, kind: openai, base_url: "http://{}/v1", priority: 2, models: [{{ id: gpt-test, upstream_model: good-gpt, pricing: {{ prompt: 1, completion: 2 }} }}] }}
"#,
        bad.addr, good.addr
    ));
    opts.extra = format!("tracing:\n  endpoint: {url}\n  service_name: tollgate-test\n");
    // Export every 100 ms rather than every 5 s.
    opts.env = vec![("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into())];
    let gw = Gateway::start(opts).await;

    // The client is traced: its span is the parent of the gateway's.
    let (client_trace, client_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{client_trace}-{client_span}-01");
    let resp = gw
        .post(
            "/v1/chat/completions",
            &chat("gpt-test", true),
            &[("traceparent", &traceparent), ("x-mock-output-tokens", "4")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let _ = resp.text().await.unwrap();
    let mut call_span = None;
    wait_for("the call's span", Duration::from_secs(10), || {
        call_span = received
            .spans()
            .into_iter()
            .find(|(_, s)| attr(s, "tollgate.request_id") == Some(Any::StringValue(id.clone())));
        let found = call_span.is_some();
        async move { found }
    })
    .await;
    let (service, call) = call_span.expect("the call's span was exported");
    let outcome = gw.outcome(&id).await;

    assert_eq!(service, "tollgate-test");
    assert_eq!(hex::encode(&call.trace_id), client_trace);
    assert_eq!(
        hex::encode(&call.parent_span_id),
        client_span,
        "child of the client's span"
    );
    assert_eq!(call.kind, SERVER);
    assert_eq!(call.name, "chat gpt-test");
    assert_eq!(text(&call, "gen_ai.operation.name"), "chat");
    assert_eq!(text(&call, "gen_ai.system"), "openai");
    assert_eq!(text(&call, "gen_ai.request.model"), "gpt-test");
    assert_eq!(text(&call, "gen_ai.response.model"), "good-gpt");
    assert_eq!(int(&call, "gen_ai.request.max_tokens"), 1024);
    assert_eq!(int(&call, "gen_ai.usage.input_tokens"), 12);
    assert_eq!(int(&call, "gen_ai.usage.output_tokens"), 4);
    assert_eq!(
        int(&call, "tollgate.cost_usdc"),
        outcome["buyer_cost_usdc"].as_i64().unwrap()
    );
    assert!(int(&call, "tollgate.cost_usdc") > 0);
    assert_eq!(int(&call, "tollgate.attempts"), 2);
    assert_eq!(text(&call, "tollgate.provider"), "good");
    assert_eq!(int(&call, "http.response.status_code"), 200);

    // Two attempts, children of the call span: the failed one and the one that served.
    let attempts: Vec<Span> = received
        .spans()
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| s.parent_span_id == call.span_id)
        .collect();
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    let first = attempts
        .iter()
        .find(|s| int(s, "tollgate.attempt") == 1)
        .unwrap();
    let second = attempts
        .iter()
        .find(|s| int(s, "tollgate.attempt") == 2)
        .unwrap();
    for (s, provider, model) in [(first, "bad", "bad-gpt"), (second, "good", "good-gpt")] {
        assert_eq!(s.kind, CLIENT);
        assert_eq!(s.trace_id, call.trace_id);
        assert_eq!(text(s, "tollgate.provider"), provider);
        assert_eq!(text(s, "gen_ai.request.model"), model);
        assert_eq!(text(s, "server.address"), "127.0.0.1");
    }
    assert_eq!(int(first, "http.response.status_code"), 500);
    assert_eq!(text(first, "tollgate.failover_reason"), "status_5xx");
    assert_eq!(first.status.as_ref().map(|s| s.code), Some(ERROR));
    assert_eq!(int(second, "http.response.status_code"), 200);
    assert!(attr(second, "tollgate.failover_reason").is_none());

    // Each provider saw a traceparent naming its own attempt, in the client's trace.
    let sent = |m: &Mock| {
        m.recorder
            .requests()
            .into_iter()
            .filter_map(|r| r.header("traceparent").map(str::to_string))
            .last()
            .expect("traceparent sent upstream")
    };
    assert_eq!(
        sent(&bad),
        format!("00-{client_trace}-{}-01", hex::encode(&first.span_id))
    );
    assert_eq!(
        sent(&good),
        format!("00-{client_trace}-{}-01", hex::encode(&second.span_id))
    );

    // Without a traceparent the call starts a trace of its own.
    let (status, o) = gw
        .served("/v1/chat/completions", &chat("gpt-test", false), &[])
        .await;
    assert_eq!(status, 200);
    let root_id = o["request_id"].as_str().unwrap().to_string();
    wait_for("the untraced call's span", Duration::from_secs(5), || {
        let found = received.spans().into_iter().any(|(_, s)| {
            attr(&s, "tollgate.request_id") == Some(Any::StringValue(root_id.clone()))
                && s.parent_span_id.is_empty()
                && hex::encode(&s.trace_id) != client_trace
        });
        async move { found }
    })
    .await;
    let spans = format!("{:?}", received.spans());
    for secret in ["the secret plan", "tok tok", KEY, "sk-"] {
        assert!(!spans.contains(secret), "{secret:?} in a span");
    }
    receiver_task.abort();
}
