//! The few fields of a request body that shape the mock's reply (chat completions,
//! messages, responses). Everything else in the body is skipped without being materialised.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
pub(crate) struct ChatRequest<'a> {
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Kept raw: the Responses API echoes it, and only tool calls need the names.
    #[serde(borrow, default)]
    pub tools: Option<&'a RawValue>,
    /// Responses API: the stored response this request continues.
    #[serde(borrow, default)]
    pub previous_response_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// Covers the shapes: OpenAI chat `{"function":{"name"}}`, Anthropic and Responses `{"name"}`.
#[derive(Deserialize)]
struct ToolDef<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    function: Option<FunctionDef<'a>>,
}

#[derive(Deserialize)]
struct FunctionDef<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

impl<'a> ChatRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    pub fn model(&self) -> &str {
        self.model.as_deref().unwrap_or("mock")
    }

    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// Names of the offered tools, in order (`tool` for one without a name); empty
    /// when the request offers none or `tools` is not a list of objects.
    pub fn tool_names(&self) -> Vec<Cow<'a, str>> {
        let Some(raw) = self.tools else {
            return Vec::new();
        };
        let tools: Vec<ToolDef<'a>> = serde_json::from_str(raw.get()).unwrap_or_default();
        tools
            .into_iter()
            .map(|tool| {
                tool.function
                    .and_then(|f| f.name)
                    .or(tool.name)
                    .unwrap_or(Cow::Borrowed("tool"))
            })
            .collect()
    }
}
