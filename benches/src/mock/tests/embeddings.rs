//! `POST /v1/embeddings`: the four input shapes, float and base64 vectors, dimensions,
//! usage and the 400s.

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::post;
use crate::mock::embeddings::value;
use crate::mock::{spawn_mock, MockDefaults};

#[derive(Deserialize, Debug)]
struct List<E> {
    object: String,
    data: Vec<Embedding<E>>,
    model: String,
    usage: Option<Usage>,
}

#[derive(Deserialize, Debug)]
struct Embedding<E> {
    object: String,
    index: u64,
    embedding: E,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
}

fn expected(index: u64, dimensions: u64) -> Vec<f32> {
    (0..dimensions).map(|d| value(index, d)).collect()
}

#[tokio::test]
async fn float_vectors_for_every_input_shape() {
    let (addr, recorder, _mock) = spawn_mock(MockDefaults::default()).await;
    let cases = [
        (json!("hello world"), 1),
        (json!(["hello", "world", "!"]), 3),
        (json!([1, 2, 3]), 1),
        (json!([[1, 2], [3]]), 2),
    ];
    for (input, vectors) in cases {
        let body = json!({"model": "emb@input_tokens=7", "input": input});
        let reply = post(addr, "/v1/embeddings", &[], body).await;
        assert_eq!(reply.status, 200, "{input}");
        assert!(reply.headers.contains_key("openai-organization"));
        let list: List<Vec<f32>> = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(
            (list.object.as_str(), list.model.as_str()),
            ("list", "emb@input_tokens=7")
        );
        assert_eq!(list.data.len(), vectors, "{input}");
        for (i, e) in list.data.iter().enumerate() {
            assert_eq!((e.object.as_str(), e.index), ("embedding", i as u64));
            assert_eq!(e.embedding, expected(i as u64, 8));
        }
        assert_eq!(
            list.usage,
            Some(Usage {
                prompt_tokens: 7,
                total_tokens: 7
            })
        );
    }
    assert_eq!(recorder.requests()[2].json()["input"], json!([1, 2, 3]));
}

#[tokio::test]
async fn base64_is_little_endian_f32() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let body =
        json!({"model": "emb", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 5});
    let list: List<String> =
        serde_json::from_slice(&post(addr, "/v1/embeddings", &[], body).await.body).unwrap();
    for e in &list.data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&e.embedding)
            .unwrap();
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(floats, expected(e.index, 5));
    }
}

#[tokio::test]
async fn count_prompt_counts_the_input() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let cases = [
        (json!("hello world"), 2),
        (json!(["hello world", "hello"]), 3),
        (json!([1, 2, 3]), 3),
        (json!([[1, 2], [3, 4, 5]]), 5),
    ];
    for (input, tokens) in cases {
        let body = json!({"model": "emb@count_prompt", "input": input});
        let v = post(addr, "/v1/embeddings", &[], body).await.json();
        assert_eq!(
            v["usage"],
            json!({"prompt_tokens": tokens, "total_tokens": tokens}),
            "{input}"
        );
    }
    let v = post(
        addr,
        "/v1/embeddings",
        &[("x-mock-omit-usage", "1")],
        json!({"model": "e", "input": "x"}),
    )
    .await
    .json();
    assert!(v.get("usage").is_none());
}

#[tokio::test]
async fn dimensions_from_the_request_or_the_control() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let length = |v: &Value| v["data"][0]["embedding"].as_array().unwrap().len();
    let v = post(
        addr,
        "/v1/embeddings",
        &[],
        json!({"model": "e", "input": "x", "dimensions": 3}),
    )
    .await
    .json();
    assert_eq!(length(&v), 3);
    let body = json!({"model": "e@dimensions=2", "input": "x", "dimensions": 3});
    assert_eq!(
        length(&post(addr, "/v1/embeddings", &[], body).await.json()),
        2
    );
    // A multi-MiB body for size-limit tests.
    let reply = post(
        addr,
        "/v1/embeddings",
        &[("x-mock-dimensions", "400000")],
        json!({"model": "e", "input": "x"}),
    )
    .await;
    assert!(reply.body.len() > 2 << 20, "{} bytes", reply.body.len());
    let content_length: usize = reply.headers["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(content_length, reply.body.len());
    assert_eq!(length(&reply.json()), 400_000);
}

#[tokio::test]
async fn bad_requests_are_400s() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let cases = [
        (json!({"model": "e"}), "input"),
        (json!({"model": "e", "input": []}), "input"),
        (json!({"model": "e", "input": [1, "a"]}), "input"),
        (
            json!({"model": "e", "input": "x", "encoding_format": "hex"}),
            "encoding_format",
        ),
        (
            json!({"model": "e", "input": "x", "dimensions": 0}),
            "dimensions",
        ),
        (
            json!({"model": "e@dimensions=100000000", "input": "x"}),
            "dimensions",
        ),
    ];
    for (body, param) in cases {
        let reply = post(addr, "/v1/embeddings", &[], body.clone()).await;
        assert_eq!(reply.status, 400, "{body}");
        let error = &reply.json()["error"];
        assert_eq!(error["param"], param, "{body}");
        assert_eq!(error["type"], "invalid_request_error");
    }
}
