//! API keys over Sign-In with Ethereum against the real gateway and Postgres: create, list,
//! use, revoke (on every node within a second), and a clear 401 for every bad SIWE input.

use crate::common::ledger::*;
use crate::common::siwe::SiweMsg;
use crate::common::*;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CHAIN_ID: u64 = 31337;

fn providers(mock: std::net::SocketAddr) -> String {
    format!(
        r#"
  - {{ id: pa, kind: openai, base_url: "http://{mock}/v1", models: [{{ id: m, pricing: {{ prompt: 1, completion: 2 }} }}] }}
  - {{ id: pb, kind: anthropic, base_url: "http://{mock}", models: [{{ id: c, pricing: {{ prompt: 1, completion: 2 }} }}] }}
"#
    )
}

async fn gateway_on(url: &str, mock: &Mock) -> Gateway {
    gateway_with(url, mock, None, "").await
}

/// A gateway whose public URL is `public_url` (default: its own address), plus `extra` YAML.
async fn gateway_with(url: &str, mock: &Mock, public_url: Option<&str>, extra: &str) -> Gateway {
    let mut opts = GatewayOpts::new(providers(mock.addr));
    opts.billing = billing_yaml(url, "");
    opts.public_url = Some(public_url.unwrap_or("").to_string());
    opts.extra = format!("chain: {{ chain_id: {CHAIN_ID} }}\n{extra}");
    Gateway::start(opts).await
}

/// A fresh SIWE pair for `gw`.
fn siwe(gw: &Gateway, s: &PrivateKeySigner) -> (String, String) {
    SiweMsg::for_gateway(s, &gw.base, CHAIN_ID).signed(s)
}

