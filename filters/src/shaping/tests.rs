//! The shaper over recorded provider bodies, fed whole and split at every byte.

use super::*;

const OPENAI_STREAM: &[u8] = include_bytes!("../../tests/fixtures/openai_stream_cached.sse");
const ANTHROPIC_STREAM: &[u8] =
    include_bytes!("../../tests/fixtures/anthropic_stream_cache_split.sse");
const ANTHROPIC_STREAM_CRLF: &[u8] =
    include_bytes!("../../tests/fixtures/anthropic_stream_cache_split_crlf.sse");
const RESPONSES_STREAM: &[u8] = b"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_abc\",\"object\":\"response\",\"status\":\"in_progress\",\"usage\":null}}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"Hi\"}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_abc\",\"status\":\"completed\",\"usage\":{\"input_tokens\":9,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":1,\"total_tokens\":10}}}\n\n";

fn opts(client: ResponseShape, framing: BodyKind) -> ShaperOptions {
    ShaperOptions {
        client,
        framing,
        ok: true,
        status: 200,
        translate: None,
        stamp: Some("req_t".into()),
        capture_response_id: false,
        created_unix: 1_700_000_000,
    }
}

/// Feed `body` in pieces cut at `cuts`; the client's bytes and how often the quote was asked.
fn run(o: &ShaperOptions, body: &[u8], cuts: &[usize]) -> (Vec<u8>, u32, ResponseShaper) {
    let mut shaper = ResponseShaper::new(o.clone());
    let mut asked = 0;
    let mut out = Vec::new();
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < body.len()));
    bounds.push(body.len());
    for w in bounds.windows(2) {
        let chunk = Bytes::copy_from_slice(&body[w[0]..w[1]]);
        let end = w[1] == body.len();
        let shaped = shaper.feed(&chunk, end, &mut || {
            asked += 1;
            Some(1234)
        });
        match shaped {
            Shaped::Unchanged => out.extend_from_slice(&chunk),
            Shaped::Replace(b) => out.extend_from_slice(&b),
            Shaped::Hold => {}
        }
    }
    (out, asked, shaper)
}

fn stamped_once(o: &ShaperOptions, body: &[u8]) -> Vec<u8> {
    let (whole, asked, _) = run(o, body, &[]);
    assert_eq!(asked, 1, "the quote is asked once");
    for cut in 0..=body.len() {
        let (split, asked, _) = run(o, body, &[cut]);
        assert_eq!(split, whole, "split at {cut}");
        assert_eq!(asked, 1);
    }
    let every: Vec<usize> = (1..body.len()).collect();
    assert_eq!(run(o, body, &every).0, whole, "single bytes");
    whole
}

