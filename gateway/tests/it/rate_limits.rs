//! Per-wallet rate limits through real gateway processes: the in-process limiter, the
//! fleet-wide one on a real Redis (shared by two nodes), Redis outages in both failure modes,
//! and the per-key in-flight cap.
//!
//! Redis: `TOLLGATE_TEST_REDIS` (scripts/test.sh starts one), else `scripts/redis.sh` starts
//! `target/test-redis`. Tests that kill Redis run a `redis-server` of their own.


use crate::common::redis::{redis_yaml, shared_redis, unique_prefix};
use crate::common::*;
use fred::interfaces::{ClientLike, LuaInterface};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tollgate_gateway::rate_limit::redis::{admit_args, charge_args, parse_reply, SCRIPT};
use tollgate_gateway::rate_limit::window::WalletWindows;
use tollgate_gateway::config::WalletLimits;
use tollgate_gateway::rate_limit::Reason;

const PATH: &str = "/v1/chat/completions";
const KEY_B: &str = "sk-test-key-b";

fn chat() -> Value {
    json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
}

async fn gateway(mock: &Mock, extra: String) -> Gateway {
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.extra = extra;
    Gateway::start(opts).await
}

/// A gateway on Redis, once connected to it.
async fn redis_gateway(mock: &Mock, extra: String) -> Gateway {
    let gw = gateway(mock, extra).await;
    wait_for_metric(&gw, "tollgate_redis_up", &[], 1.0).await;
    gw
}

async fn send(gw: &Gateway, key: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    post_json(&gw.url(PATH), Some(key), &chat(), headers).await
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// Statuses of `n` requests sent one after another.
async fn statuses(gw: &Gateway, key: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = send(gw, key, &[]).await;
        out.push(r.status().as_u16());
        let _ = r.bytes().await;
    }
    out
}

