//! Usage-meter throughput in bytes/s: ~200-token OpenAI and Anthropic streams fed in
//! ~100-byte chunks (what a proxy sees) and in one piece, and a 20 KB non-stream body.
//! A last group compares serde_json with simd-json on the payloads the meter parses.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::hint::black_box;
use tollgate_filters::usage::{ApiFormat, BodyKind, UsageMeter};

const TOKENS: usize = 200;
const CHUNK_BYTES: usize = 100;

/// Roughly one token each, with some multi-byte text and escapes, as models produce.
fn token(i: usize) -> &'static str {
    const WORDS: [&str; 12] = [
        " the",
        " gateway",
        " meters",
        " every",
        " token",
        ",",
        " caf\u{e9}",
        " \\\"quoted\\\"",
        "\\n",
        " \u{6771}\u{4eac}",
        " result",
        ".",
    ];
    WORDS[i % WORDS.len()]
}

fn openai_chunk(choices: &str, usage: &str) -> String {
    format!(
        "data: {{\"id\":\"chatcmpl-CJ8xq2Lr0UoD4tGm7hYwP1bA9sK3e\",\"object\":\"chat.completion.chunk\",\"created\":1758731011,\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_cbf1785567\",\"choices\":{choices},\"usage\":{usage}}}\n\n"
    )
}

fn openai_stream() -> Vec<u8> {
    let mut body = openai_chunk(
        r#"[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"#,
        "null",
    );
    for i in 0..TOKENS {
        let choices = format!(
            r#"[{{"index":0,"delta":{{"content":"{}"}},"logprobs":null,"finish_reason":null}}]"#,
            token(i)
        );
        body += &openai_chunk(&choices, "null");
    }
    body += &openai_chunk(
        r#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]"#,
        "null",
    );
    body += &openai_chunk(
        "[]",
        r#"{"prompt_tokens":2406,"completion_tokens":200,"total_tokens":2606,"prompt_tokens_details":{"cached_tokens":2304,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#,
    );
    body += "data: [DONE]\n\n";
    body.into_bytes()
}

fn anthropic_stream() -> Vec<u8> {
    let event = |name: &str, data: &str| format!("event: {name}\ndata: {data}\n\n");
    let mut body = event(
        "message_start",
        r#"{"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":14,"cache_creation_input_tokens":2051,"cache_read_input_tokens":4870,"cache_creation":{"ephemeral_5m_input_tokens":51,"ephemeral_1h_input_tokens":2000},"output_tokens":3,"service_tier":"standard"}}}"#,
    );
    body += &event(
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    );
    body += &event("ping", r#"{"type": "ping"}"#);
    for i in 0..TOKENS {
        body += &event(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{}"}}}}"#,
                token(i)
            ),
        );
    }
    body += &event(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    );
    body += &event(
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":14,"cache_creation_input_tokens":2051,"cache_read_input_tokens":4870,"output_tokens":200}}"#,
    );
    body += &event("message_stop", r#"{"type":"message_stop"}"#);
    body.into_bytes()
}

/// A ~20 KB `chat.completion` body: mostly the answer's text.
fn openai_json_body() -> Vec<u8> {
    let mut content = String::new();
    let mut i = 0;
    while content.len() < 19_500 {
        content += token(i);
        i += 1;
    }
    format!(
        r#"{{"id":"chatcmpl-CJ90a1bC2dE3fG4hI5jK6lM7nO8pQ","object":"chat.completion","created":1758731300,"model":"gpt-4o-2024-08-06","choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}","refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":5200,"completion_tokens":4100,"total_tokens":9300,"prompt_tokens_details":{{"cached_tokens":5120,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}},"service_tier":"default","system_fingerprint":"fp_cbf1785567"}}"#
    )
    .into_bytes()
}

fn meter_all(format: ApiFormat, kind: BodyKind, body: &[u8], chunk: usize) -> u64 {
    let mut meter = UsageMeter::new(format, kind);
    for piece in body.chunks(chunk) {
        meter.feed(black_box(piece));
    }
    let report = meter.report();
    assert!(report.usage_seen && report.complete);
    report.usage.total() ^ meter.content_bytes()
}

fn streams(c: &mut Criterion) {
    let mut group = c.benchmark_group("usage_meter");
    let cases = [
        (
            "openai_stream",
            ApiFormat::OpenAi,
            BodyKind::EventStream,
            openai_stream(),
        ),
        (
            "anthropic_stream",
            ApiFormat::Anthropic,
            BodyKind::EventStream,
            anthropic_stream(),
        ),
        (
            "openai_json_20k",
            ApiFormat::OpenAi,
            BodyKind::Json,
            openai_json_body(),
        ),
    ];
    for (name, format, kind, body) in &cases {
        group.throughput(Throughput::Bytes(body.len() as u64));
        for (split, chunk) in [("chunks_100b", CHUNK_BYTES), ("whole", body.len())] {
            group.bench_with_input(BenchmarkId::new(*name, split), body, |b, body| {
                b.iter(|| meter_all(*format, *kind, body, chunk))
            });
        }
    }
    group.finish();
}

#[derive(Deserialize)]
#[allow(dead_code)] // read by the deserializer only
struct UsageOnly {
    choices: IgnoredAny,
    usage: Option<Counts>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Counts {
    prompt_tokens: u64,
    completion_tokens: u64,
}

/// The same derive struct through both parsers. simd-json parses in place, so it pays for a
/// copy of the payload too (the meter only has borrowed chunk bytes).
fn parsers(c: &mut Criterion) {
    let stream = openai_stream();
    let chunk_line = stream.split(|&b| b == b'\n').nth(4).unwrap();
    let chunk_payload = chunk_line.strip_prefix(b"data: ").unwrap().to_vec();
    let body = openai_json_body();
    let mut group = c.benchmark_group("json_parser");
    for (name, payload) in [("stream_chunk", &chunk_payload), ("json_20k", &body)] {
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("serde_json", name),
            payload,
            |b, payload| {
                b.iter(|| {
                    serde_json::from_slice::<UsageOnly>(black_box(payload))
                        .unwrap()
                        .usage
                        .is_some()
                })
            },
        );
        let mut scratch = payload.clone();
        let mut buffers = simd_json::Buffers::new(payload.len());
        group.bench_with_input(
            BenchmarkId::new("simd_json", name),
            payload,
            |b, payload| {
                b.iter(|| {
                    scratch.clear();
                    scratch.extend_from_slice(black_box(payload));
                    simd_json::serde::from_slice_with_buffers::<UsageOnly>(
                        &mut scratch,
                        &mut buffers,
                    )
                    .unwrap()
                    .usage
                    .is_some()
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = streams, parsers
}
criterion_main!(benches);
