//! Image parts of a request, so the `image_tokens` control can bill each one as input: a
//! test then sees in the usage that an image reached the provider (after translation).
//!
//! The body is only walked when the control is set: other requests never pay for it.

use serde_json::Value;

/// Parts that carry an image in any of the APIs the mock speaks: OpenAI chat
/// `{"type":"image_url"}`, Anthropic `{"type":"image"}` (base64 or url source) and
/// Responses `{"type":"input_image"}`, wherever they sit (messages, tool results, input).
const IMAGE_PART_TYPES: [&str; 3] = ["image_url", "image", "input_image"];

pub(crate) fn count_image_parts(body: &[u8]) -> u64 {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => count(&value),
        Err(_) => 0,
    }
}

fn count(value: &Value) -> u64 {
    match value {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(fields) => {
            let is_image = fields
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| IMAGE_PART_TYPES.contains(&t));
            // An image part holds no nested image; its fields are data, not parts.
            if is_image {
                1
            } else {
                fields.values().map(count).sum()
            }
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_image_parts_of_every_api() {
        let openai = br#"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
            {"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}"#;
        assert_eq!(count_image_parts(openai), 2);
        let anthropic = br#"{"messages":[{"role":"user","content":[
            {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},
            {"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://e/x.png"}}]}]}]}"#;
        assert_eq!(count_image_parts(anthropic), 2);
        let responses = br#"{"input":[{"role":"user","content":[{"type":"input_image","image_url":"https://e/x.png"}]}]}"#;
        assert_eq!(count_image_parts(responses), 1);
        assert_eq!(
            count_image_parts(br#"{"messages":[{"content":"image"}]}"#),
            0
        );
        assert_eq!(count_image_parts(b"not json"), 0);
    }
}
