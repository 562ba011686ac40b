//! Zero-downtime upgrade (and config change): `tollgate --upgrade` takes the listening
//! sockets over from the running process, which is sent SIGQUIT, finishes what it serves and
//! exits. A stream in flight on the old process completes; a client connecting throughout
//! is never refused; the new process serves with its (changed) config.

use super::*;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The new process, killed when the test ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn upgrade_hands_over_sockets_without_refusing_a_connection_or_cutting_a_stream() {
    let mock = Mock::start().await;
    let sock = temp("upgrade.sock");
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.server = format!("  upgrade_sock: {}\n", sock.display());
    let mut old = Gateway::start(opts).await;

    // A stream that outlives the hand-over (the old process keeps accepting for 5 s after it
    // sends its sockets): 80 tokens, 100 ms apart.
    let mut stream = gw_stream(&old).await;
    let first = stream.chunk().await.unwrap().expect("the stream started");

    // A client that connects afresh, over and over, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let client = {
        let (stop, served, failed, failures) = (
            stop.clone(),
            served.clone(),
            failed.clone(),
            failures.clone(),
        );
        let url = old.url("/v1/chat/completions");
        tokio::spawn(async move {
            // No pooling: every request is a new connection.
            let c = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                let r = c
                    .post(&url)
                    .bearer_auth(KEY)
                    .json(&chat("gpt-test", false))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.bytes().await;
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("status {}", r.status()));
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        failures.lock().unwrap().push(format!("{e:?}"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // The new process: the same listeners, one more model (a config change applied the same way).
    let text = std::fs::read_to_string(&old.config.0).unwrap();
    let changed = text.replace(
        "      - id: gpt-test\n",
        "      - id: gpt-new\n        upstream_model: mock-gpt\n        pricing: { prompt: 1, completion: 2 }\n      - id: gpt-test\n",
    );
    assert_ne!(changed, text);
    let new_config = temp("upgraded.yaml");
    std::fs::write(&new_config, changed).unwrap();
    let new = Process(
        Command::new(tollgate_bin())
            .arg("-c")
            .arg(&new_config)
            .arg("--upgrade")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // It listens on the upgrade socket once it is ready; then the old one is told to hand over.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "the new process never waited for the sockets"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    old.signal("QUIT");

    // The old process drains (its stream included) and exits.
    let status = old
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("the old process exited");
    assert!(status.success(), "{status}");
    let mut body = first.to_vec();
    while let Some(chunk) = stream.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8(body).unwrap();
    let tokens = sse_events(&body)
        .iter()
        .filter(|(_, d)| d.contains("\"content\":\"tok"))
        .count();
    assert_eq!(tokens, 80, "every token of the in-flight stream arrived");
    assert!(body.contains("[DONE]"));

    // The new process serves: its config's new model is there; the admin listener moved too.
    let (status, _) = old
        .served("/v1/chat/completions", &chat("gpt-new", false), &[])
        .await;
    assert_eq!(status, 200, "the new config serves");
    assert_eq!(
        reqwest::get(format!("{}/health", old.admin))
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    client.await.unwrap();
    let (served, failed) = (
        served.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    assert_eq!(
        failed,
        0,
        "refused or failed during the switch: {:?}",
        failures.lock().unwrap()
    );
    assert!(
        served > 100,
        "the client kept going throughout ({served} requests)"
    );
    drop(new);
    let _ = std::fs::remove_file(&new_config);
    let _ = std::fs::remove_file(&sock);
}

async fn gw_stream(gw: &Gateway) -> reqwest::Response {
    let resp = gw
        .post(
            "/v1/chat/completions",
            &chat("gpt-test", true),
            &[
                ("x-mock-output-tokens", "80"),
                ("x-mock-inter-token-ms", "100"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    resp
}
