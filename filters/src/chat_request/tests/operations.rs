//! The Responses, Embeddings and token-counting bodies: what each requires, how its output is
//! limited and how its prompt is bounded.

use super::*;
use crate::operation::Operation;

fn parse(body: &str, op: Operation) -> Result<ChatRequest<'_>, BodyError> {
    ChatRequest::parse_for(body.as_bytes(), op)
}

fn rendered(body: &str, op: Operation) -> serde_json::Value {
    let mut req = parse(body, op).unwrap();
    req.sanitize(&RULES).unwrap();
    serde_json::from_slice(&req.render().to_bytes_for("up")).unwrap()
}

#[test]
fn a_responses_body_is_limited_by_max_output_tokens_and_gets_one_when_it_has_none() {
    let r = parse(r#"{"model":"m","input":"hi","max_output_tokens":77}"#, Operation::Responses).unwrap();
    assert_eq!(r.max_output_tokens(), Some(77));
    let v = rendered(r#"{"model":"m","input":[{"role":"user","content":"hi"}],"stream":true}"#, Operation::Responses);
    assert_eq!(v["max_output_tokens"], 1024);
    assert!(v.get("max_tokens").is_none(), "{v}");
    assert!(v.get("stream_options").is_none(), "usage comes in response.completed: {v}");
    let v = rendered(r#"{"model":"m","input":"hi","max_output_tokens":null}"#, Operation::Responses);
    assert_eq!(v["max_output_tokens"], 1024);
}

#[test]
fn responses_refuse_limits_they_do_not_price_background_and_server_tools() {
    for (body, field) in [
        (r#"{"model":"m","input":"x","max_tokens":5}"#, "max_tokens"),
        (r#"{"model":"m","input":"x","n":2}"#, "n"),
        (r#"{"model":"m","input":"x","MAX_OUTPUT_TOKENS":5}"#, "MAX_OUTPUT_TOKENS"),
        (r#"{"model":"m","input":"x","background":true}"#, "background"),
        (r#"{"model":"m","input":"x","tools":[{"type":"web_search"}]}"#, "tools[type=web_search]"),
        (r#"{"model":"m","input":"x","service_tier":"priority"}"#, "service_tier"),
    ] {
        match parse(body, Operation::Responses) {
            Err(BodyError::UnpricedField { field: f, .. }) => assert_eq!(f, field, "{body}"),
            other => panic!("{body}: {:?}", other.err()),
        }
    }
    assert!(parse(r#"{"model":"m","input":"x","background":false,"tools":[{"type":"function","name":"f"}]}"#, Operation::Responses).is_ok());
    assert_eq!(
        parse(r#"{"model":"m","input":"x","max_output_tokens":0}"#, Operation::Responses).err(),
        Some(BodyError::BadField { field: "max_output_tokens", expected: "a positive integer" })
    );
}

#[test]
fn a_responses_body_needs_input_unless_it_continues_stored_context() {
    assert_eq!(parse(r#"{"model":"m"}"#, Operation::Responses).err(), Some(BodyError::MissingInput));
    assert_eq!(parse(r#"{"model":"m","input":5}"#, Operation::Responses).err(), Some(BodyError::BadInput));
    let r = parse(r#"{"model":"m","previous_response_id":"resp_1"}"#, Operation::Responses).unwrap();
    assert_eq!(
        r.prompt_bound(),
        PromptBound::ContextLength { because: "previous_response_id" },
        "the provider prepends a conversation the body does not hold"
    );
    let r = parse(r#"{"model":"m","input":"x","previous_response_id":null}"#, Operation::Responses).unwrap();
    assert_eq!(r.prompt_bound(), PromptBound::BodyBytes { hidden: 0 });
    let r = parse(r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]}"#, Operation::Responses).unwrap();
    assert!(matches!(r.prompt_bound(), PromptBound::ContextLength { .. }));
}

#[test]
fn reasoning_follows_the_thinking_policy_in_responses_only() {
    let mut r = parse(r#"{"model":"m","input":"x","reasoning":{"effort":"high"}}"#, Operation::Responses).unwrap();
    assert_eq!(r.apply_thinking(ThinkingPolicy::Reject).err(), Some(BodyError::ThinkingNotAllowed("reasoning")));
    let mut r = parse(r#"{"model":"m","input":"x","reasoning":null}"#, Operation::Responses).unwrap();
    assert!(r.apply_thinking(ThinkingPolicy::Reject).is_ok());
    assert!(!r.has_field("reasoning"));
    // A chat body's `reasoning` member is not OpenAI's; it is left to the provider.
    let mut c = parse(r#"{"model":"m","messages":[],"reasoning":{"x":1}}"#, Operation::ChatCompletions).unwrap();
    assert!(c.apply_thinking(ThinkingPolicy::Reject).is_ok());
    assert!(c.has_field("reasoning"));
}

#[test]
fn embeddings_need_input_generate_nothing_and_are_bounded_by_their_bytes() {
    let r = parse(r#"{"model":"e","input":["an image of a cat","x"],"dimensions":8}"#, Operation::Embeddings).unwrap();
    assert_eq!(r.max_output_tokens(), Some(0));
    assert_eq!(r.choices(), 1);
    assert_eq!(r.prompt_bound(), PromptBound::BodyBytes { hidden: 0 }, "a quoted \"image\" in text is still text");
    let r = parse(r#"{"model":"e","input":[[1,2,3],[4]]}"#, Operation::Embeddings).unwrap();
    assert_eq!(r.prompt_bound(), PromptBound::BodyBytes { hidden: 0 });
    assert_eq!(parse(r#"{"model":"e"}"#, Operation::Embeddings).err(), Some(BodyError::MissingInput));
    assert!(matches!(parse(r#"{"model":"e","input":"x","stream":true}"#, Operation::Embeddings), Err(BodyError::BadField { field: "stream", .. })));
    let v = rendered(r#"{"model":"e","input":"x"}"#, Operation::Embeddings);
    assert!(v.get("max_tokens").is_none() && v.get("max_output_tokens").is_none(), "{v}");
}

#[test]
fn a_token_count_is_a_messages_body_without_an_output_limit() {
    let v = rendered(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":2000}}"#, Operation::CountTokens);
    assert!(v.get("max_tokens").is_none(), "count_tokens refuses max_tokens: {v}");
    assert_eq!(v["thinking"]["type"], "enabled", "counting a thinking request generates nothing");
    assert_eq!(parse(r#"{"model":"c"}"#, Operation::CountTokens).err(), Some(BodyError::MissingMessages));
}

#[test]
fn guards_read_the_input_of_responses_and_embeddings() {
    let r = parse(r#"{"model":"m","instructions":"be terse","input":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}"#, Operation::Responses).unwrap();
    assert_eq!(r.message_count(), 2);
    assert!(r.prompt_text_matches(&mut |s| s == "be terse"));
    let r = parse(r#"{"model":"e","input":"secret AKIA"}"#, Operation::Embeddings).unwrap();
    assert_eq!(r.message_count(), 1);
    assert!(r.prompt_text_matches(&mut |s| s.contains("AKIA")));
}
