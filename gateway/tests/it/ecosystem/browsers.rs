//! CORS on the wire (the real-browser test is `tests/browser/`): preflights, and the headers
//! on every kind of answer to an allowed origin — proxied (stream and not), control plane,
//! the gateway's own errors — and none for another origin.

use super::*;

const APP: &str = "http://app.example:5173";

async fn cors_gateway(mock: &Mock) -> Gateway {
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.server = format!("  cors: {{ origins: [\"{APP}\"], max_age: 90s }}\n");
    opts.extra = "limits:\n  requests_per_minute: 1000\n".into();
    Gateway::start(opts).await
}

fn preflight(gw: &Gateway, path: &str, origin: &str, headers: &str) -> reqwest::RequestBuilder {
    client()
        .request(reqwest::Method::OPTIONS, gw.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
}

fn assert_cors(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    assert_eq!(h.get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some(APP), "{what}");
    let exposed = h["access-control-expose-headers"].to_str().unwrap();
    for name in ["x-request-id", "x-ratelimit-remaining-requests", "retry-after", "payment-required"] {
        assert!(exposed.contains(name), "{what}: {name} not exposed");
    }
    assert!(h.get_all("vary").iter().any(|v| v == "origin"), "{what}: no Vary: origin");
    assert!(h.get("access-control-allow-credentials").is_none(), "{what}");
}

#[tokio::test]
async fn preflights_name_what_an_sdk_may_send() {
    let mock = Mock::start().await;
    let gw = cors_gateway(&mock).await;
    let asked = "authorization, content-type, x-stainless-os, x-stainless-retry-count, anthropic-dangerous-direct-browser-access, x-secret";
    let r = preflight(&gw, "/v1/chat/completions", APP, asked).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_cors(&r, "preflight");
    let h = r.headers();
    assert_eq!(h["access-control-allow-methods"], "POST");
    assert_eq!(h["access-control-max-age"], "90");
    assert_eq!(
        h["access-control-allow-headers"],
        "authorization, content-type, x-stainless-os, x-stainless-retry-count, anthropic-dangerous-direct-browser-access",
        "x-secret is not allowed, so the browser refuses a call that sends it"
    );
    let r = preflight(&gw, "/v1/auth/keys", APP, "content-type").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-methods"], "GET, POST");
    assert_eq!(mock.recorder.requests().len(), 0, "a preflight never reaches a provider");

    let r = preflight(&gw, "/v1/chat/completions", "https://evil.example", "authorization").send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_eq!(error_of(r).await.1, "FORBIDDEN");
    let r = preflight(&gw, "/v1/nothing", APP, "").send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn every_answer_to_an_allowed_origin_carries_cors_headers() {
    let mock = Mock::start().await;
    let gw = cors_gateway(&mock).await;
    let c = client();
    let call = |body: Value, key: &'static str, origin: &'static str| {
        c.post(gw.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header("origin", origin)
            .json(&body)
            .send()
    };
    for stream in [false, true] {
        let r = call(chat(stream), KEY, APP).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_cors(&r, "chat");
        assert!(r.headers().contains_key("x-ratelimit-remaining-requests"));
        let _ = r.bytes().await;
    }
    let r = call(chat(false), "sk-wrong", APP).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_cors(&r, "401 from admission");
    let r = c.get(gw.url("/v1/models")).header("origin", APP).send().await.unwrap();
    assert_cors(&r, "control plane");
    let r = c.get(gw.url("/v1/nothing")).header("origin", APP).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_cors(&r, "404 refusal");
    let r = c.put(gw.url("/v1/models")).header("origin", APP).send().await.unwrap();
    assert_cors(&r, "405 refusal");

    let r = call(chat(false), KEY, "https://evil.example").await.unwrap();
    assert_eq!(r.status(), 200, "served: only the browser withholds the answer");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(r.headers().get_all("vary").iter().any(|v| v == "origin"));
}

#[tokio::test]
async fn without_server_cors_no_origin_is_allowed() {
    let mock = Mock::start().await;
    let gw = gateway_with(&mock, "").await;
    let r = preflight(&gw, "/v1/chat/completions", APP, "authorization").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = client().get(gw.url("/v1/models")).header("origin", APP).send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(r.headers().get("vary").is_none());
}
