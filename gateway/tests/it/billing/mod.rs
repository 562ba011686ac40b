//! Billing against a real PostgreSQL: the ledger, reservations that never overspend (one node
//! and two), the settlement pipeline's backpressure and recovery, crashes and shutdown.


use crate::common::ledger::*;
use crate::common::pg::{self, PrivateCluster};
use crate::common::*;
use serde_json::{json, Value};
use std::time::Duration;

const BUYER: &str = "0x00000000000000000000000000000000000000b1";

/// Providers priced so that one default mock response (12 in, 16 out) costs exactly
/// 12×1 + 16×2 = 44 micro-USDC for the provider, ceil(44 / 0.7) = 63 for the buyer.
fn providers(mock: std::net::SocketAddr) -> String {
    format!(
        r#"
  - {{ id: pa, kind: openai, base_url: "http://{mock}/v1", models: [{{ id: m, pricing: {{ prompt: 1, completion: 2 }} }}] }}
  - {{ id: pb, kind: anthropic, base_url: "http://{mock}", models: [{{ id: c, pricing: {{ prompt: 1, completion: 2 }} }}] }}
"#
    )
}

fn chat(max_tokens: u64) -> Value {
    json!({"model": "m", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]})
}

/// A migrated database, a gateway on it, a funded wallet and its API key.
struct Stack {
    mock: Mock,
    gw: Gateway,
    url: String,
    key: String,
}

async fn stack_on(url: String, extra: &str, fund_usd: Option<&str>) -> Stack {
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(providers(mock.addr));
    opts.billing = billing_yaml(&url, extra);
    let gw = Gateway::start(opts).await;
    let key = create_key(&gw, BUYER);
    if let Some(usd) = fund_usd {
        credit(&gw, BUYER, usd);
    }
    Stack { mock, gw, url, key }
}

/// (balance, locked, Σ buyer_cost in the request log, rows in the request log).
async fn books(url: &str, wallet: &str) -> (i64, i64, i64, i64) {
    let c = pg::client(url).await;
    let r = c
        .query_one(
            "SELECT a.balance, w.locked,
                    (SELECT COALESCE(SUM(buyer_cost), 0)::BIGINT FROM request_log WHERE wallet = $1),
                    (SELECT COUNT(*) FROM request_log WHERE wallet = $1)
             FROM wallets w JOIN accounts a ON a.id = w.account_id WHERE w.address = $1",
            &[&wallet],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

async fn wait_for<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> F,
) {
    let deadline = std::time::Instant::now() + limit;
    while !f().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fire `n` requests at once (spread over `gateways`) and count the statuses.
async fn burst(gateways: &[&Gateway], key: &str, n: usize, body: Value) -> (usize, usize, usize) {
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let url = gateways[i % gateways.len()].url("/v1/chat/completions");
            let (c, key, body) = (c.clone(), key.to_string(), body.clone());
            tokio::spawn(async move {
                let r = c
                    .post(url)
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let s = r.status().as_u16();
                let _ = r.bytes().await;
                s
            })
        })
        .collect();
    let (mut ok, mut poor, mut other) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            200 => ok += 1,
            402 => poor += 1,
            _ => other += 1,
        }
    }
    (ok, poor, other)
}

#[tokio::test]
async fn refuses_to_start_on_an_unmigrated_database() {
    let url = pg::fresh_database().await;
    let config = ledger_config(&url);
    let path = &config.0;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("-c")
        .arg(path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tollgate migrate"), "{err}");
    let migrated = tollgate_cli(path, &["migrate"]);
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("applied migrations: ledger"));
    let again = tollgate_cli(path, &["migrate"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));
}

