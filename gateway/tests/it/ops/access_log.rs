//! The access log: one JSON line per request with ids, counts, money and timings, never
//! content or a key; and the process log as JSON.

use super::*;
use std::time::Duration;

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test]
async fn one_json_line_per_request_without_content_or_secrets() {
    let mock = Mock::start().await;
    let access = temp("access.log");
    let process = temp("process.log");
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.extra = format!("log:\n  format: json\n  access: {}\n", access.display());
    opts.log_file = Some(process.clone());
    let gw = Gateway::start(opts).await;

    let streamed = gw
        .post(
            "/v1/chat/completions",
            &chat("gpt-test", true),
            &[("x-mock-output-tokens", "5")],
        )
        .await;
    let streamed_id = request_id(&streamed);
    let text = streamed.text().await.unwrap();
    assert!(text.contains("[DONE]"));
    let (status, plain) = gw
        .served("/v1/chat/completions", &chat("gpt-test", false), &[])
        .await;
    assert_eq!(status, 200);
    let refused = post_json(
        &gw.url("/v1/chat/completions"),
        Some("sk-wrong-key"),
        &chat("gpt-test", false),
        &[],
    )
    .await;
    assert_eq!(refused.status(), 401);
    let control = reqwest::get(gw.url("/v1/models?secret=query"))
        .await
        .unwrap();
    assert_eq!(control.status(), 200);

    // (The harness's readiness checks of /health are logged too; they are not counted.)
    let mut log = Vec::new();
    wait_for("four access lines", Duration::from_secs(5), || {
        log = lines(&access);
        log.retain(|l| l["path"] != "/health");
        let n = log.len();
        async move { n >= 4 }
    })
    .await;
    assert_eq!(log.len(), 4, "{log:#?}");
    let by_id = |id: &str| {
        log.iter()
            .find(|l| l["request_id"] == id)
            .cloned()
            .expect(id)
    };

    let s = by_id(&streamed_id);
    assert_eq!(s["method"], "POST");
    assert_eq!(s["path"], "/v1/chat/completions");
    assert_eq!(s["status"], 200);
    assert_eq!(s["outcome"], "completed");
    assert_eq!(s["wallet"], WALLET);
    assert_eq!(s["key_id"], "key-a");
    assert_eq!(
        (
            s["model"].as_str(),
            s["provider"].as_str(),
            s["upstream_model"].as_str()
        ),
        (Some("gpt-test"), Some("oa"), Some("mock-gpt"))
    );
    assert_eq!(s["stream"], true);
    assert_eq!(
        (s["input_tokens"].as_u64(), s["output_tokens"].as_u64()),
        (Some(12), Some(5))
    );
    for bucket in [
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "cache_read_tokens",
    ] {
        assert_eq!(s[bucket], 0, "{bucket}");
    }
    // 12×1 + 5×2 = 22 provider; buyer ceil(22 / 0.7) = 32 micro-USDC.
    assert_eq!(
        (s["cost_usdc"].as_i64(), s["provider_cost_usdc"].as_i64()),
        (Some(32), Some(22))
    );
    assert_eq!(s["attempts"], 1);
    let (ttfb, ttft, latency) = (
        s["ttfb_ms"].as_u64().unwrap(),
        s["ttft_ms"].as_u64().unwrap(),
        s["latency_ms"].as_u64().unwrap(),
    );
    assert!(ttfb <= ttft && ttft <= latency, "{s}");
    assert!(
        s["time"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC: {s}"
    );
    assert_eq!(s["client"], "127.0.0.1");

    let p = by_id(plain["request_id"].as_str().unwrap());
    assert_eq!(
        (p["stream"].as_bool(), p["cost_usdc"].as_i64()),
        (Some(false), plain["buyer_cost_usdc"].as_i64())
    );
    // A JSON answer's first token is its whole body.
    assert!(p["ttft_ms"].as_u64().unwrap() >= p["ttfb_ms"].as_u64().unwrap());

    let r = log
        .iter()
        .find(|l| l["status"] == 401)
        .expect("the refused call");
    assert_eq!(
        (r["error"].as_str(), r["wallet"].as_str()),
        (Some("UNAUTHORIZED"), None)
    );
    assert!(r["request_id"]
        .as_str()
        .is_some_and(|i| i.starts_with("req_")));
    let c = log
        .iter()
        .find(|l| l["path"] == "/v1/models")
        .expect("the control-plane call");
    assert_eq!(
        (c["method"].as_str(), c["status"].as_u64()),
        (Some("GET"), Some(200))
    );

    let raw = std::fs::read_to_string(&access).unwrap();
    for secret in [
        "the secret plan",
        "tok tok",
        "sk-wrong-key",
        KEY,
        "upstream-secret",
        "secret=query",
        "query",
    ] {
        assert!(!raw.contains(secret), "{secret:?} in the access log");
    }
    let m = gw.metrics().await;
    assert_eq!(
        metric_value(&m, "tollgate_access_log_dropped_total", &[]),
        0.0
    );

    // log.format: json — every line of the process log is one object with a level.
    let plog = std::fs::read_to_string(&process).unwrap();
    assert!(plog.lines().count() > 3);
    for l in plog.lines() {
        let v: Value = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("process log line not JSON ({e}): {l}"));
        assert!(
            v["level"].is_string() && v["message"].is_string() && v["time"].is_string(),
            "{l}"
        );
    }
    let _ = std::fs::remove_file(&access);
    let _ = std::fs::remove_file(&process);
}

#[tokio::test]
async fn a_log_file_that_cannot_be_opened_stops_the_start() {
    let mock = Mock::start().await;
    let cfg = temp("bad-access.yaml");
    std::fs::write(
        &cfg,
        format!(
            "server: {{ listen: 127.0.0.1:{} }}\nbilling: {{ sink: memory }}\nlog: {{ access: /nonexistent-dir/access.log }}\nproviders:{}",
            free_port(),
            standard_providers(mock.addr)
        ),
    )
    .unwrap();
    let out = std::process::Command::new(tollgate_bin())
        .arg("-c")
        .arg(&cfg)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&cfg);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("log.access: cannot open /nonexistent-dir/access.log"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
