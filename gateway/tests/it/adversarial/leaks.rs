//! Finding 10: what a buyer or an operator could learn or lose by accident.
//!
//! - The gateway passed every upstream response header through: the provider's organisation,
//!   project, its request ids, its rate-limit counters and its cookies reached the buyer, who
//!   could then tell which account serves them (and the provider's `x-request-id` replaced
//!   ours). Only the headers a client needs are forwarded now.
//! - A config without `billing:` started with the in-memory sink: every charge vanished on
//!   restart and nothing said so. The sink must be named.

use crate::common::*;
use serde_json::json;

/// Header names (or prefixes) the mock sends that identify the provider's account.
const IDENTITY: &[&str] = &[
    "openai-",
    "anthropic-",
    "x-ratelimit-",
    "set-cookie",
    "server",
    "cf-ray",
    "request-id",
];

fn assert_no_identity(resp: &reqwest::Response, what: &str) {
    for (name, value) in resp.headers() {
        let name = name.as_str();
        assert!(
            !IDENTITY.iter().any(|p| name.starts_with(p)),
            "{what}: upstream header {name}: {value:?} reached the buyer"
        );
        assert!(
            !value.to_str().unwrap_or("").contains("identity"),
            "{what}: {name}: {value:?} carries the provider's identity"
        );
    }
    let ours = request_id(resp);
    assert!(
        ours.starts_with("req_") && ours != "req_mock_identity",
        "{what}: {ours}"
    );
}

#[tokio::test]
async fn provider_identity_headers_never_reach_the_buyer() {
    let mock = Mock::start().await;
    let gw = Gateway::start(GatewayOpts::new(standard_providers(mock.addr))).await;
    let chat = |model: &str, stream: bool| {
        json!({"model": model, "max_tokens": 8, "stream": stream,
               "messages": [{"role": "user", "content": "hi"}]})
    };
    for (path, model) in [
        ("/v1/chat/completions", "gpt-test"),
        ("/v1/messages", "claude-test"),
    ] {
        for stream in [false, true] {
            let what = format!("{path} stream={stream}");
            let r = post_json(&gw.url(path), Some(KEY), &chat(model, stream), &[]).await;
            assert_eq!(r.status(), 200, "{what}");
            assert_no_identity(&r, &what);
            assert!(r.headers().contains_key("content-type"), "{what}");
            let _ = r.bytes().await;
        }
        // An upstream refusal is passed on with its status and retry hint, not its identity.
        let what = format!("{path} upstream 429");
        let r = post_json(
            &gw.url(path),
            Some(KEY),
            &chat(model, false),
            &[("x-mock-status", "429")],
        )
        .await;
        assert_eq!(r.status(), 429, "{what}");
        assert_no_identity(&r, &what);
    }
}

#[tokio::test]
async fn a_config_without_a_billing_sink_is_refused() {
    let path = temp_path("tollgate-nobilling", ".yaml");
    std::fs::write(
        &path,
        format!(
            "server: {{ listen: 127.0.0.1:{} }}\n\
             providers: [{{ id: x, kind: openai, base_url: \"http://127.0.0.1:1/v1\", models: [{{ id: x, pricing: {{ prompt: 1, completion: 1 }} }}] }}]\n",
            free_port()
        ),
    )
    .unwrap();
    let path = tempfile_path::TempPath(path);
    let out = tollgate_cli(&path.0, &["validate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "validate accepted a config without billing"
    );
    assert!(stderr.contains("billing.sink"), "{stderr}");

    // Starting on it fails too (the old gateway started and served with the memory sink).
    let mut child = std::process::Command::new(tollgate_bin())
        .arg("-c")
        .arg(&path.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let exited = child.try_wait().unwrap().is_some();
    if !exited {
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    assert!(
        exited && !status.success(),
        "the gateway started without a billing sink"
    );
}
