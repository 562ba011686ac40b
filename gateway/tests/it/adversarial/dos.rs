//! Finding 9: denial of service.
//!
//! (a) One wallet's streams that are never read cannot hold every settlement slot: a
//!     per-wallet in-flight cap refuses the excess, and a client that stops reading is cut
//!     off after `server.downstream_write_timeout`, freeing its slot.
//! (b) A SIWE nonce must look like one (not 60,000 characters), and the control plane is
//!     limited per client address.
//! (c) Junk bearer tokens are refused without a Postgres lookup, and made-up keys never evict
//!     real ones from the cache.
//! (d) A provider that is merely slow is not failed over: the request is generated (and billed
//!     to the gateway) once, not once per candidate.

use crate::common::ledger::*;
use crate::common::siwe::SiweMsg;
use crate::common::*;
use alloy::signers::local::PrivateKeySigner;
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

const VICTIM_KEY: &str = "sk-test-key-b";

fn providers(mock: std::net::SocketAddr) -> String {
    format!(
        "\n  - {{ id: pa, kind: openai, base_url: \"http://{mock}/v1\", models: [{{ id: m, pricing: {{ prompt: 0.01, completion: 0.01 }} }}] }}\n"
    )
}

/// A client that sends a streaming request for a huge answer and never reads a byte.
fn never_reading_stream(gw: &Gateway, key: &str) -> std::net::TcpStream {
    let body = json!({"model": "m", "stream": true, "max_tokens": 400000,
        "messages": [{"role": "user", "content": "go"}]})
    .to_string();
    let addr = gw.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nx-mock-output-tokens: 400000\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s
}

#[tokio::test]
async fn streams_that_are_never_read_cannot_hold_every_settlement_slot() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(providers(mock.addr));
    opts.billing = billing_yaml(&url, "  queue_capacity: 8\n");
    opts.extra = "limits:\n  max_in_flight_per_wallet: 4\n".into();
    opts.downstream_write_timeout = Some("2s");
    let gw = Gateway::start(opts).await;
    credit(&gw, WALLET, "5");
    credit(&gw, "0x00000000000000000000000000000000000000bb", "5");

    let stalled: Vec<_> = (0..8).map(|_| never_reading_stream(&gw, KEY)).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = gw.metrics().await;
    assert_eq!(
        metric_value(&m, "tollgate_rate_limited_total", &["wallet_in_flight"]),
        4.0,
        "four of the eight were refused: {m}"
    );
    // Another wallet is served meanwhile.
    let chat =
        json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let r = post_json(
        &gw.url("/v1/chat/completions"),
        Some(VICTIM_KEY),
        &chat,
        &[],
    )
    .await;
    assert_eq!(r.status(), 200, "the other wallet is not locked out");

    // The stalled clients are cut off after the write timeout; the wallet is served again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = post_json(&gw.url("/v1/chat/completions"), Some(KEY), &chat, &[]).await;
        if r.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled streams never released their slots"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(stalled);
}

