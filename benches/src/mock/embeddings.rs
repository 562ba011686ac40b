//! `POST /v1/embeddings`: the request's inputs and the `list` of vectors OpenAI returns,
//! as JSON floats or (with `encoding_format: "base64"`) base64 of little-endian f32s.

use std::borrow::Cow;
use std::io::Write;

use base64::Engine;
use serde::Deserialize;

use super::controls::Controls;

/// Vector length when neither the `dimensions` control nor the request names one.
pub(crate) const DEFAULT_DIMENSIONS: u64 = 8;
/// Floats in one reply, all inputs together: ~8 bytes each as JSON, so at most ~128 MiB.
const MAX_FLOATS: u64 = 16 << 20;

#[derive(Deserialize)]
pub(crate) struct EmbeddingsRequest<'a> {
    #[serde(borrow, default)]
    input: Option<EmbeddingInput<'a>>,
    #[serde(borrow, default)]
    encoding_format: Option<Cow<'a, str>>,
    #[serde(default)]
    dimensions: Option<u64>,
}

/// The four shapes OpenAI accepts (tried in this order).
#[derive(Deserialize)]
#[serde(untagged)]
enum EmbeddingInput<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Texts(#[serde(borrow)] Vec<Cow<'a, str>>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

/// A validated request: what the reply needs.
pub(crate) struct Embeddings {
    inputs: u64,
    /// Token count of the input as OpenAI would bill it (o200k for text, length for tokens).
    counted: u64,
    dimensions: u64,
    base64: bool,
}

impl Embeddings {
    /// `Err` is the 400 message (the request field at fault, then why).
    pub fn parse(body: &[u8], controls: &Controls) -> Result<Embeddings, (&'static str, String)> {
        let request: EmbeddingsRequest = serde_json::from_slice(body)
            .map_err(|e| ("input", format!("Invalid embeddings request: {e}")))?;
        let base64 = match request.encoding_format.as_deref() {
            None | Some("float") => false,
            Some("base64") => true,
            Some(other) => {
                let message =
                    format!("'{other}' is not one of ['float', 'base64'] - 'encoding_format'");
                return Err(("encoding_format", message));
            }
        };
        let Some(input) = request.input else {
            return Err(("input", "Missing required parameter: 'input'.".to_owned()));
        };
        let (inputs, counted) = match &input {
            EmbeddingInput::Text(text) => (1, text_tokens(controls, [text.as_ref()])),
            EmbeddingInput::Texts(texts) => (
                texts.len() as u64,
                text_tokens(controls, texts.iter().map(|t| t.as_ref())),
            ),
            EmbeddingInput::Tokens(tokens) => (1, tokens.len() as u64),
            EmbeddingInput::TokenLists(lists) => (
                lists.len() as u64,
                lists.iter().map(|l| l.len() as u64).sum(),
            ),
        };
        if inputs == 0 {
            return Err(("input", "'$.input' is invalid: it is empty.".to_owned()));
        }
        let dimensions = controls
            .dimensions
            .or(request.dimensions)
            .unwrap_or(DEFAULT_DIMENSIONS);
        if dimensions == 0 || inputs.saturating_mul(dimensions) > MAX_FLOATS {
            let message =
                format!("mock-llm: {inputs} vectors of {dimensions} floats is not served");
            return Err(("dimensions", message));
        }
        Ok(Embeddings {
            inputs,
            counted,
            dimensions,
            base64,
        })
    }

    /// The `list` object; prompt tokens from `count_prompt` or the `input_tokens` control.
    pub fn render(&self, model_json: &str, controls: &Controls) -> Vec<u8> {
        let per_vector = if self.base64 {
            self.dimensions as usize * 4 / 3 + 8
        } else {
            self.dimensions as usize * FLOAT_TEXT_MAX
        };
        let mut out = Vec::with_capacity(160 + self.inputs as usize * (per_vector + 64));
        out.extend_from_slice(br#"{"object":"list","data":["#);
        let mut floats = Vec::new();
        for index in 0..self.inputs {
            if index > 0 {
                out.push(b',');
            }
            let _ = write!(
                out,
                r#"{{"object":"embedding","index":{index},"embedding":"#
            );
            if self.base64 {
                floats.clear();
                floats.extend((0..self.dimensions).flat_map(|d| value(index, d).to_le_bytes()));
                out.push(b'"');
                let start = out.len();
                out.resize(start + base64_len(floats.len()), 0);
                let written = base64::engine::general_purpose::STANDARD
                    .encode_slice(&floats, &mut out[start..])
                    .unwrap_or(0);
                out.truncate(start + written);
                out.push(b'"');
            } else {
                out.push(b'[');
                for d in 0..self.dimensions {
                    if d > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(FLOAT_TEXT[slot(index, d)].as_bytes());
                }
                out.push(b']');
            }
            out.push(b'}');
        }
        let _ = write!(out, r#"],"model":{model_json}"#);
        if !controls.omit_usage {
            let prompt = if controls.count_prompt {
                self.counted
            } else {
                controls.tokens.input
            };
            let _ = write!(
                out,
                r#","usage":{{"prompt_tokens":{prompt},"total_tokens":{prompt}}}"#
            );
        }
        out.push(b'}');
        out
    }
}

fn text_tokens<'t>(controls: &Controls, texts: impl IntoIterator<Item = &'t str>) -> u64 {
    if !controls.count_prompt {
        return 0;
    }
    let bpe = tiktoken_rs::o200k_base_singleton();
    texts
        .into_iter()
        .map(|t| bpe.encode_ordinary(t).len() as u64)
        .sum()
}

/// Components cycle through 16 values that print exactly, so a test can predict them.
const FLOAT_TEXT: [&str; 16] = [
    "-0.5", "-0.4375", "-0.375", "-0.3125", "-0.25", "-0.1875", "-0.125", "-0.0625", "0.0",
    "0.0625", "0.125", "0.1875", "0.25", "0.3125", "0.375", "0.4375",
];
const FLOAT_TEXT_MAX: usize = 8;

/// Component `d` of vector `index` (vectors differ so a test can tell them apart).
fn slot(index: u64, d: u64) -> usize {
    ((index * 5 + d) % 16) as usize
}

pub(crate) fn value(index: u64, d: u64) -> f32 {
    (slot(index, d) as f32 - 8.0) / 16.0
}

fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_table_matches_values() {
        for (i, text) in FLOAT_TEXT.iter().enumerate() {
            assert_eq!(text.parse::<f32>().unwrap(), value(0, i as u64));
            assert!(text.len() <= FLOAT_TEXT_MAX);
        }
    }
}
