//! HTTP responses of the mock: JSON bodies (paced and cut as the controls say), SSE
//! streams, each API's error body and the provider headers of each API.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::body::MockBody;
use super::controls::Controls;
use super::sse::EventList;
use super::{anthropic, openai};

/// The wire format of a route: which error body and which provider headers it gets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    OpenAi,
    Anthropic,
}

/// A JSON reply sent once `generation_ms` passed; `close_after` cuts it in half.
pub(crate) async fn json(
    api: Api,
    generation_ms: u64,
    controls: &Controls,
    json: Vec<u8>,
) -> Response<MockBody> {
    // A non-streamed reply arrives only once the whole generation is done.
    if generation_ms > 0 {
        tokio::time::sleep(Duration::from_millis(generation_ms)).await;
    }
    let json = Bytes::from(json);
    let body = match controls.close_after {
        Some(_) => {
            let half = json.len() / 2;
            MockBody::truncated(json, half)
        }
        None => MockBody::full(json),
    };
    response(api, StatusCode::OK, "application/json", body)
}

/// An SSE reply, paced by the events' delays; `close_after` cuts it after that many.
pub(crate) fn event_stream(api: Api, controls: &Controls, events: EventList) -> Response<MockBody> {
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
    response
}

pub(crate) fn error(api: Api, status: u16, message: &str) -> Response<MockBody> {
    let body = match api {
        Api::OpenAi => openai::error_body(status, message),
        Api::Anthropic => anthropic::error_body(status, message),
    };
    error_with_body(api, status, body)
}

pub(crate) fn error_with_body(api: Api, status: u16, body: Vec<u8>) -> Response<MockBody> {
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
