//! The console's server side: its assets under `/console/` (content types, caching, ETags,
//! gzip, the Content-Security-Policy, nothing outside the built set, no control-plane quota
//! spent on them), `/console/config.json`, and the endpoints the console signs for:
//! `GET /v1/account` (one signed read of a wallet's dashboard, `wallet_daily` equal to the
//! request log), `GET /v1/requests` with SIWE, and listings written with SIWE in the query.
//! The browser tests of the console itself are in `console/e2e` (npm, Chromium).

use crate::common::ledger::*;
use crate::common::pg;
use crate::common::siwe::SiweMsg;
use crate::common::*;
use crate::market::{lists, model_body, upstream_body, CHAIN_ID, MASTER_KEY};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tollgate_gateway::control::console::CONTENT_SECURITY_POLICY;

/// A built console in a temporary directory: a page, a fingerprinted script large enough to
/// be held compressed, and a dot file that must not be served.
struct Dist(PathBuf);

impl Dist {
    fn new() -> Dist {
        let dir = temp_path("tollgate-console", "");
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(
            dir.join("index.html"),
            "<!doctype html><script type=module src=/console/assets/app-1a2b.js></script>",
        )
        .unwrap();
        std::fs::write(
            dir.join("assets/app-1a2b.js"),
            "console.log('tollgate');\n".repeat(200),
        )
        .unwrap();
        std::fs::write(dir.join(".env"), "SECRET=1").unwrap();
        Dist(dir)
    }
}

