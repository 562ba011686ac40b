//! Per-request behaviour of the mock: server-wide defaults overridden by
//! `x-mock-*` headers and by `key=value` pairs after `@` in the model name.

use http::HeaderMap;

/// Server-wide defaults, used when a request does not override them.
#[derive(Clone, Debug)]
pub struct MockDefaults {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_5m_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub ttft_ms: u64,
    pub inter_token_ms: u64,
    /// Flipped at run time by a test: every request answered with this status.
    pub switch: FailSwitch,
}

/// A whole-mock fault a test turns on and off while the mock runs (requests carry no
/// control of their own: e.g. the gateway's health probes).
#[derive(Clone, Debug, Default)]
pub struct FailSwitch(std::sync::Arc<std::sync::atomic::AtomicU16>);

impl FailSwitch {
    /// Answer every request with `status` from now on.
    pub fn fail_with(&self, status: u16) {
        self.0.store(status, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn recover(&self) {
        self.fail_with(0);
    }
    pub fn status(&self) -> Option<u16> {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            s => Some(s),
        }
    }
}

impl Default for MockDefaults {
    fn default() -> Self {
        MockDefaults {
            input_tokens: 12,
            output_tokens: 16,
            cache_read_tokens: 0,
            cache_write_5m_tokens: 0,
            cache_write_1h_tokens: 0,
            ttft_ms: 0,
            inter_token_ms: 0,
            switch: FailSwitch::default(),
        }
    }
}

/// Token counts the mock reports for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TokenCounts {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    /// OpenAI hidden reasoning, reported inside the output tokens (on top of `output`).
    pub reasoning: u64,
    /// Anthropic thinking-block tokens, streamed and counted inside the output tokens.
    pub thinking: u64,
    /// Added to the input once per image part of the request.
    pub per_image: u64,
}

/// Why generation stopped, when a test forces it (`stop_reason` / `finish_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// OpenAI `length`, Anthropic `max_tokens`, Responses `incomplete` (`max_output_tokens`).
    MaxTokens,
    /// Anthropic `stop_sequence` with `stop_sequence` set; OpenAI `stop`.
    Sequence,
    /// OpenAI `content_filter`, Anthropic `refusal`, Responses `incomplete` (`content_filter`).
    Refusal,
}

impl Stop {
    /// Either API's spelling; `stop`/`end_turn` mean a natural end (no override).
    fn parse(value: &str) -> Result<Option<Stop>, ()> {
        match value {
            "max_tokens" | "length" => Ok(Some(Stop::MaxTokens)),
            "stop_sequence" => Ok(Some(Stop::Sequence)),
            "refusal" | "content_filter" => Ok(Some(Stop::Refusal)),
            "stop" | "end_turn" | "" => Ok(None),
            _ => Err(()),
        }
    }
}

/// Everything that shapes the reply to one request.
#[derive(Clone, Debug)]
pub(crate) struct Controls {
    pub tokens: TokenCounts,
    pub ttft_ms: u64,
    pub inter_token_ms: u64,
    pub omit_usage: bool,
    pub status: Option<u16>,
    pub hang: bool,
    pub close_after: Option<usize>,
    pub malformed_sse: bool,
    /// Report the prompt tokens as OpenAI counts them (o200k_base, the chat rule).
    pub count_prompt: bool,
    pub stop: Option<Stop>,
    /// OpenAI: the assistant refuses (`message.refusal`, `delta.refusal`, a refusal part).
    pub refusal: bool,
    /// With tools: the text first, then the tool calls, in one reply.
    pub text_before_tool: bool,
    /// With tools: this many parallel calls, to the request's tools in turn.
    pub tool_calls: u64,
    /// Embeddings: the vector length, over the request's `dimensions`.
    pub dimensions: Option<u64>,
    /// Responses: accept a `previous_response_id` this mock did not produce.
    pub any_previous_response: bool,
}

const HEADER_PREFIX: &str = "x-mock-";

impl Controls {
    pub fn from_defaults(d: &MockDefaults) -> Self {
        Controls {
            tokens: TokenCounts {
                input: d.input_tokens,
                output: d.output_tokens,
                cache_read: d.cache_read_tokens,
                cache_write_5m: d.cache_write_5m_tokens,
                cache_write_1h: d.cache_write_1h_tokens,
                reasoning: 0,
                thinking: 0,
                per_image: 0,
            },
            ttft_ms: d.ttft_ms,
            inter_token_ms: d.inter_token_ms,
            omit_usage: false,
            status: None,
            hang: false,
            close_after: None,
            malformed_sse: false,
            count_prompt: false,
            stop: None,
            refusal: false,
            text_before_tool: false,
            tool_calls: 1,
            dimensions: None,
            any_previous_response: false,
        }
        .with_switch(d)
    }

