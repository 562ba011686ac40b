//! `/ready` for load balancers: Postgres stopped → 503 naming it, restarted → 200, on both
//! listeners; a required Redis down → 503; SIGTERM → 503 `draining` while the listeners still
//! serve, then the process exits. `/health` stays 200 throughout (liveness).

use super::*;
use crate::common::ledger::{billing_yaml, credit, migrate};
use crate::common::pg::PrivateCluster;
use std::time::Duration;

async fn ready(url: String) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn check<'v>(v: &'v Value, name: &str) -> &'v Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {v}"))
}

/// The public answer, once both listeners answer `status`.
async fn wait_ready_status(gw: &Gateway, status: u16) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (a, v) = ready(gw.url("/ready")).await;
        let (b, _) = ready(format!("{}/ready", gw.admin)).await;
        if a == status && b == status {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/ready is not {status}: public {a}, admin {b}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn postgres_down_is_not_ready_and_back_is_ready() {
    let cluster = PrivateCluster::start();
    migrate(&cluster.url);
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.billing = billing_yaml(&cluster.url, "");
    let gw = Gateway::start(opts).await;

    let v = wait_ready_status(&gw, 200).await;
    assert_eq!(v["status"], "ready");
    assert_eq!(check(&v, "postgres")["ok"], true);
    assert_eq!(check(&v, "postgres")["required"], true);

    cluster.crash();
    let v = wait_ready_status(&gw, 503).await;
    assert_eq!(v["status"], "not_ready");
    assert_eq!(check(&v, "postgres")["ok"], false);
    // The pool keeps trying to connect for longer than the check may take.
    let why = check(&v, "postgres")["error"].as_str().unwrap().to_string();
    assert!(why == "unreachable" || why == "no answer within 1000 ms", "{why}");
    assert_eq!(reqwest::get(gw.url("/health")).await.unwrap().status(), 200);

    cluster.restart();
    let v = wait_ready_status(&gw, 200).await;
    assert_eq!(check(&v, "postgres")["ok"], true);
}

#[tokio::test]
async fn a_required_redis_that_is_down_is_not_ready() {
    let mock = Mock::start().await;
    let dead = free_port();
    for (failure, status) in [("closed", 503), ("open", 200)] {
        let mut opts = GatewayOpts::new(standard_providers(mock.addr));
        opts.extra = format!(
            "redis: {{ url: \"redis://127.0.0.1:{dead}\" }}\nlimits:\n  requests_per_minute: 100\n  redis_failure: {failure}\n"
        );
        let gw = Gateway::start(opts).await;
        // The node learns Redis is down from its first failed command or its background probe.
        let _ = gw.post("/v1/chat/completions", &chat(false), &[]).await;
        let v = wait_ready_status(&gw, status).await;
        let redis = check(&v, "redis");
        assert_eq!(redis["ok"], false, "{failure}: {v}");
        assert_eq!(redis["required"], failure == "closed");
    }
}

#[tokio::test]
async fn sigterm_drains_readiness_before_the_listeners_close() {
    let url = crate::common::ledger::migrated_db().await;
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.billing = billing_yaml(&url, "");
    opts.server = "  drain_delay: 3s\n".into();
    let mut gw = Gateway::start(opts).await;
    credit(&gw, WALLET, "1");
    wait_ready_status(&gw, 200).await;

    gw.signal("TERM");
    let v = wait_ready_status(&gw, 503).await;
    assert_eq!(v["status"], "draining");
    // The listeners still serve: the balancer is told first, nothing is refused yet.
    assert_eq!(reqwest::get(gw.url("/health")).await.unwrap().status(), 200);
    let r = gw.post("/v1/chat/completions", &chat(false), &[]).await;
    assert_eq!(r.status(), 200, "served while draining");
    assert!(
        gw.wait_exit(Duration::from_millis(500)).await.is_none(),
        "still running inside the drain delay"
    );
    let status = gw.wait_exit(Duration::from_secs(20)).await.expect("exits after the delay");
    assert!(status.success(), "{status}");
    assert!(reqwest::get(gw.url("/health")).await.is_err(), "the listener is closed");
}
