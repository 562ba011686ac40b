//! Trust between strangers: provider keys and buyer keys never cross, a provider's
//! `base_url` cannot reach into the gateway's network, bad listings get a 400 naming the
//! field, ids stay their owners', and a probe's verdict lands only on what it probed.

use super::*;

#[tokio::test]
async fn provider_keys_manage_listings_only_and_buyer_keys_never_do() {
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(&db, &mock, "").await;
    let signer = PrivateKeySigner::random();
    let pk = provider_key(&gw, &signer, None).await;
    let reader = provider_key(&gw, &signer, Some(&["earnings:read"])).await;

    // A provider key on the LLM endpoint: 401 that says why.
    let r = post_json(
        &gw.url("/v1/chat/completions"),
        Some(&pk),
        &json!({"model": "gpt-test", "max_tokens": 4, "messages": []}),
        &[],
    )
    .await;
    let (s, code, msg) = error_of(r).await;
    assert_eq!((s, code.as_str()), (401, "UNAUTHORIZED"));
    assert!(msg.contains("provider key"), "{msg}");
    // A buyer key on the listing endpoints: 403.
    let (s, v) = put(
        &gw,
        "/v1/provider/upstreams/x1",
        KEY,
        upstream_body(&mock, "k"),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (403, Some("FORBIDDEN")), "{v}");
    // A key without the scope: 403 naming it; no key at all: 401.
    let (s, v) = put(
        &gw,
        "/v1/provider/upstreams/x1",
        &reader,
        upstream_body(&mock, "k"),
    )
    .await;
    assert_eq!(s, 403);
    assert!(
        v["message"].as_str().unwrap().contains("models:write"),
        "{v}"
    );
    let r = client()
        .put(gw.url("/v1/provider/upstreams/x1"))
        .json(&upstream_body(&mock, "k"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let made_up = format!("pk-{}", "ab".repeat(32));
    assert_eq!(
        put(
            &gw,
            "/v1/provider/upstreams/x1",
            &made_up,
            upstream_body(&mock, "k")
        )
        .await
        .0,
        401
    );

    // Revocation: the next call on any node is refused (no cache).
    let (message, signature) = SiweMsg::for_gateway(&signer, &gw.base, CHAIN_ID).signed(&signer);
    let list: Value = client()
        .get(gw.url("/v1/provider/keys"))
        .query(&[("message", &message), ("signature", &signature)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = list["data"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(!list.to_string().contains(&pk), "keys are never listed");
    let id = keys[0]["id"].as_str().unwrap();
    assert_eq!(
        keys[0]["scopes"],
        json!(["models:write", "earnings:read", "status:read"])
    );
    let (message, signature) = SiweMsg::for_gateway(&signer, &gw.base, CHAIN_ID).signed(&signer);
    let r = client()
        .delete(gw.url(&format!("/v1/provider/keys/{id}")))
        .json(&json!({"message": message, "signature": signature}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        put(
            &gw,
            "/v1/provider/upstreams/x1",
            &pk,
            upstream_body(&mock, "k")
        )
        .await
        .0,
        401
    );
}

#[tokio::test]
async fn listings_that_cannot_be_honoured_get_a_400_or_409_naming_why() {
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(&db, &mock, "").await;
    let pk = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    let other = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    let base = format!("http://{}/v1", mock.addr);
    for (body, field) in [
        (json!({"kind": "gemini", "base_url": base}), "kind"),
        (json!({"kind": "openai"}), "base_url"),
        (
            json!({"kind": "openai", "base_url": "ftp://example.com"}),
            "base_url",
        ),
        (
            json!({"kind": "openai", "base_url": base, "priority": -1}),
            "priority",
        ),
        (
            json!({"kind": "openai", "base_url": base, "colour": "red"}),
            "colour",
        ),
        (
            json!({"kind": "openai", "base_url": base, "api_key": 7}),
            "api_key",
        ),
    ] {
        let (s, v) = put(&gw, "/v1/provider/upstreams/good-id", &pk, body.clone()).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{body}: {v}"
        );
        assert!(
            v["message"].as_str().unwrap().starts_with(field),
            "{body}: {v}"
        );
    }
    let (s, v) = put(
        &gw,
        "/v1/provider/upstreams/bad%20id",
        &pk,
        upstream_body(&mock, "k"),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    // The config file's provider ids are the operator's; a taken id is another wallet's.
    let (s, v) = put(
        &gw,
        "/v1/provider/upstreams/oa",
        &pk,
        upstream_body(&mock, "k"),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (409, Some("CONFLICT")), "{v}");
    assert_eq!(
        put(
            &gw,
            "/v1/provider/upstreams/mine",
            &pk,
            upstream_body(&mock, "k")
        )
        .await
        .0,
        200
    );
    let (s, v) = put(
        &gw,
        "/v1/provider/upstreams/mine",
        &other,
        upstream_body(&mock, "k"),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (409, Some("CONFLICT")), "{v}");
    let (s, v) = put(
        &gw,
        "/v1/provider/models/m",
        &other,
        model_body("mine", "mock-gpt", "1", "1"),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (409, Some("CONFLICT")), "{v}");

    let mut no_price = model_body("mine", "mock-gpt", "1", "1");
    no_price["pricing"] = json!({"completion": "1"});
    let mut bad_price = model_body("mine", "mock-gpt", "1", "1");
    bad_price["pricing"]["prompt"] = json!("0.0000001");
    let mut negative = model_body("mine", "mock-gpt", "1", "1");
    negative["pricing"]["completion"] = json!(-2);
    let mut modality = model_body("mine", "mock-gpt", "1", "1");
    modality["input_modalities"] = json!(["smell"]);
    for (body, field) in [
        (model_body("ghost", "mock-gpt", "1", "1"), "upstream"),
        (no_price, "pricing.prompt"),
        (bad_price, "pricing.prompt"),
        (negative, "pricing.completion"),
        (modality, "input_modalities"),
        (json!({"upstream": "mine"}), "pricing"),
    ] {
        let (s, v) = put(&gw, "/v1/provider/models/m", &pk, body.clone()).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{body}: {v}"
        );
        assert!(
            v["message"].as_str().unwrap().starts_with(field),
            "{body}: {v}"
        );
    }
    // Found by review: a model id that reads as another provider's pin, and a price beyond
    // any real one (which could wrap a charge).
    let (s, v) = put(
        &gw,
        "/v1/provider/models/oa%2Fgpt-test",
        &pk,
        model_body("mine", "mock-gpt", "1", "1"),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("pin"), "{v}");
    let (s, v) = put(
        &gw,
        "/v1/provider/models/m",
        &pk,
        model_body("mine", "mock-gpt", "2000000", "1"),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().starts_with("pricing.prompt"),
        "{v}"
    );
    let r = client()
        .put(gw.url("/v1/provider/models/m"))
        .bearer_auth(&pk)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Nothing half-written: the catalog has no `m`.
    assert!(!lists(&gw, "m", "mine").await);
}

#[tokio::test]
async fn upstreams_inside_the_gateways_network_are_refused_unless_allowed() {
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(&db, &mock, "  allow_private_upstreams: false\n").await;
    let pk = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    for url in [
        format!("http://{}/v1", mock.addr),
        "http://10.0.0.1/v1".to_string(),
        "http://169.254.169.254/latest".to_string(),
        "http://[::1]:8080/v1".to_string(),
        "http://[::ffff:127.0.0.1]/v1".to_string(),
        format!("http://localhost:{}/v1", mock.addr.port()),
        "http://0.0.0.0/v1".to_string(),
    ] {
        let (s, v) = put(
            &gw,
            "/v1/provider/upstreams/inside",
            &pk,
            json!({"kind": "openai", "base_url": url}),
        )
        .await;
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{url}: {v}"
        );
        let m = v["message"].as_str().unwrap();
        assert!(
            m.starts_with("base_url") && m.contains("public"),
            "{url}: {m}"
        );
    }
    assert!(
        mock.recorder.requests().is_empty(),
        "nothing was sent inside"
    );
}

#[tokio::test]
async fn a_deleted_upstream_id_and_its_earnings_stay_its_owners() {
    // Found by review: deleting freed the id, and the next wallet to take it inherited the
    // unpaid earnings and the payouts of that provider account.
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(&db, &mock, "").await;
    let owner = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    let thief = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    assert_eq!(
        put(
            &gw,
            "/v1/provider/upstreams/fastllm",
            &owner,
            upstream_body(&mock, "k")
        )
        .await
        .0,
        200
    );
    let (s, v) = call(
        &gw,
        reqwest::Method::DELETE,
        "/v1/provider/upstreams/fastllm",
        &owner,
        None,
    )
    .await;
    assert_eq!((s, &v["deleted"]), (200, &json!(true)), "{v}");
    let (s, v) = put(
        &gw,
        "/v1/provider/upstreams/fastllm",
        &thief,
        upstream_body(&mock, "k"),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (409, Some("CONFLICT")), "{v}");
    let c = crate::common::pg::client(&db).await;
    let row = c
        .query_one(
            "SELECT enabled, key_sealed IS NULL FROM market_upstreams WHERE id = 'fastllm'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, bool>(0), row.get::<_, bool>(1)),
        (false, true),
        "offline, key erased"
    );
    // Its owner may bring it back.
    assert_eq!(
        put(
            &gw,
            "/v1/provider/upstreams/fastllm",
            &owner,
            upstream_body(&mock, "k")
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn a_probe_verdict_only_lands_on_the_revision_it_probed() {
    // Found by review: the verdict was keyed by price row, so a re-PUT that kept the price
    // but changed the upstream could be marked live by the older probe.
    let db = migrated_db().await;
    let ledger = tollgate_billing::ledger::Ledger::connect(&db, 2)
        .await
        .unwrap();
    let owner = "0x00000000000000000000000000000000000000ab";
    let up = tollgate_billing::ledger::market::UpstreamRow {
        id: "rev".into(),
        owner: owner.into(),
        kind: "openai".into(),
        base_url: "http://127.0.0.1:1/v1".into(),
        priority: 100,
        key_sealed: None,
        key_master_id: None,
        key_last4: None,
        enabled: true,
        suspended_reason: None,
    };
    ledger.put_upstream(&up).await.unwrap().unwrap();
    let model = tollgate_billing::ledger::market::ModelRow {
        upstream_id: "rev".into(),
        id: "m".into(),
        upstream_model: "m".into(),
        display_name: "m".into(),
        context_length: 0,
        input_modalities: vec!["text".into()],
        output_modalities: vec!["text".into()],
        enabled: true,
        live: false,
        status: "probing".into(),
        price_id: 0,
        prices: Default::default(),
        revision: 0,
    };
    let (_, first) = ledger.put_model(owner, &model).await.unwrap().unwrap();
    // The upstream changes (same price) while the first probe runs.
    ledger.put_upstream(&up).await.unwrap().unwrap();
    assert!(!ledger
        .set_model_live("rev", "m", first, true, "live")
        .await
        .unwrap());
    let (_, models) = ledger.market().await.unwrap();
    assert!(!models[0].live, "the stale verdict did not land");
    assert!(ledger
        .set_model_live("rev", "m", models[0].revision, true, "live")
        .await
        .unwrap());
}
