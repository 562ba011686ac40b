//! Request-body sanitising throughput (bytes/s), and the choice it rests on: a top-level
//! parse with borrowed `RawValue`s (what `ChatRequest` does) against building a full DOM
//! with serde_json or simd-json, modifying it and serialising it back.
//!
//!   cargo bench -p tollgate-filters --bench chat_request

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use tollgate_filters::chat_request::{BodyRules, ChatRequest, ThinkingPolicy};
use tollgate_filters::usage::ApiFormat;

const RULES: BodyRules = BodyRules {
    thinking: ThinkingPolicy::Strip,
    default_max_tokens: 1024,
};

fn body(prompt_bytes: usize) -> Vec<u8> {
    let turn = r#"{"role":"user","content":"Summarise the following text in three bullet points, keeping every number exact: "}"#;
    let mut messages =
        vec![r#"{"role":"system","content":"You are a careful assistant."}"#.to_string()];
    let mut size = 0;
    while size < prompt_bytes {
        messages.push(turn.to_string());
        size += turn.len();
    }
    format!(
        r#"{{"model":"gpt-4o-mini","messages":[{}],"temperature":0.2,"stream":true,"api_key":"sk-leak","tools":[{{"type":"function","function":{{"name":"f","parameters":{{"type":"object"}}}}}}]}}"#,
        messages.join(",")
    )
    .into_bytes()
}

fn gateway_path(b: &[u8]) -> usize {
    let mut req = ChatRequest::parse(b, ApiFormat::OpenAi).unwrap();
    req.sanitize(&RULES).unwrap();
    req.render().len_for("upstream-model")
}

fn serde_json_dom(b: &[u8]) -> usize {
    let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("api_key");
    o.insert("model".into(), "upstream-model".into());
    o.insert(
        "stream_options".into(),
        serde_json::json!({"include_usage": true}),
    );
    serde_json::to_vec(&v).unwrap().len()
}

fn simd_json_dom(b: &[u8]) -> usize {
    use simd_json::prelude::*;
    // simd-json parses in place: the copy is part of its real cost.
    let mut owned = b.to_vec();
    let mut v = simd_json::to_owned_value(&mut owned).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("api_key");
    o.insert("model".into(), "upstream-model".into());
    o.insert(
        "stream_options".into(),
        simd_json::json!({"include_usage": true}),
    );
    simd_json::to_vec(&v).unwrap().len()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sanitise_request_body");
    for (name, size) in [
        ("1KiB", 1024),
        ("20KiB", 20 * 1024),
        ("4MiB", 4 * 1024 * 1024),
    ] {
        let b = body(size);
        g.throughput(Throughput::Bytes(b.len() as u64));
        if size > 1024 * 1024 {
            g.sample_size(10);
        }
        g.bench_with_input(BenchmarkId::new("gateway_rawvalue", name), &b, |bn, b| {
            bn.iter(|| gateway_path(black_box(b)))
        });
        g.bench_with_input(BenchmarkId::new("serde_json_dom", name), &b, |bn, b| {
            bn.iter(|| serde_json_dom(black_box(b)))
        });
        g.bench_with_input(BenchmarkId::new("simd_json_dom", name), &b, |bn, b| {
            bn.iter(|| simd_json_dom(black_box(b)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
