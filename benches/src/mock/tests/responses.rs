//! `POST /v1/responses`: the response object, its event stream, function calls,
//! reasoning, refusals, forced stops and `previous_response_id`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{event_names, post, tok, Reply};
use crate::mock::{spawn_mock, MockDefaults};

/// The fields of a `response` object the SDKs require, typed.
#[derive(Deserialize, Debug)]
struct Response {
    id: String,
    object: String,
    created_at: u64,
    status: String,
    model: String,
    output: Vec<Item>,
    incomplete_details: Option<Value>,
    previous_response_id: Option<String>,
    parallel_tool_calls: bool,
    tool_choice: String,
    tools: Vec<Value>,
    usage: Option<Usage>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Item {
    Reasoning {
        id: String,
        summary: Vec<Value>,
    },
    Message {
        id: String,
        status: String,
        role: String,
        content: Vec<Part>,
    },
    FunctionCall {
        id: String,
        status: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part {
    OutputText {
        text: String,
        annotations: Vec<Value>,
    },
    Refusal {
        refusal: String,
    },
}

#[derive(Deserialize, Debug, PartialEq)]
struct Usage {
    input_tokens: u64,
    input_tokens_details: InputDetails,
    output_tokens: u64,
    output_tokens_details: OutputDetails,
    total_tokens: u64,
}

#[derive(Deserialize, Debug, PartialEq)]
struct InputDetails {
    cached_tokens: u64,
}

#[derive(Deserialize, Debug, PartialEq)]
struct OutputDetails {
    reasoning_tokens: u64,
}

fn request(model: &str) -> Value {
    json!({"model": model, "input": "hi"})
}

fn stream_request(model: &str) -> Value {
    json!({"model": model, "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}], "stream": true})
}

fn weather_tool() -> Value {
    json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}])
}

/// Every event's `type` is its SSE name and the sequence numbers count from 0.
fn checked_events(reply: &Reply) -> Vec<Value> {
    let events = reply.json_events();
    for (n, ((name, _), event)) in reply.events().iter().zip(&events).enumerate() {
        assert_eq!(event["type"], name.as_deref().unwrap());
        assert_eq!(event["sequence_number"], n as u64);
    }
    events
}

#[tokio::test]
async fn response_object_with_reasoning_and_cached_tokens() {
    let (addr, recorder, _mock) = spawn_mock(MockDefaults::default()).await;
    let model = "gpt@output_tokens=3,reasoning_tokens=5,cache_read_tokens=4";
    let reply = post(addr, "/v1/responses", &[], request(model)).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.contains_key("openai-organization"));
    let r: Response = serde_json::from_slice(&reply.body).unwrap();
    assert!(r.id.starts_with("resp_mock_"));
    assert_eq!(
        (r.object.as_str(), r.status.as_str()),
        ("response", "completed")
    );
    assert_eq!(r.model, model);
    assert!(r.created_at > 0);
    assert!(r.incomplete_details.is_none() && r.previous_response_id.is_none());
    assert!(r.parallel_tool_calls && r.tool_choice == "auto" && r.tools.is_empty());
    assert!(matches!(&r.output[0], Item::Reasoning { summary, .. } if summary.is_empty()));
    let Item::Message {
        status,
        role,
        content,
        ..
    } = &r.output[1]
    else {
        panic!("a message after the reasoning: {:?}", r.output);
    };
    assert_eq!((status.as_str(), role.as_str()), ("completed", "assistant"));
    assert_eq!(
        content,
        &[Part::OutputText {
            text: tok(3),
            annotations: vec![]
        }]
    );
    assert_eq!(
        r.usage,
        Some(Usage {
            input_tokens: 16,
            input_tokens_details: InputDetails { cached_tokens: 4 },
            output_tokens: 8,
            output_tokens_details: OutputDetails {
                reasoning_tokens: 5
            },
            total_tokens: 24,
        })
    );
    let recorded = recorder.requests().pop().unwrap();
    assert_eq!(
        (recorded.path.as_str(), recorded.json()["input"].as_str()),
        ("/v1/responses", Some("hi"))
    );
}

#[tokio::test]
async fn stream_events_in_order_and_completed_carries_usage() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let reply = post(
        addr,
        "/responses",
        &[],
        stream_request("gpt@output_tokens=2"),
    )
    .await;
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(
        event_names(&reply),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let events = checked_events(&reply);
    let created: Response = serde_json::from_value(events[0]["response"].clone()).unwrap();
    assert_eq!(created.status, "in_progress");
    assert!(created.output.is_empty() && created.usage.is_none());
    assert_eq!(events[4]["delta"], "tok ");
    assert_eq!(events[4]["item_id"], events[2]["item"]["id"]);
    assert_eq!(events[6]["text"], tok(2));
    let done: Response = serde_json::from_value(events[9]["response"].clone()).unwrap();
    assert_eq!(done.id, created.id);
    assert_eq!(done.status, "completed");
    assert_eq!(done.usage.unwrap().output_tokens, 2);
    let item: Item = serde_json::from_value(events[8]["item"].clone()).unwrap();
    assert_eq!(done.output, [item]);
}

#[tokio::test]
async fn tools_make_function_calls() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = request("gpt@tool_calls=2");
    body["tools"] = weather_tool();
    let r: Response =
        serde_json::from_slice(&post(addr, "/v1/responses", &[], body.clone()).await.body).unwrap();
    assert_eq!(
        r.tools,
        weather_tool().as_array().unwrap().clone(),
        "tools are echoed"
    );
    assert_eq!(r.output.len(), 2, "no message without text_before_tool");
    for item in &r.output {
        let Item::FunctionCall {
            name,
            arguments,
            status,
            ..
        } = item
        else {
            panic!("{item:?}");
        };
        assert_eq!(
            (name.as_str(), arguments.as_str()),
            ("get_weather", r#"{"location":"Paris"}"#)
        );
        assert_eq!(status, "completed");
    }

    let mut body = stream_request("gpt@text_before_tool,output_tokens=1");
    body["tools"] = weather_tool();
    let reply = post(addr, "/v1/responses", &[], body).await;
    let events = checked_events(&reply);
    let added: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.added")
        .map(|e| &e["item"])
        .collect();
    assert_eq!(added[0]["type"], "message");
    assert_eq!(added[1]["type"], "function_call");
    assert_eq!(added[1]["arguments"], "");
    let arguments: String = events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .inspect(|e| {
            assert_eq!(
                (&e["item_id"], &e["output_index"]),
                (&added[1]["id"], &json!(1))
            )
        })
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(arguments, r#"{"location":"Paris"}"#);
    let done = events
        .iter()
        .find(|e| e["type"] == "response.function_call_arguments.done")
        .unwrap();
    assert_eq!(done["arguments"], arguments);
    let completed: Response =
        serde_json::from_value(events.last().unwrap()["response"].clone()).unwrap();
    assert_eq!(completed.output.len(), 2);
}

#[tokio::test]
async fn refusal_and_forced_stops() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let r: Response = serde_json::from_slice(
        &post(
            addr,
            "/v1/responses",
            &[],
            request("gpt@refusal,output_tokens=2"),
        )
        .await
        .body,
    )
    .unwrap();
    let Item::Message { content, .. } = &r.output[0] else {
        panic!()
    };
    assert_eq!(content, &[Part::Refusal { refusal: tok(2) }]);
    let reply = post(
        addr,
        "/v1/responses",
        &[],
        stream_request("gpt@refusal,output_tokens=2"),
    )
    .await;
    let names = event_names(&reply);
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == "response.refusal.delta")
            .count(),
        2
    );
    assert!(names.contains(&"response.refusal.done".to_owned()));

    for (control, reason) in [
        ("stop_reason=max_tokens", "max_output_tokens"),
        ("stop_reason=refusal", "content_filter"),
    ] {
        let r: Response = serde_json::from_slice(
            &post(
                addr,
                "/v1/responses",
                &[],
                request(&format!("gpt@{control}")),
            )
            .await
            .body,
        )
        .unwrap();
        assert_eq!(r.status, "incomplete");
        assert_eq!(r.incomplete_details, Some(json!({"reason": reason})));
        let reply = post(
            addr,
            "/v1/responses",
            &[],
            stream_request(&format!("gpt@{control}")),
        )
        .await;
        assert_eq!(event_names(&reply).last().unwrap(), "response.incomplete");
    }
    let r: Response = serde_json::from_slice(
        &post(
            addr,
            "/v1/responses",
            &[],
            request("gpt@stop_reason=stop_sequence"),
        )
        .await
        .body,
    )
    .unwrap();
    assert_eq!(r.status, "completed");
}

