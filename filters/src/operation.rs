//! Which LLM API a request calls: the operation and the wire format its body and response use.

use crate::usage::ApiFormat;

/// An LLM endpoint the gateway serves (and bills).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// OpenAI Chat Completions (`POST /v1/chat/completions`).
    ChatCompletions,
    /// Anthropic Messages (`POST /v1/messages`).
    Messages,
    /// OpenAI Responses (`POST /v1/responses`).
    Responses,
    /// OpenAI Embeddings (`POST /v1/embeddings`).
    Embeddings,
    /// Anthropic token counting (`POST /v1/messages/count_tokens`): passed through, unbilled.
    CountTokens,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::ChatCompletions,
        Operation::Messages,
        Operation::Responses,
        Operation::Embeddings,
        Operation::CountTokens,
    ];

    /// The vendor family whose wire format the request and response use.
    pub fn format(self) -> ApiFormat {
        match self {
            Operation::ChatCompletions | Operation::Responses | Operation::Embeddings => {
                ApiFormat::OpenAi
            }
            Operation::Messages | Operation::CountTokens => ApiFormat::Anthropic,
        }
    }

    /// The chat operation of a format: the one a provider of that kind speaks natively.
    pub fn chat(format: ApiFormat) -> Operation {
        match format {
            ApiFormat::OpenAi => Operation::ChatCompletions,
            ApiFormat::Anthropic => Operation::Messages,
        }
    }

    /// A chat operation (Chat Completions or Messages): the two that translate into each other.
    pub fn is_chat(self) -> bool {
        matches!(self, Operation::ChatCompletions | Operation::Messages)
    }

    /// Whether a call generates anything that is billed.
    pub fn is_billed(self) -> bool {
        self != Operation::CountTokens
    }

    /// The name used in records, metrics and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Operation::ChatCompletions => "chat_completions",
            Operation::Messages => "messages",
            Operation::Responses => "responses",
            Operation::Embeddings => "embeddings",
            Operation::CountTokens => "count_tokens",
        }
    }

    /// The path under a provider's API root (OpenAI base URLs include `/v1`, Anthropic's do not).
    pub fn upstream_suffix(self) -> &'static str {
        match self {
            Operation::ChatCompletions => "/chat/completions",
            Operation::Messages => "/v1/messages",
            Operation::Responses => "/responses",
            Operation::Embeddings => "/embeddings",
            Operation::CountTokens => "/v1/messages/count_tokens",
        }
    }

    /// The output-limit field the gateway inserts when a request names none (`None`: the
    /// operation generates nothing to limit).
    pub fn output_limit_field(self) -> Option<&'static str> {
        match self {
            Operation::ChatCompletions | Operation::Messages => Some("max_tokens"),
            Operation::Responses => Some("max_output_tokens"),
            Operation::Embeddings | Operation::CountTokens => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_has_its_format_and_paths() {
        for op in Operation::ALL {
            assert!(op.upstream_suffix().starts_with('/'));
            assert_eq!(op.is_chat(), Operation::chat(op.format()) == op);
        }
        assert_eq!(Operation::Responses.format(), ApiFormat::OpenAi);
        assert_eq!(Operation::CountTokens.format(), ApiFormat::Anthropic);
        assert!(!Operation::CountTokens.is_billed());
    }
}
