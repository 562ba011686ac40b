//! A provider's whole life on two nodes: join, list, get routed and billed at the listed
//! price, change the price, rotate the key, go offline — every change on both nodes within a
//! second, no restart.

use super::*;
use std::time::{Duration, Instant};

/// Wait until both nodes list (or, `want: false`, no longer list) `provider` for `model`;
/// the time it took.
async fn on_both(a: &Gateway, b: &Gateway, model: &str, provider: &str, want: bool) -> Duration {
    let t = Instant::now();
    wait_for(
        "the listing on both nodes",
        Duration::from_secs(5),
        || async {
            lists(a, model, provider).await == want && lists(b, model, provider).await == want
        },
    )
    .await;
    t.elapsed()
}

#[tokio::test]
async fn a_provider_joins_is_routed_and_billed_at_its_price_and_every_change_reaches_both_nodes() {
    let db = funded_db().await;
    let yaml_mock = Mock::start().await;
    let acme = Mock::start().await;
    let n1 = node(&db, &yaml_mock, "").await;
    let n2 = node(&db, &yaml_mock, "").await;
    let signer = PrivateKeySigner::random();
    let pk = provider_key(&n1, &signer, None).await;

    // Join: an upstream and a model, probed before they are live.
    let (s, v) = put(
        &n1,
        "/v1/provider/upstreams/acme",
        &pk,
        upstream_body(&acme, "acme-key-0001"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["created"], true);
    assert_eq!(v["api_key_last4"], "0001");
    assert!(
        !v.to_string().contains("acme-key-0001"),
        "the key is never returned: {v}"
    );
    let (s, v) = put(
        &n1,
        "/v1/provider/models/gpt-test",
        &pk,
        model_body("acme", "mock-gpt", "1", "3"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["live"], true, "{v}");
    let probe = acme.last();
    assert_eq!(probe.header("authorization"), Some("Bearer acme-key-0001"));
    let probed: Value = serde_json::from_slice(&probe.body).unwrap();
    assert_eq!(probed["max_tokens"], 1);
    let took = on_both(&n1, &n2, "gpt-test", "acme", true).await;
    eprintln!("propagation: listed on both nodes after {took:?}");
    assert!(took < Duration::from_secs(1), "listing took {took:?}");

    // Routed (pinned) on the other node, billed at the listed price: 12 input × $1 + 16
    // output × $3 per 1M tokens = 60 micro-USDC to the provider.
    let (s, v, id) = chat(&n2, "acme/gpt-test", json!({})).await;
    assert_eq!(s, 200, "{v}");
    let seen = acme.last();
    assert_eq!(seen.header("authorization"), Some("Bearer acme-key-0001"));
    let row = logged(&db, &id).await;
    assert_eq!(row.get::<_, String>(0), "acme");
    assert_eq!(row.get::<_, i64>(1), 60);
    assert_eq!(row.get::<_, i64>(2), 86, "ceil(60 / 0.70)");
    let first_price: i64 = row
        .get::<_, Option<i64>>(3)
        .expect("a marketplace row names its price");

    // A price change applies to the next request; the old row still re-derives its bill.
    let (s, v) = put(
        &n1,
        "/v1/provider/models/gpt-test",
        &pk,
        model_body("acme", "mock-gpt", "2", "5"),
    )
    .await;
    assert_eq!((s, &v["live"]), (200, &json!(true)), "{v}");
    let new_price = v["price_id"].as_i64().unwrap();
    assert_ne!(new_price, first_price);
    wait_for(
        "the new price on node 2",
        Duration::from_secs(2),
        || async {
            let v: Value = reqwest::get(n2.url("/v1/models"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v.to_string().contains("\"completion\":\"7.142858\"")
        },
    )
    .await;
    let (s, _, id2) = chat(&n2, "acme/gpt-test", json!({})).await;
    assert_eq!(s, 200);
    let row2 = logged(&db, &id2).await;
    assert_eq!(row2.get::<_, i64>(1), 12 * 2 + 16 * 5);
    assert_eq!(row2.get::<_, Option<i64>>(3), Some(new_price));
    let c = crate::common::pg::client(&db).await;
    let old = c
        .query_one(
            "SELECT prompt, completion FROM market_prices WHERE id = $1",
            &[&first_price],
        )
        .await
        .unwrap();
    let (p, q): (i64, i64) = (old.get(0), old.get(1));
    assert_eq!(
        (12 * p + 16 * q + 999_999) / 1_000_000,
        row.get::<_, i64>(1)
    );

    // Key rotation: the next request carries the new key; the database never holds it in clear.
    let (s, v) = put(
        &n1,
        "/v1/provider/upstreams/acme",
        &pk,
        upstream_body(&acme, "acme-key-0002"),
    )
    .await;
    assert_eq!((s, &v["created"]), (200, &json!(false)), "{v}");
    assert_eq!(
        v["models"][0]["live"], true,
        "re-probed with the new key: {v}"
    );
    // Every request served while waiting is billed; earnings below are read once all of
    // them have settled (reading sooner races the settlement batch, not the code).
    let served = std::cell::RefCell::new(Vec::new());
    wait_for(
        "the rotated key on node 2",
        Duration::from_secs(2),
        || async {
            let (s, _, id) = chat(&n2, "acme/gpt-test", json!({})).await;
            if s == 200 {
                served.borrow_mut().push(id);
            }
            s == 200 && acme.last().header("authorization") == Some("Bearer acme-key-0002")
        },
    )
    .await;
    for id in served.take() {
        logged(&db, &id).await;
    }
    let raw = c
        .query_one(
            "SELECT key_sealed, key_last4, key_master_id FROM market_upstreams WHERE id = 'acme'",
            &[],
        )
        .await
        .unwrap();
    let sealed: Vec<u8> = raw.get(0);
    assert!(
        !sealed.windows(8).any(|w| w == b"key-0002"),
        "sealed, not clear"
    );
    assert_eq!(raw.get::<_, String>(1), "0002");
    let dump = c
        .query_one(
            "SELECT string_agg(t::text, ' ') FROM market_upstreams t",
            &[],
        )
        .await
        .unwrap();
    assert!(
        !dump.get::<_, String>(0).contains("acme-key"),
        "no clear key in any column"
    );

    // Offline: new requests are refused on both nodes within a second.
    let mut off = model_body("acme", "mock-gpt", "2", "5");
    off["enabled"] = json!(false);
    let (s, v) = put(&n1, "/v1/provider/models/gpt-test", &pk, off).await;
    assert_eq!((s, &v["live"]), (200, &json!(false)), "{v}");
    let took = on_both(&n1, &n2, "gpt-test", "acme", false).await;
    eprintln!("propagation: unlisted on both nodes after {took:?}");
    assert!(took < Duration::from_secs(1), "unlisting took {took:?}");
    let (s, v, _) = chat(&n2, "acme/gpt-test", json!({})).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("VALIDATION_ERROR")),
        "{v}"
    );
    // The YAML provider still serves the public id.
    assert_eq!(chat(&n2, "gpt-test", json!({})).await.0, 200);

    // Status and earnings, with the provider key.
    let (s, v) = call(&n1, reqwest::Method::GET, "/v1/provider/status", &pk, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["upstreams"][0]["id"], "acme");
    assert_eq!(v["upstreams"][0]["models"][0]["status"], "disabled");
    assert!(!v.to_string().contains("acme-key"), "{v}");
    let (s, v) = call(&n1, reqwest::Method::GET, "/provider/earnings", &pk, None).await;
    assert_eq!(s, 200, "{v}");
    let daily = v["daily"].as_array().unwrap();
    let acme_day = daily
        .iter()
        .find(|d| d["provider"] == "acme" && d["model"] == "gpt-test")
        .expect("a day row");
    let logged_sum = c
        .query_one(
            "SELECT COUNT(*), SUM(provider_cost)::INT8 FROM request_log WHERE provider = 'acme'",
            &[],
        )
        .await
        .unwrap();
    let (n, earned): (i64, i64) = (logged_sum.get(0), logged_sum.get(1));
    assert!(n >= 3, "{n}");
    assert_eq!(acme_day["requests"], n, "{v}");
    assert_eq!(acme_day["earned_usdc"], earned, "{v}");
    assert_eq!(v["data"][0]["provider"], "acme");
    assert_eq!(v["data"][0]["pending_usdc"], earned);
    ledger_check(&n1);

    // Public marketplace view: the YAML provider, no private data.
    wait_for(
        "the YAML provider's request in the marketplace view",
        Duration::from_secs(5),
        || async {
            let m: Value = reqwest::get(n2.url("/v1/marketplace"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let text = m.to_string();
            assert!(
                !text.contains("acme-key") && !text.contains("yaml-secret"),
                "{m}"
            );
            let oa = m["providers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == "oa")
                .cloned()
                .unwrap();
            oa["last_24h"]["requests"] == 1 && oa["last_24h"]["success_rate"] == 1.0
        },
    )
    .await;
}

#[tokio::test]
async fn a_model_whose_answers_carry_no_usage_is_never_listed() {
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(&db, &mock, "").await;
    let pk = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    assert_eq!(
        put(
            &gw,
            "/v1/provider/upstreams/quiet",
            &pk,
            upstream_body(&mock, "k")
        )
        .await
        .0,
        200
    );
    let (s, v) = put(
        &gw,
        "/v1/provider/models/silent",
        &pk,
        model_body("quiet", "mock-gpt@omit_usage=1", "1", "1"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["live"], false);
    assert!(v["status"].as_str().unwrap().contains("no usage"), "{v}");
    let (s, v) = put(
        &gw,
        "/v1/provider/models/failing",
        &pk,
        model_body("quiet", "mock-gpt@status=500", "1", "1"),
    )
    .await;
    assert_eq!((s, &v["live"]), (200, &json!(false)));
    assert!(v["status"].as_str().unwrap().contains("500"), "{v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!lists(&gw, "silent", "quiet").await && !lists(&gw, "failing", "quiet").await);
    assert_eq!(chat(&gw, "silent", json!({})).await.0, 400);
}

#[tokio::test]
async fn a_stream_in_flight_when_its_model_goes_offline_finishes_and_is_billed() {
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(&db, &mock, "").await;
    let pk = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    assert_eq!(
        put(
            &gw,
            "/v1/provider/upstreams/slow",
            &pk,
            upstream_body(&mock, "k")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        put(
            &gw,
            "/v1/provider/models/sm",
            &pk,
            model_body("slow", "mock-gpt", "1", "1")
        )
        .await
        .1["live"],
        true
    );
    wait_for("sm listed", Duration::from_secs(2), || {
        lists(&gw, "sm", "slow")
    })
    .await;
    // 16 tokens, 60 ms apart: about a second of stream.
    let resp = gw
        .post(
            "/v1/chat/completions",
            &json!({"model": "sm", "max_tokens": 16, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
            &[("x-mock-inter-token-ms", "60")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let (s, v) = call(
        &gw,
        reqwest::Method::DELETE,
        "/v1/provider/upstreams/slow",
        &pk,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    wait_for("sm unlisted", Duration::from_secs(2), || async {
        !lists(&gw, "sm", "slow").await
    })
    .await;
    let text = resp.text().await.unwrap();
    assert!(
        text.trim_end().ends_with("data: [DONE]"),
        "the stream finished: {text}"
    );
    let row = logged(&db, &id).await;
    assert_eq!(row.get::<_, String>(0), "slow");
    assert_eq!(
        (row.get::<_, i64>(4), row.get::<_, i64>(5)),
        (12, 16),
        "billed in full"
    );
    // New requests are refused.
    assert_eq!(chat(&gw, "sm", json!({})).await.0, 400);
}