#[tokio::test]
async fn siwe_nonces_are_short_and_the_control_plane_is_limited_per_client() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(providers(mock.addr));
    opts.billing = billing_yaml(&url, "");
    opts.public_url = Some(String::new());
    opts.extra =
        "chain:\n  chain_id: 31337\nlimits:\n  control_plane: { per_ip_per_minute: 6 }\n".into();
    let gw = Gateway::start(opts).await;
    let signer = PrivateKeySigner::random();
    let mut msg = SiweMsg::for_gateway(&signer, &gw.base, 31337);
    msg.nonce = "a".repeat(60_000);
    let (message, signature) = msg.signed(&signer);
    let r = reqwest::Client::new()
        .post(gw.url("/v1/auth/keys"))
        .json(&json!({"message": message, "signature": signature}))
        .send()
        .await
        .unwrap();
    let (status, _, text) = error_of(r).await;
    assert_eq!(status, 401);
    assert!(text.contains("nonce"), "{text}");

    // Six control-plane requests a minute from this address; the seventh is refused.
    let balance = gw.url(&format!("/v1/balance/{WALLET}"));
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(reqwest::get(&balance).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses[..5], [200; 5], "{statuses:?}");
    assert_eq!(statuses[6], 429, "{statuses:?}");
    // /health is never limited (load balancers poll it).
    assert_eq!(reqwest::get(gw.url("/health")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn junk_keys_cost_no_lookup_and_made_up_keys_never_evict_real_ones() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(providers(mock.addr));
    opts.billing = billing_yaml(&url, "");
    let gw = Gateway::start(opts).await;
    let chat =
        json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    for i in 0..200 {
        let junk = format!("junk-token-{i}");
        let r = post_json(&gw.url("/v1/chat/completions"), Some(&junk), &chat, &[]).await;
        assert_eq!(r.status(), 401);
    }
    let lookups = |m: &str| metric_value(m, "tollgate_api_key_lookups_total", &[]);
    assert_eq!(
        lookups(&gw.metrics().await),
        0.0,
        "junk never reaches Postgres"
    );

    // In the cache itself: a real key stays cached while made-up keys of the right shape
    // flood the (separate, smaller) unknown map.
    use tollgate_gateway::identity::{Authenticator, LedgerKeys};
    let ledger = tollgate_billing::ledger::Ledger::connect(&url, 2)
        .await
        .unwrap();
    let metrics = tollgate_gateway::metrics::Metrics::new();
    let keys = LedgerKeys::with_cache_limits(ledger.clone(), &metrics, 100, 10);
    let real = ledger.create_api_key(WALLET, "real").await.unwrap().key;
    assert!(keys.authenticate(&real).await.unwrap().is_some());
    for i in 0..50 {
        let made_up = format!("sk-{:064x}", i + 1);
        assert!(keys.authenticate(&made_up).await.unwrap().is_none());
    }
    let before = lookups(&String::from_utf8(metrics.render()).unwrap());
    assert!(keys.authenticate(&real).await.unwrap().is_some());
    let after = lookups(&String::from_utf8(metrics.render()).unwrap());
    assert_eq!(after, before, "the real key was still cached");
}

/// A key nobody has used on this node yet, used by many requests at once (a popular key after
/// a restart): one Postgres lookup, not one per request. The old code sent every miss to
/// Postgres; under load the pool ran dry and the rest were refused (CI saw 549 of 1,000).
#[tokio::test]
async fn a_cold_key_used_by_many_requests_at_once_is_looked_up_once() {
    use tollgate_gateway::identity::{Authenticator, LedgerKeys};
    let url = migrated_db().await;
    let ledger = tollgate_billing::ledger::Ledger::connect(&url, 2)
        .await
        .unwrap();
    let metrics = tollgate_gateway::metrics::Metrics::new();
    let keys = LedgerKeys::new(ledger.clone(), &metrics);
    let real = ledger.create_api_key(WALLET, "popular").await.unwrap().key;
    let answers = futures_util::future::join_all((0..200).map(|_| keys.authenticate(&real))).await;
    assert!(answers.iter().all(|a| matches!(a, Ok(Some(_)))));
    let rendered = String::from_utf8(metrics.render()).unwrap();
    assert_eq!(
        metric_value(&rendered, "tollgate_api_key_lookups_total", &[]),
        1.0
    );
}

#[tokio::test]
async fn a_slow_provider_is_not_failed_over_so_the_request_is_generated_once() {
    let mock = Mock::start().await;
    let providers = format!(
        "\n  - {{ id: first, kind: openai, base_url: \"http://{0}/v1\", priority: 1, models: [{{ id: m, pricing: {{ prompt: 1, completion: 1 }} }}] }}\n  - {{ id: second, kind: openai, base_url: \"http://{0}/v1\", priority: 2, models: [{{ id: m, pricing: {{ prompt: 1, completion: 1 }} }}] }}\n",
        mock.addr
    );
    let mut opts = GatewayOpts::new(providers);
    opts.first_byte_timeout = "1s";
    let gw = Gateway::start(opts).await;
    let chat = json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "a long answer"}]});
    let r = post_json(
        &gw.url("/v1/chat/completions"),
        Some(KEY),
        &chat,
        &[("x-mock-ttft-ms", "3000")],
    )
    .await;
    let (status, code, _) = error_of(r).await;
    assert_eq!((status, code.as_str()), (504, "UPSTREAM_TIMEOUT"));
    assert_eq!(mock.recorder.len(), 1, "one provider was asked, once");
}
