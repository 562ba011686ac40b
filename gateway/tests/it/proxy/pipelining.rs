//! HTTP/1.1 pipelining: a client may send its next request before the first is answered.
//! Either both are answered, in order, or the gateway answers the first and closes — and then
//! the second was neither sent upstream nor billed. Never a request served but not answered,
//! nor the second response given to the first request.

use crate::common::*;
use std::io::{Read, Write};
use std::time::Duration;

fn chat_request(host: &str, marker: &str, last: bool) -> String {
    let body = format!(
        r#"{{"model":"gpt-test","max_tokens":8,"messages":[{{"role":"user","content":"{marker}"}}]}}"#
    );
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n{}\r\n{body}",
        body.len(),
        if last { "connection: close\r\n" } else { "" },
    )
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_or_not_served() {
    let mock = Mock::start().await;
    let gw = Gateway::start(GatewayOpts::new(standard_providers(mock.addr))).await;
    let host = gw.base.trim_start_matches("http://").to_string();
    let both = format!(
        "{}{}",
        chat_request(&host, "first", false),
        chat_request(&host, "second", true)
    );
    let text = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(both.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();

    let answered = text.matches("HTTP/1.1 200").count();
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("x-request-id: "))
        .collect();
    assert!((1..=2).contains(&answered), "{text}");
    assert_eq!(ids.len(), answered, "{text}");
    // Served upstream = answered downstream, and each answer is the one for its request.
    let sent = mock.recorder.requests();
    let upstream = sent.len();
    assert_eq!(
        upstream, answered,
        "served {upstream}, answered {answered}:\n{text}"
    );
    for (i, marker) in ["first", "second"].iter().take(answered).enumerate() {
        let outcome = gw.outcome(ids[i]).await;
        assert_eq!(outcome["http_status"], 200, "{outcome}");
        let body = String::from_utf8_lossy(&sent[i].body).into_owned();
        assert!(body.contains(marker), "request {i} sent upstream: {body}");
    }
    eprintln!("pipelining: {answered} of 2 answered");
    let billed = gw.outcomes().await.len();
    assert_eq!(billed, answered, "billed {billed}, answered {answered}");
}
