//! Feeds one OpenAI Chat Completions stream through [`UsageMeter`] N times, for counting the
//! meter's instructions per request with callgrind (docs/benchmarks.md, "The OpenAI stream
//! meter"): run it for N and 2N and divide the difference by N.
//!
//! The stream is what `benches/src/mock` (mock-llm) sends for 16 output tokens with
//! `stream_options.include_usage`: 16 text chunks (the first with the role), the finish
//! chunk, the usage chunk and `[DONE]`, each event a chunk of its own as the proxy sees them.
//!
//! ```text
//! cargo build --release -p tollgate-filters --example meter_stream
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/meter_stream 1000
//! ```

use std::hint::black_box;
use tollgate_filters::usage::{ApiFormat, BodyKind, UsageMeter};

const OUTPUT_TOKENS: usize = 16;

fn stream_events() -> Vec<Vec<u8>> {
    let prefix = r#"data: {"id":"chatcmpl-mock-17","object":"chat.completion.chunk","created":1758731011,"model":"mock-1","#;
    let chunk = |delta: &str, finish: &str| {
        format!(
            r#"{prefix}"choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}],"usage":null}}"#
        ) + "\n\n"
    };
    let mut events = vec![chunk(r#"{"role":"assistant","content":"tok "}"#, "null")];
    for _ in 1..OUTPUT_TOKENS {
        events.push(chunk(r#"{"content":"tok "}"#, "null"));
    }
    events.push(chunk("{}", r#""stop""#));
    events.push(format!(
        r#"{prefix}"choices":[],"usage":{{"prompt_tokens":12,"completion_tokens":16,"total_tokens":28,"prompt_tokens_details":{{"cached_tokens":0,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}}}"#
    ) + "\n\n");
    events.push("data: [DONE]\n\n".to_owned());
    events.into_iter().map(String::into_bytes).collect()
}

fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let events = stream_events();
    let mut content_bytes = 0u64;
    for _ in 0..requests {
        let mut meter = UsageMeter::new(ApiFormat::OpenAi, BodyKind::EventStream);
        for event in &events {
            meter.feed(black_box(event));
        }
        let report = black_box(meter.report());
        assert!(report.complete && report.usage_seen);
        content_bytes += meter.content_bytes();
    }
    assert_eq!(content_bytes, (4 * OUTPUT_TOKENS * requests) as u64);
    println!("{requests} requests, {content_bytes} content bytes");
}