#[tokio::test]
async fn previous_response_id_must_be_known_to_this_mock() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let (other, _, _other_mock) = spawn_mock(MockDefaults::default()).await;
    let first: Response =
        serde_json::from_slice(&post(addr, "/v1/responses", &[], request("gpt")).await.body)
            .unwrap();
    let streamed = post(addr, "/v1/responses", &[], stream_request("gpt"))
        .await
        .json_events();
    let streamed_id = streamed[0]["response"]["id"].as_str().unwrap().to_owned();
    for id in [&first.id, &streamed_id] {
        let mut body = request("gpt");
        body["previous_response_id"] = json!(id);
        let r: Response =
            serde_json::from_slice(&post(addr, "/v1/responses", &[], body.clone()).await.body)
                .unwrap();
        assert_eq!(r.previous_response_id.as_ref(), Some(id));
        // Another provider never saw it: OpenAI's 400.
        let reply = post(other, "/v1/responses", &[], body).await;
        assert_eq!(reply.status, 400);
        let error = &reply.json()["error"];
        assert_eq!(error["code"], "previous_response_not_found");
        assert_eq!(error["param"], "previous_response_id");
        assert_eq!(error["type"], "invalid_request_error");
    }
    let mut body = request("gpt@any_previous_response");
    body["previous_response_id"] = json!("resp_from_elsewhere");
    assert_eq!(post(other, "/v1/responses", &[], body).await.status, 200);
}

