//! How many prompt tokens a request can cost ([`super::super::content`]).

use super::*;

#[test]
fn prompt_bounds_follow_what_the_provider_must_expand() {
    let bound = |body: &str, format| {
        ChatRequest::parse(body.as_bytes(), format)
            .unwrap()
            .prompt_bound()
    };
    let text = PromptBound::BodyBytes { hidden: 0 };
    assert_eq!(
        bound(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            ApiFormat::OpenAi
        ),
        text
    );
    // Non-ASCII escaped as \u is still text (walked, not scanned).
    assert_eq!(
        bound(
            r#"{"model":"m","messages":[{"role":"user","content":"\u4f60\u597d"}]}"#,
            ApiFormat::OpenAi
        ),
        text
    );
    for (body, format) in [
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}"#,
            ApiFormat::OpenAi,
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR"}}]}]}"#,
            ApiFormat::OpenAi,
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}"#,
            ApiFormat::OpenAi,
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]}"#,
            ApiFormat::OpenAi,
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]}"#,
            ApiFormat::Anthropic,
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","data":"JVBER"}}]}]}"#,
            ApiFormat::Anthropic,
        ),
        // A marker spelled with escapes is found by the walk.
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"\u0069mage","source":{}}]}]}"#,
            ApiFormat::Anthropic,
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"\u0069mage_url":{"url":"u"},"type":"x"}]}]}"#,
            ApiFormat::OpenAi,
        ),
        (
            r#"{"model":"m","messages":[],"tools":[{"type":"computer_20250124","name":"computer","display_width_px":1}]}"#,
            ApiFormat::Anthropic,
        ),
    ] {
        assert!(
            matches!(bound(body, format), PromptBound::ContextLength { .. }),
            "{body}"
        );
    }
    assert_eq!(
        bound(
            r#"{"model":"m","max_tokens":5,"messages":[],"tools":[{"name":"f","input_schema":{}}]}"#,
            ApiFormat::Anthropic
        ),
        PromptBound::BodyBytes {
            hidden: content::ANTHROPIC_TOOL_PROMPT_TOKENS
        }
    );
    // OpenAI function definitions render to fewer tokens than their JSON bytes.
    assert_eq!(
        bound(
            r#"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}]}"#,
            ApiFormat::OpenAi
        ),
        text
    );
}
