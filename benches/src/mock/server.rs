//! Accept loop, routing and the request handler of the mock.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::body::MockBody;
use super::controls::{Controls, MockDefaults};
use super::recorder::{RecordedRequest, Recorder};
use super::reply::ReplySpec;
use super::request::ChatRequest;
use super::{anthropic, openai};

/// Large enough for any realistic prompt; guards only against runaway clients.
const MAX_BODY_BYTES: usize = 256 << 20;

/// Source of unique ids (`chatcmpl-mock-N`, `msg_mock_N`).
static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

struct MockState {
    defaults: MockDefaults,
    recorder: Option<Recorder>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    OpenAi,
    Anthropic,
}

/// Serve on an already-bound listener until the task is dropped/aborted.
///
/// Connections are owned by this future, so aborting it also drops every
/// open connection (a test can take the upstream down completely).
pub async fn serve(
    listener: TcpListener,
    defaults: MockDefaults,
    recorder: Option<Recorder>,
) -> io::Result<()> {
    let state = Arc::new(MockState { defaults, recorder });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, state.clone()));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Bind 127.0.0.1:0, spawn `serve` on the current tokio runtime; return the
/// address, the recorder (always recording) and the JoinHandle.
pub async fn spawn_mock(
    defaults: MockDefaults,
) -> (SocketAddr, Recorder, JoinHandle<io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("mock-llm: cannot bind 127.0.0.1:0");
    let addr = listener
        .local_addr()
        .expect("mock-llm: listener has no local address");
    let recorder = Recorder::default();
    let handle = tokio::spawn(serve(listener, defaults, Some(recorder.clone())));
    (addr, recorder, handle)
}

async fn serve_connection(stream: TcpStream, state: Arc<MockState>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(&state, request).await) }
    });
    // Errors here are clients going away or deliberate aborts: nothing to report.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(state: &MockState, request: Request<Incoming>) -> Response<MockBody> {
    let (parts, body) = request.into_parts();
    let api = route(&parts.method, parts.uri.path());
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let message = format!("mock-llm: cannot read request body: {e}");
            return error_response(api.unwrap_or(Api::OpenAi), 413, &message);
        }
    };
    if let Some(recorder) = &state.recorder {
        recorder.record(RecordedRequest::new(&parts, body.clone()));
    }
    let Some(api) = api else {
        let message = format!(
            "mock-llm: no route for {} {}",
            parts.method,
            parts.uri.path()
        );
        return error_response(Api::OpenAi, 404, &message);
    };

    let mut controls = Controls::from_defaults(&state.defaults);
    if let Err(message) = controls.apply_headers(&parts.headers) {
        return error_response(api, 400, &message);
    }
    // Header-driven faults apply even when the body would not parse.
    if let Some(response) = fault_response(api, &controls).await {
        return response;
    }
    let chat = match ChatRequest::parse(&body) {
        Ok(chat) => chat,
        Err(e) => {
            let message = format!("mock-llm: request body is not a valid chat request: {e}");
            return error_response(api, 400, &message);
        }
    };
    if let Err(message) = controls.apply_model_suffix(chat.model()) {
        return error_response(api, 400, &message);
    }
    if let Some(response) = fault_response(api, &controls).await {
        return response;
    }
    if controls.count_prompt && api == Api::OpenAi {
        if let Some(n) = super::prompt_count::openai_chat_prompt(&body) {
            controls.tokens.input = n;
        }
    }
    reply(api, &chat, &controls).await
}

fn route(method: &Method, path: &str) -> Option<Api> {
    if method != Method::POST {
        return None;
    }
    match path {
        "/v1/chat/completions" | "/chat/completions" => Some(Api::OpenAi),
        "/v1/messages" | "/messages" => Some(Api::Anthropic),
        _ => None,
    }
}

/// `hang` never returns; `status` short-circuits with an error body.
async fn fault_response(api: Api, controls: &Controls) -> Option<Response<MockBody>> {
    if controls.hang {
        // hyper drops this future when the client closes the connection.
        std::future::pending::<()>().await;
    }
    let status = controls.status?;
    let message = format!("mock-llm: status {status} requested");
    Some(error_response(api, status, &message))
}

async fn reply(api: Api, chat: &ChatRequest<'_>, controls: &Controls) -> Response<MockBody> {
    let model_json = json_string(chat.model());
    let tool_json = chat.first_tool_name().map(json_string);
    let spec = ReplySpec {
        seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        created: unix_seconds(),
        model_json: &model_json,
        tool_json: tool_json.as_deref(),
        controls,
        include_usage: chat.include_usage(),
    };

    if chat.is_stream() {
        let events = match api {
            Api::OpenAi => openai::stream(&spec),
            Api::Anthropic => anthropic::stream(&spec),
        };
        let (data, marks) = events.into_parts();
        let body = MockBody::events(data, &marks, controls.close_after);
        let mut response = response(
            api,
            StatusCode::OK,
            "text/event-stream; charset=utf-8",
            body,
        );
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return response;
    }

    // A non-streamed reply arrives only once the whole generation is done.
    let generation_ms = controls.ttft_ms + controls.inter_token_ms * controls.tokens.output;
    if generation_ms > 0 {
        tokio::time::sleep(Duration::from_millis(generation_ms)).await;
    }
    let json = Bytes::from(match api {
        Api::OpenAi => openai::completion(&spec),
        Api::Anthropic => anthropic::message(&spec),
    });
    let body = match controls.close_after {
        Some(_) => {
            let half = json.len() / 2;
            MockBody::truncated(json, half)
        }
        None => MockBody::full(json),
    };
    response(api, StatusCode::OK, "application/json", body)
}

fn error_response(api: Api, status: u16, message: &str) -> Response<MockBody> {
    let body = match api {
        Api::OpenAi => openai::error_body(status, message),
        Api::Anthropic => anthropic::error_body(status, message),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response(api, status, "application/json", MockBody::full(body))
}

fn response(
    api: Api,
    status: StatusCode,
    content_type: &'static str,
    body: MockBody,
) -> Response<MockBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in provider_identity(api) {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    response
}

/// Headers the real APIs send that name the account behind them: a gateway must not
/// pass them on to its buyers.
fn provider_identity(api: Api) -> &'static [(&'static str, &'static str)] {
    match api {
        Api::OpenAi => &[
            ("openai-organization", "mock-org-identity"),
            ("openai-project", "proj_mock_identity"),
            ("openai-processing-ms", "1"),
            ("x-request-id", "req_mock_identity"),
            ("x-ratelimit-remaining-tokens", "149984"),
            ("set-cookie", "__cf_bm=mock-identity; path=/; HttpOnly"),
            ("server", "cloudflare"),
            ("cf-ray", "8f00mockidentity-SJC"),
        ],
        Api::Anthropic => &[
            ("request-id", "req_mock_identity"),
            ("anthropic-organization-id", "mock-org-identity"),
            ("anthropic-ratelimit-tokens-remaining", "79000"),
            ("server", "cloudflare"),
            ("cf-ray", "8f00mockidentity-SJC"),
        ],
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
