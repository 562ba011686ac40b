//! The few fields of a chat request body that shape the mock's reply.
//! Everything else in the body is skipped without being materialised.

use std::borrow::Cow;

use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct ChatRequest<'a> {
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(borrow, default)]
    pub tools: Option<Vec<ToolDef<'a>>>,
}

#[derive(Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// Covers both shapes: OpenAI `{"function":{"name"}}` and Anthropic `{"name"}`.
#[derive(Deserialize)]
pub(crate) struct ToolDef<'a> {
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub function: Option<FunctionDef<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct FunctionDef<'a> {
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
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

    /// Name of the first tool, if the request offers any tools.
    pub fn first_tool_name(&self) -> Option<&str> {
        let tool = self.tools.as_ref()?.first()?;
        let name = tool
            .function
            .as_ref()
            .and_then(|f| f.name.as_deref())
            .or(tool.name.as_deref());
        Some(name.unwrap_or("tool"))
    }
}
