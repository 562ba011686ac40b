//! A mock LLM upstream speaking the OpenAI chat-completions and Anthropic
//! messages APIs over HTTP/1.1, with per-request fault and usage controls.
//!
//! Controls come from `x-mock-*` request headers and from a model-name suffix
//! (`mock-1@output_tokens=5,status=500`); the suffix wins over headers.

mod anthropic;
mod body;
mod controls;
mod openai;
mod prompt_count;
mod recorder;
mod reply;
mod request;
mod server;
mod sse;

pub use controls::{FailSwitch, MockDefaults};
pub use recorder::{RecordedRequest, Recorder};
pub use server::{serve, spawn_mock};

#[cfg(test)]
mod tests;