#[tokio::test]
async fn requests_are_charged_and_the_books_balance() {
    let s = stack_on(migrated_db().await, "", Some("1")).await;
    for _ in 0..5 {
        let r = post_json(
            &s.gw.url("/v1/chat/completions"),
            Some(&s.key),
            &chat(100),
            &[],
        )
        .await;
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
    }
    let (balance, _, charged, rows) = {
        wait_for("5 settled requests", Duration::from_secs(10), || async {
            books(&s.url, BUYER).await.3 == 5
        })
        .await;
        books(&s.url, BUYER).await
    };
    assert_eq!(charged, 5 * 63);
    assert_eq!(balance, 1_000_000 - 5 * 63);
    assert_eq!(rows, 5);
    let c = pg::client(&s.url).await;
    let earned: i64 = c
        .query_one(
            "SELECT pending FROM provider_earnings WHERE provider = 'pa'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(earned, 5 * 44, "provider earnings are credited");
    let fees: i64 = c
        .query_one("SELECT balance FROM accounts WHERE kind = 'platform'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(fees, 5 * (63 - 44));
    ledger_check(&s.gw);

    // Account endpoints.
    let b: Value = reqwest::get(s.gw.url(&format!("/v1/balance/{BUYER}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b["wallet"], BUYER);
    assert!(b["available_usdc"].as_i64().unwrap() <= balance);
    let unknown: Value =
        reqwest::get(s.gw.url("/v1/balance/0x000000000000000000000000000000000000dEaD"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(unknown["available_usdc"], 0, "unknown wallet is 0, not 404");
    let r = reqwest::get(s.gw.url("/v1/balance/nope")).await.unwrap();
    assert_eq!(r.status(), 400);

    let u: Value = client()
        .get(s.gw.url(&format!("/v1/usage/{BUYER}")))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u["balance_usdc"], balance);
    assert_eq!(u["keys"][0]["request_count"], 5);
    assert_eq!(u["keys"][0]["total_completion_tokens"], 80);
    assert_eq!(u["keys"][0]["total_prompt_tokens"], 60);
    assert_eq!(u["keys"][0]["total_charged_usdc"], 5 * 63);
    assert_eq!(
        u["available_usdc"].as_i64().unwrap(),
        u["balance_usdc"].as_i64().unwrap() - u["locked_usdc"].as_i64().unwrap()
    );

    let other_key = create_key(&s.gw, "0x00000000000000000000000000000000000000c2");
    let r = client()
        .get(s.gw.url(&format!("/v1/usage/{BUYER}")))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "FORBIDDEN");
    let r = client()
        .get(s.gw.url(&format!("/v1/usage/{BUYER}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // History: newest first, cursor-paginated.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v1/requests?limit=2&cursor={c}"),
            None => "/v1/requests?limit=2".into(),
        };
        let page: Value = client()
            .get(s.gw.url(&q))
            .bearer_auth(&s.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for row in page["data"].as_array().unwrap() {
            seen.push((
                row["created_at_ms"].as_u64().unwrap(),
                row["request_id"].as_str().unwrap().to_string(),
            ));
            assert!(row.get("messages").is_none());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert!(
        seen.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {seen:?}"
    );
}

#[tokio::test]
async fn insufficient_balance_is_402_before_any_upstream_call() {
    let s = stack_on(migrated_db().await, "", None).await;
    let r = post_json(
        &s.gw.url("/v1/chat/completions"),
        Some(&s.key),
        &chat(100),
        &[],
    )
    .await;
    assert_eq!(r.status(), 402);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"error": "INSUFFICIENT_BALANCE", "message": "Insufficient balance. Top up at POST /v1/topup"})
    );
    assert_eq!(s.mock.recorder.len(), 0);
}

/// 1,000 concurrent requests from one wallet whose balance covers about 100 of them.
#[tokio::test]
async fn concurrent_requests_never_overspend() {
    let s = stack_on(migrated_db().await, "", None).await;
    // Reservation per request: prompt bound = body bytes (~90) at 1 µ$/token + 16 output
    // at 2 µ$/token, grossed up by the 70% share ≈ 180 µ$; actual cost 63 µ$.
    credit(&s.gw, BUYER, "0.0063");
    let (ok, poor, other) = burst(&[&s.gw], &s.key, 1000, chat(16)).await;
    assert_eq!(other, 0);
    assert!(ok > 0 && poor > 0, "ok {ok}, 402 {poor}");
    wait_for("settlement", Duration::from_secs(20), || async {
        books(&s.url, BUYER).await.3 as usize == ok
    })
    .await;
    let (balance, _, charged, _) = books(&s.url, BUYER).await;
    assert!(balance >= 0, "balance {balance}");
    assert!(charged <= 6300, "charged {charged} > balance");
    assert_eq!(balance, 6300 - charged);
    assert_eq!(charged, ok as i64 * 63, "every served request billed once");
    ledger_check(&s.gw);
}

#[tokio::test]
async fn two_gateways_on_one_database_never_overspend() {
    let url = migrated_db().await;
    let a = stack_on(url.clone(), "", None).await;
    let mut opts = GatewayOpts::new(providers(a.mock.addr));
    opts.billing = billing_yaml(&url, "");
    let b = Gateway::start(opts).await;
    credit(&a.gw, BUYER, "0.0063");
    let (ok, poor, other) = burst(&[&a.gw, &b], &a.key, 600, chat(16)).await;
    assert_eq!(other, 0);
    assert!(ok > 0 && poor > 0, "ok {ok}, 402 {poor}");
    wait_for("settlement", Duration::from_secs(20), || async {
        books(&url, BUYER).await.3 as usize == ok
    })
    .await;
    let (balance, _, charged, _) = books(&url, BUYER).await;
    assert!(
        balance >= 0 && charged <= 6300,
        "balance {balance}, charged {charged}"
    );
    assert_eq!(charged, ok as i64 * 63);
    let c = pg::client(&url).await;
    let nodes: i64 = c
        .query_one("SELECT COUNT(DISTINCT node_id) FROM leases", &[])
        .await
        .unwrap()
        .get(0);
    assert!(nodes >= 1);
    ledger_check(&a.gw);
}

#[tokio::test]
async fn failed_rejected_and_cut_requests_follow_the_charging_rules() {
    let s = stack_on(migrated_db().await, "", Some("1")).await;
    let url = s.gw.url("/v1/chat/completions");
    // Upstream 5xx on the only provider: 502, nothing charged.
    let r = post_json(&url, Some(&s.key), &chat(50), &[("x-mock-status", "500")]).await;
    assert_eq!(r.status(), 502);
    // Upstream 429 passes through: nothing charged.
    let r = post_json(&url, Some(&s.key), &chat(50), &[("x-mock-status", "429")]).await;
    assert_eq!(r.status(), 429);
    // Usage omitted: charged on the documented estimate, never above the reservation.
    let mut body = chat(50);
    body["stream"] = json!(true);
    let r = post_json(&url, Some(&s.key), &body, &[("x-mock-omit-usage", "1")]).await;
    let omitted = request_id(&r);
    let _ = r.text().await;
    // Upstream cuts the stream.
    let r = post_json(&url, Some(&s.key), &body, &[("x-mock-close-after", "4")]).await;
    let cut = request_id(&r);
    let _ = r.text().await;

    wait_for("4 rows", Duration::from_secs(10), || async {
        books(&s.url, BUYER).await.3 == 4
    })
    .await;
    let c = pg::client(&s.url).await;
    let rows = c
        .query("SELECT request_id, status, buyer_cost, reserved, usage_missing, stream_cut, http_status FROM request_log ORDER BY created_at", &[])
        .await
        .unwrap();
    let by_id = |id: &str| rows.iter().find(|r| r.get::<_, String>(0) == id).unwrap();
    let statuses: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "upstream_failed").count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| *s == "upstream_rejected")
            .count(),
        1
    );
    for r in &rows {
        let (status, cost, reserved): (String, i64, i64) = (r.get(1), r.get(2), r.get(3));
        assert!(cost <= reserved, "{status}: {cost} > {reserved}");
        if status.starts_with("upstream_") {
            assert_eq!(cost, 0, "{status} is free");
        }
    }
    let o = by_id(&omitted);
    assert!(o.get::<_, bool>(4) && o.get::<_, i64>(2) > 0);
    let k = by_id(&cut);
    assert_eq!(k.get::<_, String>(1), "interrupted");
    assert!(k.get::<_, bool>(5));
    ledger_check(&s.gw);
}

/// Postgres dies under load: paid requests get 503 once the queue is full, nothing served is
/// lost, and everything settles exactly once when Postgres is back — without a restart.
#[tokio::test]
async fn postgres_outage_backpressure_and_recovery() {
    let cluster = PrivateCluster::start();
    let url = cluster.url.clone();
    migrate(&url);
    let s = stack_on(
        url.clone(),
        "  queue_capacity: 40\n  lease_chunk_usd: 0.5\n  lease_ttl: 60s\n",
        Some("5"),
    )
    .await;
    let warm = burst(&[&s.gw], &s.key, 20, chat(16)).await;
    assert_eq!(warm.0, 20);

    cluster.crash();
    let (mut ok, mut unavailable) = (0usize, 0usize);
    for _ in 0..80 {
        let r = post_json(
            &s.gw.url("/v1/chat/completions"),
            Some(&s.key),
            &chat(16),
            &[],
        )
        .await;
        match r.status().as_u16() {
            200 => ok += 1,
            503 => {
                assert_eq!(
                    r.json::<Value>().await.unwrap()["error"],
                    "BILLING_UNAVAILABLE"
                );
                unavailable += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(
        ok <= 40,
        "at most the queue's capacity is served unbilled-yet ({ok})"
    );
    assert!(
        unavailable > 0,
        "paid requests are refused while the ledger is down"
    );

    cluster.restart();
    wait_for("recovery", Duration::from_secs(30), || async {
        post_json(
            &s.gw.url("/v1/chat/completions"),
            Some(&s.key),
            &chat(16),
            &[],
        )
        .await
        .status()
            == 200
    })
    .await;
    let served = 20 + ok + 1;
    wait_for(
        "every served request settled",
        Duration::from_secs(30),
        || async { books(&url, BUYER).await.3 as usize >= served },
    )
    .await;
    let (balance, _, charged, rows) = books(&url, BUYER).await;
    assert!(rows as usize >= served);
    assert_eq!(charged, rows * 63, "each settled once");
    assert_eq!(balance, 5_000_000 - charged);
    ledger_check(&s.gw);
}

/// SIGKILL mid-load: the unflushed records are lost in the buyer's favour, the dead node's
/// leases expire and are released by the restarted gateway, and the books balance.
#[tokio::test]
async fn sigkill_then_restart_releases_stale_leases() {
    let url = migrated_db().await;
    let mut s = stack_on(url.clone(), "  lease_chunk_usd: 0.05\n", Some("1")).await;
    let load = {
        let (gw_url, key) = (s.gw.url("/v1/chat/completions"), s.key.clone());
        tokio::spawn(async move {
            let c = client();
            for _ in 0..400 {
                if c.post(&gw_url)
                    .bearer_auth(&key)
                    .json(&chat(16))
                    .send()
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.gw.signal("KILL");
    let _ = load.await;
    assert!(s.gw.wait_exit(Duration::from_secs(5)).await.is_some());
    let (_, locked, _, _) = books(&url, BUYER).await;
    assert!(locked > 0, "the dead node still holds a lease");

    let mut opts = GatewayOpts::new(providers(s.mock.addr));
    opts.billing = billing_yaml(&url, "");
    let restarted = Gateway::start(opts).await;
    // lease_ttl is 3s: swept once expired for another ttl.
    wait_for("stale lease released", Duration::from_secs(20), || async {
        books(&url, BUYER).await.1 == 0
    })
    .await;
    let (balance, _, charged, rows) = books(&url, BUYER).await;
    assert_eq!(balance, 1_000_000 - charged);
    assert_eq!(charged, rows * 63);
    ledger_check(&restarted);
}

/// SIGTERM: in-flight streams finish, the queue drains, leases are returned, exit 0.
#[tokio::test]
async fn sigterm_drains_and_returns_leases() {
    let url = migrated_db().await;
    let mut s = stack_on(url.clone(), "", Some("1")).await;
    let mut body = chat(16);
    body["stream"] = json!(true);
    // A slow stream: 16 tokens, 100 ms apart.
    let slow = {
        let (u, k, b) = (
            s.gw.url("/v1/chat/completions"),
            s.key.clone(),
            body.clone(),
        );
        tokio::spawn(async move {
            let r = client()
                .post(u)
                .bearer_auth(k)
                .header("x-mock-inter-token-ms", "100")
                .json(&b)
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.gw.signal("TERM");
    let (status, text) = slow.await.unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("[DONE]"), "the in-flight stream completed");
    let exit =
        s.gw.wait_exit(Duration::from_secs(20))
            .await
            .expect("gateway exited");
    assert!(exit.success(), "{exit:?}");
    let (balance, locked, charged, rows) = books(&url, BUYER).await;
    assert_eq!(
        (rows, charged, locked),
        (1, 63, 0),
        "settled and leases returned"
    );
    assert_eq!(balance, 1_000_000 - 63);
    let c = pg::client(&url).await;
    assert_eq!(
        c.query_one("SELECT COUNT(*) FROM leases", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        0
    );
}

/// The same outcome record written twice (a retried batch whose commit acknowledgement was
/// lost) is billed once.
#[tokio::test]
async fn the_same_record_twice_is_billed_once() {
    use tollgate_billing::ledger::Ledger;
    use tollgate_billing::settlement::{commit_batch, SettledRecord};
    let url = migrated_db().await;
    let ledger = Ledger::connect(&url, 2).await.unwrap();
    ledger
        .credit(BUYER, 1_000, "credit", "idem-test", "test")
        .await
        .unwrap();
    let outcome = || tollgate_billing::Outcome {
        request_id: "req_idempotent".into(),
        wallet: BUYER.into(),
        key_id: "k".into(),
        model: "m".into(),
        provider: "pa".into(),
        upstream_model: "m".into(),
        api: "openai",
        stream: false,
        status: tollgate_billing::OutcomeStatus::Completed,
        http_status: 200,
        tokens: tollgate_billing::outcome::Tokens {
            input_tokens: 12,
            output_tokens: 16,
            ..Default::default()
        },
        usage_missing: false,
        stream_cut: false,
        usage_estimated: false,
        provider_cost_usdc: 44,
        buyer_cost_usdc: 63,
        platform_fee_usdc: 19,
        reserved_usdc: 100,
        attempts: 1,
        latency_ms: 1,
        ttfb_ms: Some(1),
        error_code: None,
        started_at_ms: 1_795_000_000_000,
    };
    commit_batch(&ledger, "node-a", 1, &[SettledRecord::detached(outcome())])
        .await
        .unwrap();
    commit_batch(&ledger, "node-a", 2, &[SettledRecord::detached(outcome())])
        .await
        .unwrap();
    // Even inside one batch.
    commit_batch(
        &ledger,
        "node-a",
        3,
        &[
            SettledRecord::detached(outcome()),
            SettledRecord::detached(outcome()),
        ],
    )
    .await
    .unwrap();
    let (balance, _, charged, rows) = books(&url, BUYER).await;
    assert_eq!((balance, charged, rows), (1_000 - 63, 63, 1));
    assert!(ledger.check().await.unwrap().problems.is_empty());
}

/// The client hangs up mid-stream: billed for what the upstream produced (its usage so far
/// plus the documented estimate), never above the reservation.
#[tokio::test]
async fn client_disconnect_mid_stream_is_billed_on_what_was_produced() {
    let s = stack_on(migrated_db().await, "", Some("1")).await;
    let body = json!({"model": "c", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let mut resp = client()
        .post(s.gw.url("/v1/messages"))
        .header("x-api-key", &s.key)
        .header("x-mock-output-tokens", "40")
        .header("x-mock-inter-token-ms", "30")
        .header("x-mock-input-tokens", "9")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let mut got = 0;
    while got < 600 {
        match resp.chunk().await.unwrap() {
            Some(c) => got += c.len(),
            None => break,
        }
    }
    drop(resp); // hang up
    wait_for(
        "the cut request settled",
        Duration::from_secs(15),
        || async { books(&s.url, BUYER).await.3 == 1 },
    )
    .await;
    let c = pg::client(&s.url).await;
    let r = c
        .query_one("SELECT status, input_tokens, output_tokens, buyer_cost, reserved FROM request_log WHERE request_id = $1", &[&id])
        .await
        .unwrap();
    let (status, input, output, cost, reserved): (String, i64, i64, i64, i64) =
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
    assert_eq!(status, "interrupted");
    assert_eq!(input, 9, "input from message_start");
    assert!((1..40).contains(&output), "output so far: {output}");
    assert!(
        cost > 0 && cost <= reserved,
        "cost {cost}, reserved {reserved}"
    );
    ledger_check(&s.gw);
}

/// Regression: growing a lease while a settlement batch holds the wallet must see the balance
/// that batch leaves behind. (Locking inside the granting statement re-checked only the wallet
/// row after the wait and granted from the stale account balance: an overspend seen once under
/// the 1,000-request test in CI.)
#[tokio::test]
async fn lease_growth_waits_for_and_sees_a_concurrent_debit() {
    use tollgate_billing::ledger::Ledger;
    let url = migrated_db().await;
    let ledger = Ledger::connect(&url, 2).await.unwrap();
    ledger
        .credit(BUYER, 1_000, "credit", "race-test", "test")
        .await
        .unwrap();

    // A batch in progress: wallet locked, 900 debited, not yet committed.
    let mut batch = pg::client(&url).await;
    let tx = batch.transaction().await.unwrap();
    tx.execute(
        "SELECT 1 FROM wallets WHERE address = $1 FOR UPDATE",
        &[&BUYER],
    )
    .await
    .unwrap();
    tx.execute(
        "UPDATE accounts SET balance = balance - 900 WHERE id = (SELECT account_id FROM wallets WHERE address = $1)",
        &[&BUYER],
    )
    .await
    .unwrap();

    let grower = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            ledger
                .grow_lease("node-r", BUYER, 500, 500, Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !grower.is_finished(),
        "lease growth must wait for the batch's wallet lock"
    );
    tx.commit().await.unwrap();
    let grant = grower.await.unwrap().unwrap();
    assert_eq!(
        grant, None,
        "only 100 is available after the debit; nothing may be granted"
    );
    let smaller = ledger
        .grow_lease("node-r", BUYER, 100, 500, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(smaller.map(|g| g.granted), Some(100));
}
