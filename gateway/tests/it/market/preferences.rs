//! A buyer's `provider` preferences choose among the providers of one public model:
//! `sort: price`, `only`, `ignore`, `order` with `allow_fallbacks: false`, `max_price`; the
//! member is removed before the call goes upstream.

use super::*;
use std::time::Duration;

#[tokio::test]
async fn preferences_filter_sort_and_refuse_and_are_not_forwarded() {
    let db = funded_db().await;
    let yaml_mock = Mock::start().await;
    let cheap_mock = Mock::start().await;
    let gw = node(&db, &yaml_mock, "").await;
    let pk = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    // The YAML provider `oa` sells gpt-test at $2 / $4; `cheap` at $0.5 / $1 but with a worse
    // priority, so without preferences `oa` is tried first.
    let mut up = upstream_body(&cheap_mock, "k");
    up["priority"] = json!(500);
    assert_eq!(
        put(&gw, "/v1/provider/upstreams/cheap", &pk, up).await.0,
        200
    );
    let (s, v) = put(
        &gw,
        "/v1/provider/models/gpt-test",
        &pk,
        model_body("cheap", "mock-gpt", "0.5", "1"),
    )
    .await;
    assert_eq!((s, &v["live"]), (200, &json!(true)), "{v}");
    wait_for("cheap listed", Duration::from_secs(2), || {
        lists(&gw, "gpt-test", "cheap")
    })
    .await;

    let (s, _, id) = chat(&gw, "gpt-test", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(
        logged(&db, &id).await.get::<_, String>(0),
        "oa",
        "priority first by default"
    );

    let (s, _, id) = chat(&gw, "gpt-test", json!({"provider": {"sort": "price"}})).await;
    assert_eq!(s, 200);
    assert_eq!(logged(&db, &id).await.get::<_, String>(0), "cheap");
    let forwarded: Value = serde_json::from_slice(&cheap_mock.last().body).unwrap();
    assert!(
        forwarded.get("provider").is_none(),
        "preferences are not forwarded: {forwarded}"
    );

    let (_, _, id) = chat(&gw, "gpt-test", json!({"provider": {"only": ["cheap"]}})).await;
    assert_eq!(logged(&db, &id).await.get::<_, String>(0), "cheap");
    let (_, _, id) = chat(&gw, "gpt-test", json!({"provider": {"ignore": ["oa"]}})).await;
    assert_eq!(logged(&db, &id).await.get::<_, String>(0), "cheap");
    let (_, _, id) = chat(
        &gw,
        "gpt-test",
        json!({"provider": {"order": ["cheap", "oa"]}}),
    )
    .await;
    assert_eq!(logged(&db, &id).await.get::<_, String>(0), "cheap");
    // max_price in buyer prices: $1 / 1M completion is $1.428572 to the buyer at a 70% share.
    let (_, _, id) = chat(
        &gw,
        "gpt-test",
        json!({"provider": {"max_price": {"completion": 2}}}),
    )
    .await;
    assert_eq!(logged(&db, &id).await.get::<_, String>(0), "cheap");

    for (prefs, needle) in [
        (json!({"max_price": {"completion": 1}}), "max_price"),
        (json!({"only": ["nobody"]}), "provider.only"),
        (json!({"ignore": ["oa", "cheap"]}), "provider.ignore"),
        (
            json!({"order": ["nobody"], "allow_fallbacks": false}),
            "allow_fallbacks",
        ),
        (json!({"sort": "vibes"}), "provider"),
        (json!({"colour": "red"}), "provider"),
        (json!("cheap"), "provider"),
    ] {
        let (s, v, _) = chat(&gw, "gpt-test", json!({"provider": prefs.clone()})).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{prefs}: {v}"
        );
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{prefs}: {v}"
        );
    }
}