    fn with_switch(mut self, d: &MockDefaults) -> Self {
        if let Some(s) = d.switch.status() {
            self.status = Some(s);
        }
        self
    }

    /// Applies every `x-mock-*` header. Unknown `x-mock-*` names are ignored
    /// so that new controls do not break old mocks.
    pub fn apply_headers(&mut self, headers: &HeaderMap) -> Result<(), String> {
        for (name, value) in headers {
            let Some(key) = name.as_str().strip_prefix(HEADER_PREFIX) else {
                continue;
            };
            let value = value
                .to_str()
                .map_err(|_| format!("header {name} is not ASCII"))?;
            self.apply(key, value.trim())?;
        }
        Ok(())
    }

    /// Applies `key=value,key=value` found after the first `@` of the model.
    pub fn apply_model_suffix(&mut self, model: &str) -> Result<(), String> {
        let Some((_, suffix)) = model.split_once('@') else {
            return Ok(());
        };
        for pair in suffix.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, "1"));
            self.apply(key.trim(), value.trim())?;
        }
        Ok(())
    }

    /// `key` may use `-` (header form) or `_` (model-suffix form).
    fn apply(&mut self, key: &str, value: &str) -> Result<(), String> {
        let Some(control) = Control::parse(key) else {
            return Ok(());
        };
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("mock control {key}: {value:?} is not a number"))
        };
        let flag = || match value {
            "1" | "true" | "yes" | "" => Ok(true),
            "0" | "false" | "no" => Ok(false),
            _ => Err(format!("mock control {key}: {value:?} is not a flag")),
        };
        match control {
            Control::InputTokens => self.tokens.input = number()?,
            Control::OutputTokens => self.tokens.output = number()?,
            Control::CacheReadTokens => self.tokens.cache_read = number()?,
            Control::CacheWrite5mTokens => self.tokens.cache_write_5m = number()?,
            Control::CacheWrite1hTokens => self.tokens.cache_write_1h = number()?,
            Control::TtftMs => self.ttft_ms = number()?,
            Control::InterTokenMs => self.inter_token_ms = number()?,
            Control::OmitUsage => self.omit_usage = flag()?,
            Control::Hang => self.hang = flag()?,
            Control::MalformedSse => self.malformed_sse = flag()?,
            Control::CountPrompt => self.count_prompt = flag()?,
            Control::CloseAfter => self.close_after = Some(number()? as usize),
            Control::ReasoningTokens => self.tokens.reasoning = number()?,
            Control::Thinking => self.tokens.thinking = number()?,
            Control::ImageTokens => self.tokens.per_image = number()?,
            Control::Refusal => self.refusal = flag()?,
            Control::TextBeforeTool => self.text_before_tool = flag()?,
            Control::AnyPreviousResponse => self.any_previous_response = flag()?,
            Control::ToolCalls => self.tool_calls = number()?.clamp(1, MAX_TOOL_CALLS),
            Control::Dimensions => self.dimensions = Some(number()?),
            Control::Stop => {
                self.stop = Stop::parse(value)
                    .map_err(|()| format!("mock control {key}: {value:?} is not a stop reason"))?;
            }
            Control::Status => {
                let code = number()?;
                if !(100..=999).contains(&code) {
                    return Err(format!("mock control {key}: {code} is not an HTTP status"));
                }
                self.status = Some(code as u16);
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Control {
    InputTokens,
    OutputTokens,
    CacheReadTokens,
    CacheWrite5mTokens,
    CacheWrite1hTokens,
    TtftMs,
    InterTokenMs,
    OmitUsage,
    Status,
    Hang,
    CloseAfter,
    MalformedSse,
    CountPrompt,
    ReasoningTokens,
    Thinking,
    ImageTokens,
    Stop,
    Refusal,
    TextBeforeTool,
    ToolCalls,
    Dimensions,
    AnyPreviousResponse,
}

/// Parallel tool calls are named after the request's tools; more is never useful.
const MAX_TOOL_CALLS: u64 = 64;

/// Canonical (model-suffix) spelling of each control.
const CONTROL_NAMES: [(&str, Control); 23] = [
    ("input_tokens", Control::InputTokens),
    ("output_tokens", Control::OutputTokens),
    ("cache_read_tokens", Control::CacheReadTokens),
    ("cache_write_5m_tokens", Control::CacheWrite5mTokens),
    ("cache_write_1h_tokens", Control::CacheWrite1hTokens),
    ("ttft_ms", Control::TtftMs),
    ("inter_token_ms", Control::InterTokenMs),
    ("omit_usage", Control::OmitUsage),
    ("status", Control::Status),
    ("hang", Control::Hang),
    ("close_after", Control::CloseAfter),
    ("malformed_sse", Control::MalformedSse),
    ("count_prompt", Control::CountPrompt),
    ("reasoning_tokens", Control::ReasoningTokens),
    ("thinking", Control::Thinking),
    ("image_tokens", Control::ImageTokens),
    ("stop_reason", Control::Stop),
    ("finish_reason", Control::Stop),
    ("refusal", Control::Refusal),
    ("text_before_tool", Control::TextBeforeTool),
    ("tool_calls", Control::ToolCalls),
    ("dimensions", Control::Dimensions),
    ("any_previous_response", Control::AnyPreviousResponse),
];

impl Control {
    /// Matches without allocating: `-` and `_` are equivalent, case is ignored.
    fn parse(key: &str) -> Option<Control> {
        let same = |canonical: &str| {
            canonical.len() == key.len()
                && canonical.bytes().zip(key.bytes()).all(|(c, k)| {
                    let k = if k == b'-' {
                        b'_'
                    } else {
                        k.to_ascii_lowercase()
                    };
                    c == k
                })
        };
        CONTROL_NAMES
            .iter()
            .find(|(name, _)| same(name))
            .map(|(_, control)| *control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_then_suffix_override_defaults() {
        let mut c = Controls::from_defaults(&MockDefaults::default());
        let mut h = HeaderMap::new();
        h.insert("x-mock-output-tokens", "3".parse().unwrap());
        h.insert("x-mock-cache-write-5m-tokens", "7".parse().unwrap());
        h.insert("x-mock-omit-usage", "1".parse().unwrap());
        h.insert("x-other", "9".parse().unwrap());
        c.apply_headers(&h).unwrap();
        c.apply_model_suffix("mock-1@output_tokens=5,status=500,close_after=2")
            .unwrap();
        assert_eq!(c.tokens.output, 5);
        assert_eq!(c.tokens.input, 12);
        assert_eq!(c.tokens.cache_write_5m, 7);
        assert!(c.omit_usage);
        assert_eq!(c.status, Some(500));
        assert_eq!(c.close_after, Some(2));
    }

    #[test]
    fn bad_values_are_rejected() {
        let mut c = Controls::from_defaults(&MockDefaults::default());
        assert!(c.apply_model_suffix("m@output_tokens=lots").is_err());
        assert!(c.apply_model_suffix("m@status=7").is_err());
        assert!(c.apply_model_suffix("m@unknown_key=1").is_ok());
        assert!(c.apply_model_suffix("m@stop_reason=tired").is_err());
    }

    #[test]
    fn new_controls_parse_in_both_spellings() {
        let mut c = Controls::from_defaults(&MockDefaults::default());
        assert_eq!((c.tool_calls, c.stop, c.dimensions), (1, None, None));
        let mut h = HeaderMap::new();
        h.insert("x-mock-finish-reason", "length".parse().unwrap());
        h.insert("x-mock-text-before-tool", "1".parse().unwrap());
        c.apply_headers(&h).unwrap();
        assert_eq!(c.stop, Some(Stop::MaxTokens));
        c.apply_model_suffix(
            "m@reasoning_tokens=4,thinking=3,image_tokens=85,refusal,tool_calls=900,dimensions=2,stop_reason=stop_sequence,any_previous_response",
        )
        .unwrap();
        assert_eq!((c.tokens.reasoning, c.tokens.thinking), (4, 3));
        assert_eq!(c.tokens.per_image, 85);
        assert!(c.refusal && c.text_before_tool && c.any_previous_response);
        assert_eq!((c.tool_calls, c.dimensions), (MAX_TOOL_CALLS, Some(2)));
        assert_eq!(c.stop, Some(Stop::Sequence));
        c.apply_model_suffix("m@stop_reason=end_turn").unwrap();
        assert_eq!(c.stop, None);
    }
}
