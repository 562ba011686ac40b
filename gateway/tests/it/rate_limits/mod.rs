//! Per-wallet rate limits through real gateway processes: the in-process limiter, the
//! fleet-wide one on a real Redis (shared by two nodes), Redis outages in both failure modes,
//! and the per-key in-flight cap.
//!
//! Redis: `TOLLGATE_TEST_REDIS` (scripts/test.sh starts one), else `scripts/redis.sh` starts
//! `target/test-redis`. Tests that kill Redis run a `redis-server` of their own.

mod fleet;
mod windows;

use crate::common::redis::{redis_yaml, shared_redis, unique_prefix};
use crate::common::*;
use fred::interfaces::{ClientLike, LuaInterface};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tollgate_gateway::config::WalletLimits;
use tollgate_gateway::rate_limit::redis::{admit_args, charge_args, parse_reply, SCRIPT};
use tollgate_gateway::rate_limit::window::WalletWindows;
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
