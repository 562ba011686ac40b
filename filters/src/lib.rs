//! Per-request logic that needs no I/O: parsing and sanitising request bodies, metering
//! usage in responses, translating between the OpenAI and Anthropic formats. Everything here
//! is pure and allocation-conscious, so it can be unit- and property-tested in isolation and
//! benchmarked in bytes/s.

pub mod chat_request;
pub mod operation;
pub mod prompt_tokens;
pub mod shaping;
pub mod translate;
pub mod usage;