#[tokio::test]
async fn faults_and_usage_controls_work_as_for_chat() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let r: Response = serde_json::from_slice(
        &post(
            addr,
            "/v1/responses",
            &[("x-mock-omit-usage", "1")],
            request("gpt"),
        )
        .await
        .body,
    )
    .unwrap();
    assert!(r.usage.is_none());
    let events = post(addr, "/v1/responses", &[], stream_request("gpt@omit_usage"))
        .await
        .json_events();
    assert!(events.last().unwrap()["response"]["usage"].is_null());

    let reply = post(addr, "/v1/responses", &[], request("gpt@status=429")).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.json()["error"]["code"], "rate_limit_exceeded");

    let reply = post(
        addr,
        "/v1/responses",
        &[("x-mock-close-after", "5")],
        stream_request("gpt"),
    )
    .await;
    assert!(reply.aborted);
    assert_eq!(reply.json_events().len(), 5);
    let reply = post(
        addr,
        "/v1/responses",
        &[("x-mock-close-after", "1")],
        request("gpt"),
    )
    .await;
    assert!(reply.aborted);

    let reply = post(
        addr,
        "/v1/responses",
        &[],
        stream_request("gpt@malformed_sse,output_tokens=3"),
    )
    .await;
    assert!(reply.text().contains("mock garbage"));
    let last = reply.json_events().pop().unwrap();
    assert_eq!(last["response"]["usage"]["output_tokens"], 3);
}
