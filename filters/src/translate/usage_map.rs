//! Usage objects both ways, so that the client's numbers say what the provider's said.
//!
//! Anthropic → OpenAI: `prompt_tokens` = input + cache writes + cache reads (OpenAI's prompt
//! includes its cached part), `prompt_tokens_details.cached_tokens` = cache reads,
//! `prompt_tokens_details.cache_write_tokens` = cache writes; the Anthropic members
//! (`cache_creation_input_tokens`, `cache_read_input_tokens`, and the 5m/1h split when it adds
//! up) are kept beside them so that nothing is lost. OpenAI → Anthropic: `input_tokens` =
//! prompt − cached, `cache_read_input_tokens` = cached, `cache_creation_input_tokens` = 0
//! (OpenAI reports no cache writes), `output_tokens` = completion.

use super::write_json::Object;
use serde::Deserialize;

/// An Anthropic usage object as sent; `None` where a count is absent.
#[derive(Deserialize, Debug, Clone, Copy, Default)]
pub(super) struct AnthropicUsage {
    input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation: Option<CacheCreation>,
}

#[derive(Deserialize, Debug, Clone, Copy)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

/// Anthropic counts so far. A stream's `message_delta` repeats and raises the counts of
/// `message_start`, so a count present overwrites; none is ever added.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AnthropicCounts {
    input: u64,
    cache_write: u64,
    cache_read: u64,
    output: u64,
    /// (5m, 1h) cache writes, when the provider split them.
    split: Option<(u64, u64)>,
}

impl AnthropicCounts {
    pub fn apply(&mut self, usage: &AnthropicUsage) {
        let set = |count: &mut u64, v: Option<u64>| {
            if let Some(v) = v {
                *count = v;
            }
        };
        set(&mut self.input, usage.input_tokens);
        set(&mut self.cache_write, usage.cache_creation_input_tokens);
        set(&mut self.cache_read, usage.cache_read_input_tokens);
        set(&mut self.output, usage.output_tokens);
        if let Some(split) = usage.cache_creation {
            self.split = Some((
                split.ephemeral_5m_input_tokens.unwrap_or(0),
                split.ephemeral_1h_input_tokens.unwrap_or(0),
            ));
        }
    }

    /// The OpenAI usage object.
    pub fn write_openai(&self, out: &mut Vec<u8>) {
        let prompt = self
            .input
            .saturating_add(self.cache_write)
            .saturating_add(self.cache_read);
        let mut o = Object::open(out);
        o.number("prompt_tokens", prompt);
        o.number("completion_tokens", self.output);
        o.number("total_tokens", prompt.saturating_add(self.output));
        let mut details = Object::open(o.key("prompt_tokens_details"));
        details.number("cached_tokens", self.cache_read);
        details.number("cache_write_tokens", self.cache_write);
        details.close();
        o.number("cache_creation_input_tokens", self.cache_write);
        o.number("cache_read_input_tokens", self.cache_read);
        // A split that no longer adds up to the total (a later total without one) is left out
        // rather than contradict it.
        if let Some((five_minutes, one_hour)) = self.split {
            if five_minutes.saturating_add(one_hour) == self.cache_write {
                let mut split = Object::open(o.key("cache_creation"));
                split.number("ephemeral_5m_input_tokens", five_minutes);
                split.number("ephemeral_1h_input_tokens", one_hour);
                split.close();
            }
        }
        o.close();
    }
}

/// An OpenAI usage object as sent.
#[derive(Deserialize, Debug, Clone, Copy, Default)]
pub(super) struct OpenAiUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize, Debug, Clone, Copy)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

/// OpenAI counts so far (a count present overwrites).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct OpenAiCounts {
    prompt: u64,
    completion: u64,
    cached: u64,
}

impl OpenAiCounts {
    pub fn apply(&mut self, usage: &OpenAiUsage) {
        if let Some(v) = usage.prompt_tokens {
            self.prompt = v;
        }
        if let Some(v) = usage.completion_tokens {
            self.completion = v;
        }
        if let Some(v) = usage.prompt_tokens_details.and_then(|d| d.cached_tokens) {
            self.cached = v;
        }
    }

    /// The Anthropic usage object, all four counts present (the SDK reads them from a
    /// stream's `message_delta`).
    pub fn write_anthropic(&self, out: &mut Vec<u8>) {
        let mut o = Object::open(out);
        o.number("input_tokens", self.prompt.saturating_sub(self.cached));
        o.number("cache_creation_input_tokens", 0);
        o.number("cache_read_input_tokens", self.cached);
        o.number("output_tokens", self.completion);
        o.close();
    }
}
