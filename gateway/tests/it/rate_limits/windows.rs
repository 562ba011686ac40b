//! The in-process windows: requests per minute and per day, tokens per minute, overrides.

use super::*;

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

#[tokio::test]
async fn tokens_per_minute_in_process() {
    tokens_per_minute_case("").await;
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
