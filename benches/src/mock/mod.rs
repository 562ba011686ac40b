//! A mock LLM upstream speaking the OpenAI chat-completions, Responses and Embeddings
//! APIs and the Anthropic messages (and `count_tokens`) API over HTTP/1.1, with
//! per-request fault and usage controls.
//!
//! Routes (each also without the `/v1` prefix): `POST /v1/chat/completions`,
//! `/v1/responses`, `/v1/embeddings`, `/v1/messages`, `/v1/messages/count_tokens`.
//!
//! Controls come from `x-mock-*` request headers and from a model-name suffix
//! (`mock-1@output_tokens=5,status=500`); the suffix wins over headers. A header
//! spells a control with `-` (`x-mock-output-tokens`), the suffix with `_`; a bare
//! suffix key means `1` (`mock@refusal`). Unknown controls are ignored.
//!
//! Usage (every API):
//! - `input_tokens`, `output_tokens` (visible text: one `"tok "` per token),
//!   `cache_read_tokens`, `cache_write_5m_tokens`, `cache_write_1h_tokens`: the counts
//!   reported. OpenAI's prompt/input tokens include the cached ones
//!   (`prompt_tokens_details.cached_tokens`, Responses `input_tokens_details.cached_tokens`);
//!   Anthropic's `input_tokens` exclude them and report the 5m/1h write split.
//! - `reasoning_tokens=N` (OpenAI chat and Responses): hidden reasoning, reported in
//!   `completion_tokens_details` / `output_tokens_details` and counted in the output
//!   tokens on top of the text; Responses also emits a `reasoning` output item.
//! - `thinking=N` (Anthropic): a thinking block of N `"hmm "` tokens (streamed as
//!   `thinking_delta`s and a `signature_delta`) before the text, counted in
//!   `output_tokens` and in `output_tokens_details.thinking_tokens`.
//! - `image_tokens=N`: N input tokens more per image part in the request (OpenAI
//!   `image_url`, Anthropic `image`, Responses `input_image`), so a test sees that an
//!   image reached the provider.
//! - `count_prompt`: chat completions report the prompt as OpenAI counts it
//!   (o200k_base); embeddings count their input (o200k for text, the length of token arrays).
//! - `omit_usage`: no usage anywhere (Responses: `"usage":null`).
//!
//! Shape of the reply:
//! - With `tools` in the request the model calls the first one (`tool_calls=N`: N
//!   parallel calls to the offered tools in turn), its arguments streamed in two
//!   fragments; `text_before_tool`: the text comes first, in the same reply.
//! - `stop_reason` / `finish_reason` = `max_tokens`|`length`, `stop_sequence`,
//!   `refusal`|`content_filter` (`stop`/`end_turn`: natural end). Chat: `length`,
//!   `stop`, `content_filter`; Anthropic: `max_tokens`, `stop_sequence` (with
//!   `"stop_sequence":"STOP"`), `refusal`; Responses: `incomplete` with
//!   `max_output_tokens` / `content_filter` (a stop sequence completes normally).
//! - `refusal`: no tool calls; OpenAI: the text is a refusal (`message.refusal`,
//!   `delta.refusal`, a Responses `refusal` part with `response.refusal.*` events);
//!   Anthropic: `stop_reason` `refusal` (unless `stop_reason` says otherwise).
//! - `dimensions=N` (embeddings): vector length, over the request's `dimensions`
//!   (default 8), to make multi-MiB bodies.
//! - `any_previous_response` (Responses): accept a `previous_response_id` this mock did
//!   not produce (by default: 400 `previous_response_not_found`, as OpenAI answers).
//!
//! Faults and pacing (every route): `status=N` (that status with the API's error body),
//! `hang`, `close_after=N` (a stream cut after N events, a JSON body after half),
//! `malformed_sse` (a garbage line and a cut event after the first delta), `ttft_ms`,
//! `inter_token_ms`.

mod anthropic;
mod body;
mod controls;
mod embeddings;
mod handlers;
mod images;
mod openai;
mod prompt_count;
mod recorder;
mod reply;
mod request;
mod respond;
mod response_ids;
mod responses;
mod server;
mod sse;

pub use controls::{FailSwitch, MockDefaults};
pub use recorder::{RecordedRequest, Recorder};
pub use server::{serve, spawn_mock};

#[cfg(test)]
mod tests;
