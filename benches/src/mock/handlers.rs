//! One handler per route, called once the request's controls are resolved and no
//! fault short-circuited it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::Response;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::body::MockBody;
use super::controls::Controls;
use super::embeddings::Embeddings;
use super::reply::ReplySpec;
use super::request::ChatRequest;
use super::respond::{self, Api};
use super::response_ids::ResponseIds;
use super::responses::{self, Echo};
use super::{anthropic, openai};

/// Source of unique ids (`chatcmpl-mock-N`, `msg_mock_N`, `resp_mock_N`).
static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

/// `POST /v1/chat/completions` and `POST /v1/messages`.
pub(crate) async fn chat(
    api: Api,
    chat: &ChatRequest<'_>,
    controls: &Controls,
) -> Response<MockBody> {
    let model_json = json_string(chat.model());
    let tool_calls = tool_calls(chat, controls);
    let spec = ReplySpec {
        seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        created: unix_seconds(),
        model_json: &model_json,
        tool_calls: &tool_calls,
        controls,
        include_usage: chat.include_usage(),
    };
    if chat.is_stream() {
        let events = match api {
            Api::OpenAi => openai::stream(&spec),
            Api::Anthropic => anthropic::stream(&spec),
        };
        return respond::event_stream(api, controls, events);
    }
    let json = match api {
        Api::OpenAi => openai::completion(&spec),
        Api::Anthropic => anthropic::message(&spec),
    };
    respond::json(api, generation_ms(controls), controls, json).await
}

/// `POST /v1/responses`: a `previous_response_id` must name a response of this mock.
pub(crate) async fn responses(
    ids: &ResponseIds,
    request: &ChatRequest<'_>,
    controls: &Controls,
) -> Response<MockBody> {
    let previous = request.previous_response_id.as_deref();
    if let Some(previous) = previous {
        if !controls.any_previous_response && !ids.contains(previous) {
            let message = format!("Previous response with id '{previous}' not found.");
            let body = openai::invalid_request_body(
                &message,
                "previous_response_id",
                "previous_response_not_found",
            );
            return respond::error_with_body(Api::OpenAi, 400, body);
        }
    }
    let model_json = json_string(request.model());
    let tool_calls = tool_calls(request, controls);
    let previous_json = previous.map_or_else(|| "null".to_owned(), json_string);
    let echo = Echo {
        previous_response_id: &previous_json,
        tools: request.tools.map_or("[]", |raw| raw.get()),
    };
    let spec = ReplySpec {
        seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        created: unix_seconds(),
        model_json: &model_json,
        tool_calls: &tool_calls,
        controls,
        include_usage: false,
    };
    ids.remember(spec.seq);
    if request.is_stream() {
        let events = responses::stream(&spec, &echo);
        return respond::event_stream(Api::OpenAi, controls, events);
    }
    let json = responses::response(&spec, &echo);
    respond::json(Api::OpenAi, generation_ms(controls), controls, json).await
}

/// `POST /v1/embeddings`.
pub(crate) async fn embeddings(
    body: &[u8],
    request: &ChatRequest<'_>,
    controls: &Controls,
) -> Response<MockBody> {
    let embeddings = match Embeddings::parse(body, controls) {
        Ok(embeddings) => embeddings,
        Err((param, message)) => {
            let body = openai::invalid_request_body(&message, param, "invalid_value");
            return respond::error_with_body(Api::OpenAi, 400, body);
        }
    };
    let json = embeddings.render(&json_string(request.model()), controls);
    respond::json(Api::OpenAi, controls.ttft_ms, controls, json).await
}

/// The two fields Anthropic requires of a `count_tokens` body.
#[derive(Deserialize)]
struct CountTokensRequest {
    #[serde(default)]
    model: Option<IgnoredAny>,
    #[serde(default)]
    messages: Option<IgnoredAny>,
}

/// `POST /v1/messages/count_tokens`: the input tokens the `input_tokens` control names.
pub(crate) async fn count_tokens(body: &[u8], controls: &Controls) -> Response<MockBody> {
    let missing = match serde_json::from_slice::<CountTokensRequest>(body) {
        Ok(CountTokensRequest { model: None, .. }) => Some("model"),
        Ok(CountTokensRequest { messages: None, .. }) => Some("messages"),
        Ok(_) => None,
        Err(_) => Some("body"),
    };
    if let Some(field) = missing {
        return respond::error(Api::Anthropic, 400, &format!("{field}: Field required"));
    }
    let json = anthropic::token_count(controls.tokens.input);
    respond::json(Api::Anthropic, controls.ttft_ms, controls, json).await
}

/// One tool name (a JSON literal) per call to make, cycling through the offered tools.
fn tool_calls(request: &ChatRequest, controls: &Controls) -> Vec<String> {
    let names = request.tool_names();
    if names.is_empty() {
        return Vec::new();
    }
    (0..controls.tool_calls as usize)
        .map(|i| json_string(&names[i % names.len()]))
        .collect()
}

/// How long a non-streamed reply takes: the whole generation.
fn generation_ms(controls: &Controls) -> u64 {
    controls.ttft_ms + controls.inter_token_ms * controls.tokens.output
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