fn redis_answers(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A `redis-server` owned by one test, so that the test can kill it and start it again on
/// the same port.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let mut r = OwnRedis {
            port: free_port(),
            child: None,
        };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis_answers(self.port) {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no goodbye to the clients.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_for_metric(gw: &Gateway, name: &str, labels: &[&str], want: f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if metric_value(&gw.metrics().await, name, labels) == want {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never became {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn requests_per_minute_then_429_with_headers_and_nothing_charged() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, "limits: { requests_per_minute: 5 }\n".into()).await;
    for i in 0..5u64 {
        let r = send(&gw, KEY, &[]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-ratelimit-limit-requests").unwrap(), "5");
        assert_eq!(
            header(&r, "x-ratelimit-remaining-requests").unwrap(),
            (4 - i).to_string()
        );
        let reset = header(&r, "x-ratelimit-reset-requests").unwrap();
        assert!(reset.starts_with("1m") && reset.ends_with('s'), "{reset}");
        let _ = r.bytes().await;
    }
    let r = send(&gw, KEY, &[]).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((50..=65).contains(&retry), "Retry-After {retry}");
    let retry_ms: u64 = header(&r, "retry-after-ms").unwrap().parse().unwrap();
    assert_eq!(retry_ms.div_ceil(1000), retry);
    assert_eq!(header(&r, "x-ratelimit-limit-requests").unwrap(), "5");
    assert_eq!(header(&r, "x-ratelimit-remaining-requests").unwrap(), "0");
    assert!(header(&r, "x-request-id").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "RATE_LIMITED", "message": "Rate limit exceeded"})
    );
    // The other wallet has its own window.
    assert_eq!(statuses(&gw, KEY_B, 2).await, [200, 200]);

    // Nothing of the 429 reached the upstream or billing.
    assert_eq!(mock.recorder.len(), 7);
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.outcomes().await.len() < 7 {
        assert!(Instant::now() < deadline, "outcomes missing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let outcomes = gw.outcomes().await;
    assert_eq!(outcomes.len(), 7);
    assert!(outcomes.iter().all(|o| o["http_status"] == 200));
    let m = gw.metrics().await;
    assert_eq!(
        metric_value(
            &m,
            "tollgate_rate_limited_total",
            &["reason=\"requests_per_minute\""]
        ),
        1.0
    );
    assert_eq!(
        metric_value(
            &m,
            "tollgate_rejected_requests_total",
            &["code=\"RATE_LIMITED\""]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_wallet_override_replaces_the_default() {
    let mock = Mock::start().await;
    let gw = gateway(
        &mock,
        format!(
            "limits:\n  requests_per_minute: 2\n  response_headers: false\n  overrides:\n    - {{ wallet: \"{WALLET}\", requests_per_minute: 4 }}\n"
        ),
    )
    .await;
    assert_eq!(statuses(&gw, KEY, 5).await, [200, 200, 200, 200, 429]);
    // `response_headers: false`: no x-ratelimit-* on admitted responses, still on a 429.
    let r = send(&gw, KEY_B, &[]).await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "x-ratelimit-limit-requests").is_none());
    let _ = r.bytes().await;
    assert_eq!(statuses(&gw, KEY_B, 1).await, [200]);
    let r = send(&gw, KEY_B, &[]).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-ratelimit-limit-requests").unwrap(), "2");
}

#[tokio::test]
async fn requests_per_day_refuses_until_tomorrow() {
    let mock = Mock::start().await;
    let gw = gateway(
        &mock,
        "limits: { requests_per_minute: 100, requests_per_day: 3 }\n".into(),
    )
    .await;
    assert_eq!(statuses(&gw, KEY, 3).await, [200, 200, 200]);
    let r = send(&gw, KEY, &[]).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((24 * 3600 - 60..=25 * 3600).contains(&retry), "{retry}");
    assert_eq!(header(&r, "x-ratelimit-limit-requests").unwrap(), "3");
    let reset = header(&r, "x-ratelimit-reset-requests").unwrap();
    assert!(reset.starts_with("2") && reset.contains('h'), "{reset}");
    let m = gw.metrics().await;
    assert_eq!(
        metric_value(
            &m,
            "tollgate_rate_limited_total",
            &["reason=\"requests_per_day\""]
        ),
        1.0
    );
}

/// Each call reports 12 input + 50 output tokens; 200 tokens per minute allow 4 calls (the
/// 4th starts at 186 < 200), then the next request is refused.
async fn tokens_per_minute_case(extra: &str) {
    let mock = Mock::start().await;
    let yaml = format!("limits: {{ tokens_per_minute: 200 }}\n{extra}");
    let gw = if extra.is_empty() {
        gateway(&mock, yaml).await
    } else {
        redis_gateway(&mock, yaml).await
    };
    let h = [("x-mock-output-tokens", "50")];
    for i in 0..4 {
        let (status, o) = gw.served(PATH, &chat(), &h).await;
        assert_eq!(status, 200, "call {i}");
        assert_eq!(o["output_tokens"], 50);
    }
    // Charged from `logging`: in Redis through a queue, so allow it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let r = loop {
        let r = send(&gw, KEY, &h).await;
        if r.status() == 429 || Instant::now() > deadline {
            break r;
        }
        let _ = r.bytes().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-ratelimit-limit-tokens").unwrap(), "200");
    assert_eq!(header(&r, "x-ratelimit-remaining-tokens").unwrap(), "0");
    let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((50..=65).contains(&retry), "{retry}");
    let _ = r.bytes().await;
    let m = gw.metrics().await;
    assert!(
        metric_value(
            &m,
            "tollgate_rate_limited_total",
            &["reason=\"tokens_per_minute\""]
        ) >= 1.0
    );
    // The other wallet has not spent any.
    assert_eq!(statuses(&gw, KEY_B, 1).await, [200]);
}

#[tokio::test]
async fn tokens_per_minute_in_process() {
    tokens_per_minute_case("").await;
}

#[tokio::test]
async fn tokens_per_minute_in_redis() {
    tokens_per_minute_case(&redis_yaml(&shared_redis(), &unique_prefix())).await;
}

#[tokio::test]
async fn two_nodes_sharing_redis_enforce_one_limit() {
    let mock = Mock::start().await;
    let extra = format!(
        "limits: {{ requests_per_minute: 20 }}\n{}",
        redis_yaml(&shared_redis(), &unique_prefix())
    );
    let a = redis_gateway(&mock, extra.clone()).await;
    let b = redis_gateway(&mock, extra).await;
    let sends = (0..40).map(|i| {
        let gw = if i % 2 == 0 { &a } else { &b };
        async move {
            let r = send(gw, KEY, &[]).await;
            let s = r.status().as_u16();
            let _ = r.bytes().await;
            s
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 20);
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 20);
    // Both nodes refuse now, and the other wallet is untouched on both.
    for gw in [&a, &b] {
        assert_eq!(send(gw, KEY, &[]).await.status(), 429);
        assert_eq!(send(gw, KEY_B, &[]).await.status(), 200);
    }
}

#[tokio::test]
async fn redis_outage_open_limits_locally_then_globally_again() {
    let mut redis = OwnRedis::start();
    let mock = Mock::start().await;
    let extra = format!(
        "limits: {{ requests_per_minute: 5, redis_failure: open }}\n{}",
        redis_yaml(&redis.url(), "t:")
    );
    let a = redis_gateway(&mock, extra.clone()).await;
    let b = redis_gateway(&mock, extra).await;
    assert_eq!(statuses(&a, KEY, 2).await, [200, 200]);

    redis.kill();
    // Served and limited by each node on its own (fresh local windows: 5 each).
    assert_eq!(statuses(&a, KEY, 6).await, [200, 200, 200, 200, 200, 429]);
    assert_eq!(statuses(&b, KEY, 6).await, [200, 200, 200, 200, 200, 429]);
    let m = a.metrics().await;
    assert!(
        metric_value(
            &m,
            "tollgate_rate_limit_redis_unavailable_total",
            &["action=\"local\""]
        ) >= 6.0
    );
    assert!(metric_value(&m, "tollgate_redis_errors_total", &[]) >= 1.0);
    assert_eq!(metric_value(&m, "tollgate_redis_up", &[]), 0.0);

    // A fresh, empty Redis: one limit for the fleet again.
    redis.restart();
    wait_for_metric(&a, "tollgate_redis_up", &[], 1.0).await;
    wait_for_metric(&b, "tollgate_redis_up", &[], 1.0).await;
    let mut ok = 0;
    for i in 0..10 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let r = send(gw, KEY, &[]).await;
        ok += usize::from(r.status() == 200);
        let _ = r.bytes().await;
    }
    assert_eq!(ok, 5);
}

#[tokio::test]
async fn redis_outage_closed_refuses_with_503_then_recovers() {
    let mut redis = OwnRedis::start();
    let mock = Mock::start().await;
    let gw = redis_gateway(
        &mock,
        format!(
            "limits: {{ requests_per_minute: 50, redis_failure: closed }}\n{}",
            redis_yaml(&redis.url(), "t:")
        ),
    )
    .await;
    assert_eq!(statuses(&gw, KEY, 1).await, [200]);
    redis.kill();
    for _ in 0..3 {
        let r = send(&gw, KEY, &[]).await;
        assert_eq!(r.status(), 503);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "RATE_LIMITER_UNAVAILABLE");
    }
    let m = gw.metrics().await;
    assert_eq!(
        metric_value(
            &m,
            "tollgate_rate_limit_redis_unavailable_total",
            &["action=\"refused\""]
        ),
        3.0
    );
    // Only admitted calls reach billing.
    assert_eq!(mock.recorder.len(), 1);

    redis.restart();
    wait_for_metric(&gw, "tollgate_redis_up", &[], 1.0).await;
    assert_eq!(statuses(&gw, KEY, 1).await, [200]);
}

#[tokio::test]
async fn in_flight_cap_per_key_frees_when_requests_end() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, "limits: { max_in_flight_per_key: 2 }\n".into()).await;
    let slow = [("x-mock-ttft-ms", "1500")];
    let first = tokio::spawn({
        let url = gw.url(PATH);
        async move { post_json(&url, Some(KEY), &chat(), &slow).await.status() }
    });
    let second = tokio::spawn({
        let url = gw.url(PATH);
        async move { post_json(&url, Some(KEY), &chat(), &slow).await.status() }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.recorder.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "slow requests never reached the mock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..2 {
        let r = send(&gw, KEY, &[]).await;
        assert_eq!(r.status(), 429);
        assert_eq!(header(&r, "retry-after").unwrap(), "1");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "RATE_LIMITED");
    }
    // Another key is not affected.
    assert_eq!(statuses(&gw, KEY_B, 1).await, [200]);
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(second.await.unwrap(), 200);
    // Both slots are free again: each guard dropped with its request (which ends on the
    // gateway just after the client has read the response, hence the short wait).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let both = futures_util::future::join_all((0..2).map(|_| send(&gw, KEY, &[]))).await;
        if both.iter().all(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the in-flight slots were never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let m = gw.metrics().await;
    assert!(metric_value(&m, "tollgate_rate_limited_total", &["reason=\"in_flight\""]) >= 2.0);
}

#[tokio::test]
async fn an_unreachable_redis_at_start_up_does_not_stop_the_gateway() {
    let mock = Mock::start().await;
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let gw = gateway(
        &mock,
        format!(
            "limits: {{ requests_per_minute: 2 }}\n{}",
            redis_yaml(&dead, "t:")
        ),
    )
    .await;
    assert_eq!(statuses(&gw, KEY, 3).await, [200, 200, 429]);
}

/// The Lua script and the Rust windows are the same algorithm: replay one random sequence of
/// admissions and token charges through both (with explicit clocks) and compare every answer.
#[tokio::test]
async fn the_redis_script_and_the_in_process_windows_agree() {
    let url = shared_redis();
    let client =
        fred::types::Builder::from_config(fred::types::config::Config::from_url(&url).unwrap())
            .build()
            .unwrap();
    client.init().await.unwrap();
    let _: String = client.script_load(SCRIPT).await.unwrap();
    let sha = fred::util::sha1_hash(SCRIPT);
    let prefix = unique_prefix();
    let key = |w: &str| format!("{prefix}rl:{{{w}}}");
    let limits = [
        WalletLimits {
            requests_per_minute: Some(7),
            requests_per_day: Some(40),
            tokens_per_minute: Some(300),
            max_in_flight_per_key: None,
        },
        WalletLimits {
            requests_per_minute: Some(3),
            ..WalletLimits::default()
        },
        WalletLimits {
            requests_per_day: Some(5),
            tokens_per_minute: Some(50),
            ..WalletLimits::default()
        },
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for (i, l) in limits.iter().enumerate() {
        let wallet = format!("w{i}");
        let mut rust = WalletWindows::default();
        let mut now = 1_763_800_000_000u64 + rnd(10_000);
        let mut refused = 0;
        for step in 0..1_000 {
            match rnd(20) {
                0 => now += 3_600_000 + rnd(3_600_000),
                1..=5 => now += rnd(20_000),
                _ => now += rnd(2_000),
            }
            if rnd(3) == 0 {
                let tokens = rnd(120);
                rust.charge_tokens(tokens, now);
                let _: i64 = client
                    .evalsha(&sha, key(&wallet), charge_args(tokens, now))
                    .await
                    .unwrap();
                continue;
            }
            let want = rust.admit(l, now);
            let reply: Vec<i64> = client
                .evalsha(&sha, key(&wallet), admit_args(l, now))
                .await
                .unwrap();
            let got = parse_reply(&reply).unwrap();
            assert_eq!(got, want, "wallet {i}, step {step}, now {now}");
            refused += usize::from(want.refused.is_some());
        }
        assert!(
            refused > 10,
            "the sequence should hit the limits ({refused})"
        );
    }
    // Reasons come back as the same enum.
    assert_eq!(Reason::from_code(3), Some(Reason::TokensPerMinute));
    let _ = client.quit().await;
}
