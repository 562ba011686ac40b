//! What schemathesis found against `docs/openapi.yaml` (`tests/sdk/test_openapi_contract.py`),
//! one test per finding, each failing on the code before its fix.

use super::*;
use crate::common::ledger::{billing_yaml, migrated_db};

async fn ledger_gateway(mock: &Mock) -> Gateway {
    let url = migrated_db().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.billing = billing_yaml(&url, "");
    Gateway::start(opts).await
}

/// `since` is documented as an RFC 3339 date-time. The gateway passed the text to Postgres,
/// which refuses offsets beyond ±15:59 and years before 4713 BC or 0000: valid RFC 3339 times
/// were answered 400 "is not a time". They are now read in Rust and sent to Postgres in UTC.
#[tokio::test]
async fn every_rfc3339_since_is_a_time() {
    let mock = Mock::start().await;
    let gw = ledger_gateway(&mock).await;
    for since in [
        "2026-06-04T23:24:32.29347-17:36",
        "0000-01-01T00:00:00Z",
        "2026-12-01t00:00:00z",
        "9999-12-31T23:59:59.999999999+23:59",
    ] {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("since", since)
            .finish();
        let r = reqwest::get(gw.url(&format!("/v1/health/history?{q}"))).await.unwrap();
        assert_eq!(r.status(), 200, "{since}: {}", r.text().await.unwrap());
    }
    let r = reqwest::get(gw.url("/v1/health/history?since=yesterday")).await.unwrap();
    assert_eq!(error_of(r).await.1, "VALIDATION_ERROR");
}

/// A client that sends back an absent `next_cursor` as `cursor=` asks for the first page
/// (it was a 400 "invalid cursor" on `/v1/requests` and on `/v1/health/history`).
#[tokio::test]
async fn an_empty_cursor_is_the_first_page() {
    let mock = Mock::start().await;
    let gw = ledger_gateway(&mock).await;
    let r = client()
        .get(gw.url("/v1/requests?cursor=&limit=5"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = reqwest::get(gw.url("/v1/health/history?cursor=")).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// `limit` of `/v1/requests` is documented as 1..200; 0 and 201 were clamped silently (and
/// `/v1/health/history` refuses them): now 400 on both.
#[tokio::test]
async fn a_limit_out_of_range_is_refused() {
    let mock = Mock::start().await;
    let gw = ledger_gateway(&mock).await;
    for limit in ["0", "201", "-1"] {
        let r = client()
            .get(gw.url(&format!("/v1/requests?limit={limit}")))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r).await.1, "VALIDATION_ERROR", "limit={limit}");
    }
    let r = client().get(gw.url("/v1/requests?limit=200")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// JSON Schema's `integer` is any whole number, `100.0` too (Python's `json` writes floats
/// so): the listing bodies answered 400 "must be an integer" to `"priority": 100.0`.
#[tokio::test]
async fn whole_numbers_written_as_floats_are_integers() {
    use crate::market::{node, put, upstream_body};
    let mock = Mock::start().await;
    let gw = node(&migrated_db().await, &mock, "").await;
    let provider = alloy::signers::local::PrivateKeySigner::random();
    let key = crate::market::provider_key(&gw, &provider, None).await;
    let mut body = upstream_body(&mock, "acme-key");
    body["priority"] = json!(100.0);
    let (status, v) = put(&gw, "/v1/provider/upstreams/acme", &key, body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["priority"], 100);
    let model = json!({"upstream": "acme", "context_length": 8192.0,
                       "pricing": {"prompt": 1, "completion": 2}});
    let (status, v) = put(&gw, "/v1/provider/models/mock-gpt", &key, model).await;
    assert_eq!(status, 200, "{v}");
    let mut body = upstream_body(&mock, "acme-key");
    body["priority"] = json!(100.5);
    let (status, v) = put(&gw, "/v1/provider/upstreams/acme", &key, body).await;
    assert_eq!((status, &v["error"]), (400, &json!("VALIDATION_ERROR")), "{v}");
}
