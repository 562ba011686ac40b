//! Accept loop, routing and the request handler of the mock.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::body::MockBody;
use super::controls::{Controls, MockDefaults};
use super::handlers;
use super::recorder::{RecordedRequest, Recorder};
use super::request::ChatRequest;
use super::respond::{self, Api};
use super::response_ids::ResponseIds;

/// Large enough for any realistic prompt; guards only against runaway clients.
const MAX_BODY_BYTES: usize = 256 << 20;

struct MockState {
    defaults: MockDefaults,
    recorder: Option<Recorder>,
    /// Responses this mock produced: another mock (provider) does not know them.
    response_ids: ResponseIds,
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
    let state = Arc::new(MockState {
        defaults,
        recorder,
        response_ids: ResponseIds::default(),
    });
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
    let route = Route::of(&parts.method, parts.uri.path());
    let api = route.map_or(Api::OpenAi, Route::api);
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let message = format!("mock-llm: cannot read request body: {e}");
            return respond::error(api, 413, &message);
        }
    };
    if let Some(recorder) = &state.recorder {
        recorder.record(RecordedRequest::new(&parts, body.clone()));
    }
    let Some(route) = route else {
        let message = format!(
            "mock-llm: no route for {} {}",
            parts.method,
            parts.uri.path()
        );
        return respond::error(Api::OpenAi, 404, &message);
    };

    let mut controls = Controls::from_defaults(&state.defaults);
    if let Err(message) = controls.apply_headers(&parts.headers) {
        return respond::error(api, 400, &message);
    }
    // Header-driven faults apply even when the body would not parse.
    if let Some(response) = fault_response(api, &controls).await {
        return response;
    }
    let request = match ChatRequest::parse(&body) {
        Ok(request) => request,
        Err(e) => {
            let message = format!(
                "mock-llm: request body is not a valid {} request: {e}",
                route.kind()
            );
            return respond::error(api, 400, &message);
        }
    };
    if let Err(message) = controls.apply_model_suffix(request.model()) {
        return respond::error(api, 400, &message);
    }
    if let Some(response) = fault_response(api, &controls).await {
        return response;
    }
    if controls.count_prompt && route == Route::ChatCompletions {
        if let Some(n) = super::prompt_count::openai_chat_prompt(&body) {
            controls.tokens.input = n;
        }
    }
    if controls.tokens.per_image > 0 {
        let images = super::images::count_image_parts(&body);
        controls.tokens.input += controls.tokens.per_image * images;
    }
    match route {
        Route::ChatCompletions | Route::Messages => handlers::chat(api, &request, &controls).await,
        Route::Responses => handlers::responses(&state.response_ids, &request, &controls).await,
        Route::Embeddings => handlers::embeddings(&body, &request, &controls).await,
        Route::CountTokens => handlers::count_tokens(&body, &controls).await,
    }
}

/// What the mock serves: every route is a POST, with and without the `/v1` prefix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    ChatCompletions,
    Messages,
    CountTokens,
    Responses,
    Embeddings,
}

impl Route {
    fn of(method: &Method, path: &str) -> Option<Route> {
        if method != Method::POST {
            return None;
        }
        let path = path.strip_prefix("/v1").unwrap_or(path);
        match path {
            "/chat/completions" => Some(Route::ChatCompletions),
            "/messages" => Some(Route::Messages),
            "/messages/count_tokens" => Some(Route::CountTokens),
            "/responses" => Some(Route::Responses),
            "/embeddings" => Some(Route::Embeddings),
            _ => None,
        }
    }

    fn api(self) -> Api {
        match self {
            Route::Messages | Route::CountTokens => Api::Anthropic,
            Route::ChatCompletions | Route::Responses | Route::Embeddings => Api::OpenAi,
        }
    }

    /// Names the request in error messages.
    fn kind(self) -> &'static str {
        match self {
            Route::ChatCompletions | Route::Messages => "chat",
            Route::CountTokens => "count_tokens",
            Route::Responses => "responses",
            Route::Embeddings => "embeddings",
        }
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
    Some(respond::error(api, status, &message))
}