impl Drop for Dist {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let c = reqwest::Client::builder().no_gzip().build().unwrap();
    let mut r = c.get(gw.url(path));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn console_assets_are_served_from_memory_with_a_strict_policy() {
    let dist = Dist::new();
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.extra = format!(
        "console: {{ dir: \"{}\", explorer_url: \"https://basescan.org/\" }}\nlimits: {{ control_plane: {{ per_ip_per_minute: 3 }} }}\n",
        dist.0.display()
    );
    let gw = Gateway::start(opts).await;

    for path in ["/console", "/console/"] {
        let r = get(&gw, path, &[]).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert_eq!(
            header(&r, "content-security-policy"),
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert_eq!(header(&r, "x-frame-options"), "DENY");
        assert!(r.text().await.unwrap().contains("app-1a2b.js"));
    }
    for needle in [
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(CONTENT_SECURITY_POLICY.contains(needle), "{needle}");
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));

    // Fingerprinted assets: cached for good, compressed for clients that accept it.
    let plain = get(&gw, "/console/assets/app-1a2b.js", &[]).await;
    assert_eq!(plain.status(), 200);
    assert_eq!(
        header(&plain, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header(&plain, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    let etag = header(&plain, "etag");
    let body = plain.bytes().await.unwrap();
    assert_eq!(body.len(), "console.log('tollgate');\n".len() * 200);
    let zipped = get(
        &gw,
        "/console/assets/app-1a2b.js",
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(header(&zipped, "content-encoding"), "gzip");
    assert_eq!(header(&zipped, "vary"), "accept-encoding");
    let z = zipped.bytes().await.unwrap();
    assert!(z.len() < body.len() / 5);
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&z[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, body);
    let again = get(
        &gw,
        "/console/assets/app-1a2b.js",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());

    // Only what the build holds: no dot file, no path out of the directory, no other method.
    for path in [
        "/console/.env",
        "/console/assets/",
        "/console/../Cargo.toml",
        "/console/%2e%2e/Cargo.toml",
        "/console/assets/missing.js",
    ] {
        let r = get(&gw, path, &[]).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(header(&r, "content-type"), "application/json", "{path}");
    }
    let post = reqwest::Client::new()
        .post(gw.url("/console/"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);

    // What the console learns about this gateway (no ledger, no chain here).
    let c: Value = get(&gw, "/console/config.json", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["explorer_url"], "https://basescan.org");
    assert_eq!(c["siwe"], false);
    assert_eq!(c["ledger"], false);
    assert_eq!(c["settlement"], Value::Null);

    // Page loads spend none of the control-plane quota (3 a minute here); the API does.
    for _ in 0..5 {
        assert_eq!(get(&gw, "/console/", &[]).await.status(), 200);
    }
    let statuses: Vec<u16> = futures_util::future::join_all(
        (0..4).map(|_| async { get(&gw, "/v1/marketplace", &[]).await.status().as_u16() }),
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn without_a_console_section_there_is_no_console_and_a_bad_directory_stops_start_up() {
    let mock = Mock::start().await;
    let gw = Gateway::start(GatewayOpts::new(standard_providers(mock.addr))).await;
    assert_eq!(get(&gw, "/console/", &[]).await.status(), 404);

    let empty = temp_path("tollgate-console-empty", "");
    std::fs::create_dir_all(&empty).unwrap();
    let cfg = temp_path("tollgate-console", ".yaml");
    std::fs::write(
        &cfg,
        format!(
            "server: {{ listen: 127.0.0.1:{} }}\nbilling: {{ sink: memory }}\nconsole: {{ dir: \"{}\" }}\n{}",
            free_port(),
            empty.display(),
            format_args!("providers:{}", standard_providers(mock.addr)),
        ),
    )
    .unwrap();
    let out = std::process::Command::new(tollgate_bin())
        .arg("-c")
        .arg(&cfg)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&cfg);
    let _ = std::fs::remove_dir_all(&empty);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no index.html"), "{err}");
}

/// A ledger gateway with SIWE (and the marketplace) whose console reads `dist`.
async fn signed_gateway(db: &str, mock: &Mock, dist: &Dist) -> Gateway {
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.billing = billing_yaml(db, "");
    opts.public_url = Some(String::new());
    opts.extra = format!(
        "chain: {{ chain_id: {CHAIN_ID} }}\nmarketplace: {{ master_key: \"{MASTER_KEY}\", allow_private_upstreams: true, probe_timeout: 5s }}\nconsole: {{ dir: \"{}\" }}\n",
        dist.0.display()
    );
    Gateway::start(opts).await
}

fn siwe(gw: &Gateway, s: &PrivateKeySigner) -> [(&'static str, String); 2] {
    let (message, signature) = SiweMsg::for_gateway(s, &gw.base, CHAIN_ID).signed(s);
    [("message", message), ("signature", signature)]
}

async fn get_json(gw: &Gateway, path: &str, query: &[(&str, String)]) -> (u16, Value) {
    let r = client()
        .get(gw.url(path))
        .query(query)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn one_signed_read_gives_the_whole_dashboard_and_its_daily_rollup_equals_the_log() {
    let db = migrated_db().await;
    let dist = Dist::new();
    let mock = Mock::start().await;
    let gw = signed_gateway(&db, &mock, &dist).await;
    let signer = PrivateKeySigner::random();
    let wallet = format!("{:#x}", signer.address());
    credit(&gw, &wallet, "2");

    let c: Value = get(&gw, "/console/config.json", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["public_url"], gw.base);
    assert_eq!(c["chain_id"], CHAIN_ID);
    assert_eq!(
        (
            c["siwe"].clone(),
            c["ledger"].clone(),
            c["marketplace"].clone()
        ),
        (json!(true), json!(true), json!(true))
    );

    // Two keys, three calls on two models.
    let mut keys = Vec::new();
    for label in ["app", "<b>bold</b>"] {
        let r = client()
            .post(gw.url("/v1/auth/keys"))
            .json(&{
                let [(_, m), (_, s)] = siwe(&gw, &signer);
                json!({"message": m, "signature": s, "label": label})
            })
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        keys.push(v["key"].as_str().unwrap().to_string());
    }
    for (key, model) in [
        (&keys[0], "gpt-test"),
        (&keys[0], "claude-test"),
        (&keys[1], "gpt-test"),
    ] {
        let path = if model == "gpt-test" {
            "/v1/chat/completions"
        } else {
            "/v1/messages"
        };
        let body = json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
        let r = post_json(&gw.url(path), Some(key), &body, &[]).await;
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let account = loop {
        let (status, v) = get_json(&gw, "/v1/account", &siwe(&gw, &signer)).await;
        assert_eq!(status, 200, "{v}");
        if v["requests"]["data"].as_array().unwrap().len() == 3 {
            break v;
        }
        assert!(Instant::now() < deadline, "three requests settled: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(account["wallet"], wallet);
    assert_eq!(account["days"], 30);
    let spent: i64 = account["requests"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["buyer_cost_usdc"].as_i64().unwrap())
        .sum();
    assert!(spent > 0);
    assert_eq!(account["balance_usdc"].as_i64().unwrap(), 2_000_000 - spent);
    assert_eq!(
        account["available_usdc"].as_i64().unwrap(),
        account["balance_usdc"].as_i64().unwrap() - account["locked_usdc"].as_i64().unwrap()
    );
    let k = account["keys"].as_array().unwrap();
    assert_eq!(k.len(), 2);
    assert_eq!(k[0]["label"], "app");
    assert_eq!(k[0]["request_count"], 2);
    assert_eq!(k[1]["label"], "<b>bold</b>");
    assert_eq!(k[1]["request_count"], 1);
    assert_eq!(account["credits"], json!([]));
    assert_eq!(account["withdrawals"], json!([]));

    // The daily rollup is the log, summed: per model, spend and every bucket.
    let daily = account["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 2, "{daily:?}");
    let pg = pg::client(&db).await;
    for d in daily {
        let row = pg
            .query_one(
                "SELECT COUNT(*)::INT8, SUM(buyer_cost)::INT8, SUM(input_tokens)::INT8, SUM(output_tokens)::INT8,
                        SUM(cache_read_tokens)::INT8
                 FROM request_log WHERE wallet = $1 AND model = $2",
                &[&wallet, &d["model"].as_str().unwrap()],
            )
            .await
            .unwrap();
        let (n, cost, input, output, cached): (i64, i64, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        assert_eq!(d["requests"], n);
        assert_eq!(d["spent_usdc"], cost);
        assert_eq!(d["input_tokens"], input);
        assert_eq!(d["output_tokens"], output);
        assert_eq!(d["cache_read_tokens"], cached);
        assert!(output > 0);
    }
    assert_eq!(
        daily
            .iter()
            .map(|d| d["spent_usdc"].as_i64().unwrap())
            .sum::<i64>(),
        spent
    );

    // The wallet's own API key reads it too; bad parameters are refused before any signature
    // is spent, and a signature is spent once.
    let (status, by_key) = {
        let r = client()
            .get(gw.url("/v1/account?days=7"))
            .bearer_auth(&keys[1])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(by_key["days"], 7);
    assert_eq!(by_key["wallet"], wallet);
    let pair = siwe(&gw, &signer);
    for bad in ["days=0", "days=91", "days=x", "page=2"] {
        let mut q = pair.to_vec();
        let (k, v) = bad.split_once('=').unwrap();
        q.push((if k == "days" { "days" } else { "page" }, v.to_string()));
        let (status, v) = get_json(&gw, "/v1/account", &q).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    assert_eq!(get_json(&gw, "/v1/account", &pair).await.0, 200);
    let (status, v) = get_json(&gw, "/v1/account", &pair).await;
    assert_eq!(status, 401, "{v}");
    assert!(v["message"].as_str().unwrap().contains("nonce"), "{v}");
    assert_eq!(get_json(&gw, "/v1/account", &[]).await.0, 401);

    // The history pages over SIWE as over a key: a signature per page.
    let mut q = siwe(&gw, &signer).to_vec();
    q.push(("limit", "2".into()));
    let (status, first) = get_json(&gw, "/v1/requests", &q).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let mut q = siwe(&gw, &signer).to_vec();
    q.push(("cursor", first["next_cursor"].as_str().unwrap().to_string()));
    let (status, rest) = get_json(&gw, "/v1/requests", &q).await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
}

#[tokio::test]
async fn listings_are_written_and_read_with_siwe_in_the_query_by_their_owner_only() {
    let db = migrated_db().await;
    let dist = Dist::new();
    let mock = Mock::start().await;
    let gw = signed_gateway(&db, &mock, &dist).await;
    let owner = PrivateKeySigner::random();
    let stranger = PrivateKeySigner::random();
    let signed =
        |method: reqwest::Method, path: &str, s: &PrivateKeySigner, body: Option<Value>| {
            let mut r = client().request(method, gw.url(path)).query(&siwe(&gw, s));
            if let Some(b) = body {
                r = r.json(&b);
            }
            async move {
                let resp = r.send().await.unwrap();
                (
                    resp.status().as_u16(),
                    resp.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };

    let (status, v) = signed(
        reqwest::Method::PUT,
        "/v1/provider/upstreams/acme",
        &owner,
        Some(upstream_body(&mock, "acme-secret")),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = signed(
        reqwest::Method::PUT,
        "/v1/provider/models/acme-chat",
        &owner,
        Some(model_body("acme", "mock-gpt", "0.1", "0.4")),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["live"], true, "{v}");
    listed(&gw, true).await;

    // Another wallet's signature cannot take the id or touch the model.
    let (status, v) = signed(
        reqwest::Method::PUT,
        "/v1/provider/upstreams/acme",
        &stranger,
        Some(upstream_body(&mock, "x")),
    )
    .await;
    assert_eq!(status, 409, "{v}");
    let (status, _) = signed(
        reqwest::Method::DELETE,
        "/v1/provider/models/acme-chat?upstream=acme",
        &stranger,
        None,
    )
    .await;
    assert_eq!(status, 404);
    // A signature is a credential once: the same pair again is refused.
    let pair = siwe(&gw, &owner);
    let status_of = |q: [(&'static str, String); 2]| {
        let r = client().get(gw.url("/v1/provider/status")).query(&q);
        async move {
            let resp = r.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, s) = status_of(pair.clone()).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(status_of(pair).await.0, 401);
    // The status carries the listed prices, so the console can edit without retyping them.
    let m = &s["upstreams"][0]["models"][0];
    assert_eq!(m["id"], "acme-chat");
    assert_eq!(
        m["pricing"],
        json!({"prompt": "0.1", "completion": "0.4", "cache_read": "0.1", "cache_write_5m": "0.1", "cache_write_1h": "0.1"})
    );
    assert_eq!(m["context_length"], 8192);
    assert!(!s.to_string().contains("acme-secret"));

    // Disabled by its owner's signature: off the catalog.
    let mut body = model_body("acme", "mock-gpt", "0.1", "0.4");
    body["enabled"] = json!(false);
    let (status, v) = signed(
        reqwest::Method::PUT,
        "/v1/provider/models/acme-chat",
        &owner,
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["live"], false);
    listed(&gw, false).await;
}

/// Wait (up to 5 s: the catalog is swapped on NOTIFY) until `acme-chat` is or is not listed.
async fn listed(gw: &Gateway, want: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while lists(gw, "acme-chat", "acme").await != want {
        assert!(Instant::now() < deadline, "acme-chat listed: {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