/// The payloads of the `data:` lines.
fn payloads(body: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn assert_stamp(usage: &serde_json::Value) {
    assert_eq!(usage["cost_microusdc"], 1234, "{usage}");
    assert_eq!(usage["cost"].to_string(), "0.001234");
    assert_eq!(usage["request_id"], "req_t");
}

#[test]
fn an_openai_stream_gets_the_cost_in_its_final_usage_chunk_and_nothing_else_changes() {
    let out = stamped_once(&opts(ResponseShape::OpenAiChat, BodyKind::EventStream), OPENAI_STREAM);
    let (before, after) = (payloads(OPENAI_STREAM), payloads(&out));
    assert_eq!(before.len(), after.len());
    let mut stamped = 0;
    for (b, a) in before.iter().zip(&after) {
        if b["usage"].is_object() {
            stamped += 1;
            assert_stamp(&a["usage"]);
            assert_eq!(a["usage"]["prompt_tokens"], b["usage"]["prompt_tokens"]);
        } else {
            assert_eq!(a, b);
        }
    }
    assert_eq!(stamped, 1);
    assert!(out.ends_with(b"data: [DONE]\n\n"));
}

#[test]
fn aligned_chunks_pass_untouched_except_the_one_with_the_usage() {
    let o = opts(ResponseShape::OpenAiChat, BodyKind::EventStream);
    let mut shaper = ResponseShaper::new(o);
    let mut unchanged = 0;
    let mut replaced = 0;
    for event in OPENAI_STREAM.split_inclusive(|&b| b == b'\n') {
        match shaper.feed(&Bytes::copy_from_slice(event), false, &mut || Some(1)) {
            Shaped::Unchanged => unchanged += 1,
            Shaped::Replace(_) => replaced += 1,
            Shaped::Hold => panic!("a whole line is never held"),
        }
    }
    assert_eq!(replaced, 1);
    assert!(unchanged > 10);
}

#[test]
fn an_anthropic_stream_gets_the_cost_in_message_delta_only() {
    for body in [ANTHROPIC_STREAM, ANTHROPIC_STREAM_CRLF] {
        let out = stamped_once(&opts(ResponseShape::Anthropic, BodyKind::EventStream), body);
        for p in payloads(&out) {
            match p["type"].as_str() {
                // The interim delta (stop_reason null) is not the final count.
                Some("message_delta") if p["delta"]["stop_reason"].is_null() => {
                    assert!(p["usage"].get("cost").is_none())
                }
                Some("message_delta") => assert_stamp(&p["usage"]),
                Some("message_start") => assert!(p["message"]["usage"].get("cost").is_none()),
                _ => assert!(p.get("usage").is_none_or(|u| u.get("cost").is_none())),
            }
        }
    }
}

#[test]
fn a_responses_stream_is_stamped_in_response_completed_and_its_id_noted() {
    let mut o = opts(ResponseShape::OpenAiResponses, BodyKind::EventStream);
    o.capture_response_id = true;
    let out = stamped_once(&o, RESPONSES_STREAM);
    let last = payloads(&out).pop().unwrap();
    assert_stamp(&last["response"]["usage"]);
    for cut in [0, 30, 200] {
        assert_eq!(run(&o, RESPONSES_STREAM, &[cut]).2.response_id(), Some("resp_abc"));
    }
    o.stamp = None;
    let (out, asked, shaper) = run(&o, RESPONSES_STREAM, &[17]);
    assert_eq!((out.as_slice(), asked), (RESPONSES_STREAM, 0));
    assert_eq!(shaper.response_id(), Some("resp_abc"));
}

#[test]
fn a_json_body_is_held_to_its_end_and_stamped() {
    let body = br#"{"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#;
    let o = opts(ResponseShape::OpenAiChat, BodyKind::Json);
    let out = stamped_once(&o, body);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_stamp(&v["usage"]);
    assert_eq!(v["choices"][0]["message"]["content"], "ok");
    let mut o = opts(ResponseShape::OpenAiResponses, BodyKind::Json);
    o.capture_response_id = true;
    let (_, _, s) = run(&o, br#"{"id":"resp_7","object":"response","usage":{"input_tokens":1}}"#, &[3]);
    assert_eq!(s.response_id(), Some("resp_7"));
}

#[test]
fn a_body_too_large_to_hold_goes_on_unstamped_and_errors_pass_through() {
    let mut body = br#"{"data":[""#.to_vec();
    body.resize(MAX_HELD_JSON + 10, b'x');
    body.extend_from_slice(br#""],"usage":{"prompt_tokens":1}}"#);
    let o = opts(ResponseShape::OpenAiChat, BodyKind::Json);
    let (out, asked, _) = run(&o, &body, &[1 << 20, 9 << 20, MAX_HELD_JSON + 5]);
    assert_eq!((out.len(), asked), (body.len(), 0));
    assert_eq!(out, body);
    let mut o = opts(ResponseShape::OpenAiChat, BodyKind::Json);
    o.ok = false;
    let err = br#"{"error":{"message":"bad"}}"#;
    assert_eq!(run(&o, err, &[4]).0, err);
    assert!(!ResponseShaper::new(o).changes_body());
}

#[test]
fn a_translated_stream_carries_the_cost_in_the_clients_final_usage() {
    let mut o = opts(ResponseShape::OpenAiChat, BodyKind::EventStream);
    o.translate = Some(Direction::OpenAiToAnthropic);
    let out = stamped_once(&o, ANTHROPIC_STREAM);
    let with_usage: Vec<_> = payloads(&out).into_iter().filter(|p| p["usage"].is_object()).collect();
    assert_eq!(with_usage.len(), 1, "{}", String::from_utf8_lossy(&out));
    assert_stamp(&with_usage[0]["usage"]);
    assert!(out.ends_with(b"data: [DONE]\n\n"));

    let mut o = opts(ResponseShape::Anthropic, BodyKind::EventStream);
    o.translate = Some(Direction::AnthropicToOpenAi);
    let out = stamped_once(&o, OPENAI_STREAM);
    let delta = payloads(&out).into_iter().find(|p| p["type"] == "message_delta").unwrap();
    assert_stamp(&delta["usage"]);
}

#[test]
fn translated_json_and_error_bodies_take_the_clients_shape() {
    let mut o = opts(ResponseShape::Anthropic, BodyKind::Json);
    o.translate = Some(Direction::AnthropicToOpenAi);
    let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#;
    let v: serde_json::Value = serde_json::from_slice(&stamped_once(&o, body)).unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "ok");
    assert_stamp(&v["usage"]);
    o.ok = false;
    o.status = 429;
    let (out, asked, _) = run(&o, br#"{"error":{"message":"slow down","type":"rate_limit_exceeded"}}"#, &[5]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((v["type"].as_str(), asked), (Some("error"), 0));
    assert!(v["error"]["message"].as_str().unwrap().contains("slow down"));
}