async fn create_key_over_siwe(gw: &Gateway, s: &PrivateKeySigner, label: &str) -> Value {
    let (message, signature) = siwe(gw, s);
    let r = reqwest::Client::new()
        .post(gw.url("/v1/auth/keys"))
        .json(&json!({"message": message, "signature": signature, "label": label}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// `POST /v1/auth/keys` with a SIWE body.
async fn post_siwe(gw: &Gateway, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(gw.url("/v1/auth/keys"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn list_keys(gw: &Gateway, s: &PrivateKeySigner) -> Value {
    let (message, signature) = siwe(gw, s);
    let r = reqwest::Client::new()
        .get(gw.url("/v1/auth/keys"))
        .query(&[("message", &message), ("signature", &signature)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn revoke(gw: &Gateway, s: &PrivateKeySigner, id: &str) -> reqwest::Response {
    let (message, signature) = siwe(gw, s);
    reqwest::Client::new()
        .delete(gw.url(&format!("/v1/auth/keys/{id}")))
        .json(&json!({"message": message, "signature": signature}))
        .send()
        .await
        .unwrap()
}

/// Status of one chat call with `key`, sent as a Bearer token or as `x-api-key`.
async fn call_status(gw: &Gateway, key: &str, bearer: bool) -> u16 {
    let body =
        json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let req = reqwest::Client::new().post(gw.url("/v1/chat/completions"));
    let req = if bearer {
        req.bearer_auth(key)
    } else {
        req.header("x-api-key", key)
    };
    req.json(&body).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn keys_are_created_listed_used_and_revoked_over_siwe() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &mock).await;
    let signer = PrivateKeySigner::random();
    let wallet = wallet_of(&signer);
    credit(&gw, &wallet, "1");

    // A server nonce is on offer for clients that want one.
    let n: Value = reqwest::Client::new()
        .post(gw.url("/v1/auth/nonce"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(n["nonce"].as_str().unwrap().len() >= 8);

    let k = create_key_over_siwe(&gw, &signer, "laptop").await;
    let key = k["key"].as_str().unwrap();
    let id = k["id"].as_str().unwrap();
    assert!(key.starts_with("sk-") && key.len() == 67, "{k}");
    assert_eq!(k["label"], "laptop");
    assert!(k["created_at"].as_str().unwrap().ends_with('Z'));

    // Both header styles, both APIs' conventions.
    assert_eq!(call_status(&gw, key, true).await, 200);
    assert_eq!(call_status(&gw, key, false).await, 200);

    let listed = list_keys(&gw, &signer).await;
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], id);
    assert_eq!(data[0]["revoked_at"], Value::Null);
    assert!(
        data[0].get("key").is_none(),
        "the key itself is never listed"
    );

    // Only the SHA-256 is stored.
    let c = pg::client(&url).await;
    let stored: Vec<u8> = c
        .query_one("SELECT key_hash FROM api_keys WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored.len(), 32);
    assert!(!format!(
        "{:?}",
        c.query("SELECT * FROM api_keys", &[]).await.unwrap()
    )
    .contains(&key[3..]));

    let r = revoke(&gw, &signer, id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["revoked"], true);
    assert_eq!(call_status(&gw, key, true).await, 401);
    assert_eq!(call_status(&gw, key, false).await, 401);
    let listed = list_keys(&gw, &signer).await;
    assert!(listed["data"][0]["revoked_at"].is_string());

    // A revoked key and a key that never existed get the same answer.
    let unknown = format!("sk-{}", "0".repeat(64));
    let a = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let b = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&unknown)
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(a, b);

    // Another wallet cannot revoke this wallet's keys, and learns nothing about them.
    let k2 = create_key_over_siwe(&gw, &signer, "second").await;
    let other = PrivateKeySigner::random();
    let (status, code, _) = error_of(revoke(&gw, &other, k2["id"].as_str().unwrap()).await).await;
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
    assert_eq!(
        call_status(&gw, k2["key"].as_str().unwrap(), true).await,
        200
    );
    ledger_check(&gw);
}

#[tokio::test]
async fn a_revoked_key_stops_working_on_every_node_within_a_second() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let a = gateway_on(&url, &mock).await;
    let b = gateway_on(&url, &mock).await;
    let signer = PrivateKeySigner::random();
    credit(&a, &wallet_of(&signer), "1");
    let k = create_key_over_siwe(&a, &signer, "fleet").await;
    let key = k["key"].as_str().unwrap().to_string();
    // Both nodes look the key up once, then trust their cache — past the 1 s that an
    // unwatched cache entry would live — because the revocation feed keeps it honest.
    for gw in [&a, &b] {
        assert_eq!(call_status(gw, &key, true).await, 200);
    }
    let before = [key_lookups(&a).await, key_lookups(&b).await];
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for gw in [&a, &b] {
        for _ in 0..3 {
            assert_eq!(call_status(gw, &key, true).await, 200);
        }
    }
    assert_eq!(
        [key_lookups(&a).await, key_lookups(&b).await],
        before,
        "the cached key was looked up again"
    );

    let r = revoke(&a, &signer, k["id"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let revoked_at = Instant::now();
    for gw in [&a, &b] {
        loop {
            let status = call_status(gw, &key, true).await;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "{} still accepts the revoked key after 1 s",
                gw.base
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // And it stays revoked (no stale cache entry comes back).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(call_status(&a, &key, false).await, 401);
    assert_eq!(call_status(&b, &key, false).await, 401);
}

#[tokio::test]
async fn with_redis_a_siwe_message_is_accepted_once_across_the_fleet() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    // Two nodes behind one public name share Redis for spent nonces.
    let public = format!("http://127.0.0.1:{}", free_port());
    let redis = crate::common::redis::redis_yaml(
        &crate::common::redis::shared_redis(),
        &crate::common::redis::unique_prefix(),
    );
    let a = gateway_with(&url, &mock, Some(&public), &redis).await;
    let b = gateway_with(&url, &mock, Some(&public), &redis).await;
    let s = PrivateKeySigner::random();
    let (message, signature) = SiweMsg::for_gateway(&s, &public, CHAIN_ID).signed(&s);
    let body = json!({"message": message, "signature": signature});
    assert_eq!(post_siwe(&a, &body).await.status(), 201);
    let (status, _, message) = error_of(post_siwe(&b, &body).await).await;
    assert_eq!(status, 401, "{message}");
    assert!(message.contains("nonce was already used"), "{message}");
}

/// Finding 10: without Redis the spent nonces lived in each node's memory, so a message
/// captured on its way to node A could be replayed on node B. They are in Postgres now.
#[tokio::test]
async fn without_redis_a_siwe_message_is_accepted_once_across_the_fleet() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let public = format!("http://127.0.0.1:{}", free_port());
    let a = gateway_with(&url, &mock, Some(&public), "").await;
    let b = gateway_with(&url, &mock, Some(&public), "").await;
    let s = PrivateKeySigner::random();
    let (message, signature) = SiweMsg::for_gateway(&s, &public, CHAIN_ID).signed(&s);
    let body = json!({"message": message, "signature": signature});
    assert_eq!(post_siwe(&a, &body).await.status(), 201);
    for gw in [&b, &a] {
        let (status, _, message) = error_of(post_siwe(gw, &body).await).await;
        assert_eq!(status, 401, "{message}");
        assert!(message.contains("nonce was already used"), "{message}");
    }
    // A fresh message still works on B.
    let (message, signature) = SiweMsg::for_gateway(&s, &public, CHAIN_ID).signed(&s);
    let fresh = json!({"message": message, "signature": signature});
    assert_eq!(post_siwe(&b, &fresh).await.status(), 201);
}

#[tokio::test]
async fn every_bad_siwe_input_gets_a_401_that_names_the_check() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &mock).await;
    let s = PrivateKeySigner::random();
    let post = |body: Value| {
        reqwest::Client::new()
            .post(gw.url("/v1/auth/keys"))
            .json(&body)
            .send()
    };
    let good = SiweMsg::for_gateway(&s, &gw.base, CHAIN_ID);

    let mut cases: Vec<(&str, Value)> = Vec::new();
    let with = |m: SiweMsg| {
        let (message, signature) = m.signed(&s);
        json!({"message": message, "signature": signature})
    };
    cases.push((
        "more than 300 s old",
        with(good.clone().aged(Duration::from_secs(360))),
    ));
    let mut future = good.clone();
    future.issued_at += Duration::from_secs(600);
    cases.push(("in the future", with(future)));
    let mut m = good.clone();
    m.domain = "evil.example.com".into();
    cases.push(("domain", with(m)));
    let mut m = good.clone();
    m.uri = "https://evil.example.com/login".into();
    cases.push(("uri", with(m)));
    let mut m = good.clone();
    m.chain_id = 1;
    cases.push(("chain id 1", with(m)));
    // Tampered after signing.
    let (message, signature) = good.signed(&s);
    cases.push((
        "not made by",
        json!({"message": message.replace("Manage", "Steal"), "signature": signature}),
    ));
    // Signed by another key, claiming this wallet.
    let other = PrivateKeySigner::random();
    let mut m = good.clone();
    m.nonce += "x";
    let message = m.text();
    let forged = {
        use alloy::signers::SignerSync;
        let sig = other.sign_message_sync(message.as_bytes()).unwrap();
        format!("0x{}", hex_of(&sig.as_bytes()))
    };
    cases.push((
        "not made by",
        json!({"message": message, "signature": forged}),
    ));
    cases.push((
        "hex",
        json!({"message": good.text(), "signature": "0xnothex"}),
    ));
    cases.push((
        "malformed",
        json!({"message": "hello", "signature": "0x00"}),
    ));
    cases.push(("required", json!({"label": "x"})));

    for (want, body) in cases {
        let (status, code, message) = error_of(post(body).await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "UNAUTHORIZED"),
            "{want}: {message}"
        );
        assert!(message.contains(want), "expected {want:?} in {message:?}");
    }

    // Replay: the first use succeeds, the second is refused.
    let body = with(SiweMsg::for_gateway(&s, &gw.base, CHAIN_ID));
    assert_eq!(post(body.clone()).await.unwrap().status(), 201);
    let (status, _, message) = error_of(post(body).await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(message.contains("nonce was already used"), "{message}");

    // Not JSON, or a label that is not a string: 400.
    let r = reqwest::Client::new()
        .post(gw.url("/v1/auth/keys"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 400);
    let mut body = with(SiweMsg::for_gateway(&s, &gw.base, CHAIN_ID));
    body["label"] = json!(7);
    let (status, code, _) = error_of(post(body).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "VALIDATION_ERROR"));
}

#[tokio::test]
async fn usage_accepts_the_wallets_key_or_siwe_and_refuses_another_wallet() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &mock).await;
    let a = PrivateKeySigner::random();
    let b = PrivateKeySigner::random();
    let key_a = create_key_over_siwe(&gw, &a, "a").await["key"]
        .as_str()
        .unwrap()
        .to_string();
    create_key_over_siwe(&gw, &b, "b").await;
    let c = reqwest::Client::new();

    let own = c
        .get(gw.url(&format!("/v1/usage/{}", wallet_of(&a))))
        .bearer_auth(&key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(own.json::<Value>().await.unwrap()["wallet"], wallet_of(&a));

    let theirs = c
        .get(gw.url(&format!("/v1/usage/{}", wallet_of(&b))))
        .bearer_auth(&key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(theirs).await.0, 403);

    let (message, signature) = siwe(&gw, &b);
    let by_siwe = c
        .get(gw.url(&format!("/v1/usage/{}", wallet_of(&b))))
        .query(&[("message", &message), ("signature", &signature)])
        .send()
        .await
        .unwrap();
    assert_eq!(by_siwe.status(), 200);
    let v: Value = by_siwe.json().await.unwrap();
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);

    // SIWE of wallet B for wallet A's usage: 403.
    let (message, signature) = siwe(&gw, &b);
    let r = c
        .get(gw.url(&format!("/v1/usage/{}", wallet_of(&a))))
        .query(&[("message", &message), ("signature", &signature)])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 403);
}

/// `tollgate_api_key_lookups_total` from the node's metrics.
async fn key_lookups(gw: &Gateway) -> u64 {
    let text = reqwest::get(format!("{}/metrics", gw.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("tollgate_api_key_lookups_total "))
        .expect("lookup counter exported")
        .trim()
        .parse()
        .unwrap()
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The Postgres nonce store: a nonce is spent until it expires, then reclaimable (a SIWE
/// message is refused by age long before), and claims sweep expired rows away.
#[tokio::test]
async fn spent_nonces_in_postgres_expire_and_are_swept() {
    let url = migrated_db().await;
    let ledger = tollgate_billing::ledger::Ledger::connect(&url, 2)
        .await
        .unwrap();
    let (short, long) = (Duration::from_millis(1), Duration::from_secs(600));
    assert!(ledger.claim_siwe_nonce("a", long).await.unwrap());
    assert!(!ledger.claim_siwe_nonce("a", long).await.unwrap());
    for n in 0..5 {
        assert!(ledger
            .claim_siwe_nonce(&format!("old{n}"), short)
            .await
            .unwrap());
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        ledger.claim_siwe_nonce("old0", long).await.unwrap(),
        "expired, so free again"
    );
    assert!(!ledger.claim_siwe_nonce("old0", long).await.unwrap());
    let rows: i64 = crate::common::pg::client(&url)
        .await
        .query_one("SELECT COUNT(*) FROM siwe_nonces", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 2, "the other expired nonces were swept by the claims");
}
