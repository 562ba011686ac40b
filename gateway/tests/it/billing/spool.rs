//! The billing spool: SIGKILL under load at random moments loses no record of a response a
//! client received complete, and none is written twice; a swept lease's charges are still
//! written; a corrupt spool stops start-up; a full disk refuses paid work instead of losing it.

use super::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// What the load saw: request ids of responses received complete, and of those cut.
#[derive(Default)]
struct Seen {
    complete: BTreeSet<String>,
    cut: usize,
}

/// `clients` loops of requests (every other one streamed) until the gateway dies.
fn load(
    gw: &Gateway,
    key: &str,
    clients: usize,
    seen: &Arc<Mutex<Seen>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|i| {
            let (url, key, seen) = (
                gw.url("/v1/chat/completions"),
                key.to_string(),
                seen.clone(),
            );
            tokio::spawn(async move {
                let c = client();
                for n in 0.. {
                    let mut body = chat(16);
                    let stream = (i + n) % 2 == 1;
                    body["stream"] = json!(stream);
                    let Ok(r) = c.post(&url).bearer_auth(&key).json(&body).send().await else {
                        return;
                    };
                    let id = r
                        .headers()
                        .get("x-request-id")
                        .map(|v| v.to_str().unwrap().to_string());
                    let status = r.status();
                    let complete = match r.bytes().await {
                        Ok(b) if stream => b.ends_with(b"data: [DONE]\n\n"),
                        Ok(b) => serde_json::from_slice::<Value>(&b)
                            .is_ok_and(|v| v["usage"].is_object()),
                        Err(_) => false,
                    };
                    let mut s = seen.lock().unwrap();
                    match (status.as_u16(), id, complete) {
                        (200, Some(id), true) => {
                            s.complete.insert(id);
                        }
                        (200, _, false) => s.cut += 1,
                        (other, _, _) => panic!("unexpected status {other}"),
                    }
                }
            })
        })
        .collect()
}

/// request_id → buyer_cost of every row.
async fn request_log(url: &str) -> BTreeMap<String, i64> {
    pg::client(url)
        .await
        .query("SELECT request_id, buyer_cost FROM request_log", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn spool_opts(mock: &Mock, url: &str, dir: &std::path::Path, extra: &str) -> GatewayOpts {
    let mut opts = GatewayOpts::new(providers(mock.addr));
    opts.billing = billing_yaml(
        url,
        &format!("  spool: {{ dir: \"{}\" }}\n{extra}", dir.display()),
    );
    opts
}

/// Three rounds: load from 8 clients, SIGKILL after a random 150–650 ms, restart on the same
/// spool (which replays it). Every response a client received complete has exactly one row.
#[tokio::test]
async fn sigkill_under_load_loses_no_record_of_a_served_response() {
    let url = migrated_db().await;
    let dir = spool_dir();
    let mock = Mock::start().await;
    let mut gw = Gateway::start(spool_opts(&mock, &url, &dir, "")).await;
    let key = create_key(&gw, BUYER);
    credit(&gw, BUYER, "20");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    eprintln!("kill moments seeded with {seed}");
    let mut rng = seed | 1;
    let seen = Arc::new(Mutex::new(Seen::default()));
    for _ in 0..3 {
        let tasks = load(&gw, &key, 8, &seen);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_millis(150 + rng % 500)).await;
        gw.signal("KILL");
        for t in tasks {
            t.await.unwrap();
        }
        assert!(gw.wait_exit(Duration::from_secs(5)).await.is_some());
        gw = Gateway::start(spool_opts(&mock, &url, &dir, "")).await;
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let rows = request_log(&url).await;
    let missing: Vec<&String> = seen
        .complete
        .iter()
        .filter(|id| !rows.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} complete responses have no row (first: {:?})",
        missing.len(),
        seen.complete.len(),
        missing.first()
    );
    for id in &seen.complete {
        assert_eq!(rows[id], 63, "{id} charged once, in full");
    }
    assert!(
        seen.complete.len() > 50,
        "the load ran ({} complete)",
        seen.complete.len()
    );
    eprintln!(
        "{} complete responses, {} cut by the kills, {} rows",
        seen.complete.len(),
        seen.cut,
        rows.len()
    );
    // Each row's charge debited once (request_id is the key: a row cannot be twice).
    let (balance, _, charged, _) = books(&url, BUYER).await;
    assert_eq!(balance, 20_000_000 - charged);
    ledger_check(&gw);
}

/// The writing node was killed with records in its spool and not in Postgres; its lease was
/// swept and another node leased all the rest of the balance before the restart. The charges
/// are still written: out of nothing the wallet has free, so to platform:uncollected.
#[tokio::test]
async fn replayed_charges_of_a_swept_lease_are_not_dropped() {
    let url = migrated_db().await;
    let dir = spool_dir();
    let mock = Mock::start().await;
    // Batches wait 60 s: nothing reaches Postgres before the kill but the spool.
    let extra = "  node_id: gw-a\n  batch_interval: 60s\n  lease_chunk_usd: 0.01\n";
    let mut gw = Gateway::start(spool_opts(&mock, &url, &dir, extra)).await;
    let key = create_key(&gw, BUYER);
    credit(&gw, BUYER, "1");
    let mut ids = Vec::new();
    for _ in 0..5 {
        let r = post_json(&gw.url("/v1/chat/completions"), Some(&key), &chat(16), &[]).await;
        assert_eq!(r.status(), 200);
        ids.push(request_id(&r));
        r.bytes().await.unwrap();
    }
    gw.signal("KILL");
    assert!(gw.wait_exit(Duration::from_secs(5)).await.is_some());
    assert!(
        request_log(&url).await.is_empty(),
        "nothing was committed before the kill"
    );

    // The sweep of gw-a's lease, then another node leasing everything left.
    let c = pg::client(&url).await;
    c.batch_execute(&format!(
        "UPDATE wallets SET locked = locked - (SELECT amount FROM leases WHERE node_id = 'gw-a') WHERE address = '{BUYER}';
         DELETE FROM leases WHERE node_id = 'gw-a';
         INSERT INTO leases (node_id, wallet, amount, expires_at)
             SELECT 'gw-c', '{BUYER}', a.balance - w.locked, now() + interval '1 hour'
             FROM wallets w JOIN accounts a ON a.id = w.account_id WHERE w.address = '{BUYER}';
         UPDATE wallets SET locked = (SELECT balance FROM accounts WHERE id = wallets.account_id) WHERE address = '{BUYER}';"
    ))
    .await
    .unwrap();

    let gw = Gateway::start(spool_opts(&mock, &url, &dir, "  node_id: gw-b\n")).await;
    let rows = request_log(&url).await;
    for id in &ids {
        assert_eq!(rows.get(id), Some(&63), "{id} replayed");
    }
    let (balance, locked, _, _) = books(&url, BUYER).await;
    assert_eq!(
        (balance, locked),
        (1_000_000, 1_000_000),
        "gw-c's lease untouched"
    );
    let uncollected: i64 = c
        .query_one(
            "SELECT balance FROM accounts WHERE kind = 'platform' AND ref = 'uncollected'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(uncollected, -5 * 63);
    ledger_check(&gw);
}

/// A bad record with good ones after it is corruption, not a torn tail: start-up stops and
/// names the file and the offset.
#[tokio::test]
async fn a_corrupt_spool_stops_start_up_with_file_and_offset() {
    let url = migrated_db().await;
    let dir = spool_dir();
    let mock = Mock::start().await;
    let extra = "  batch_interval: 60s\n";
    let mut gw = Gateway::start(spool_opts(&mock, &url, &dir, extra)).await;
    let key = create_key(&gw, BUYER);
    credit(&gw, BUYER, "1");
    for _ in 0..3 {
        let r = post_json(&gw.url("/v1/chat/completions"), Some(&key), &chat(16), &[]).await;
        r.bytes().await.unwrap();
    }
    gw.signal("KILL");
    gw.wait_exit(Duration::from_secs(5)).await.unwrap();
    let seg = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "spool"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let first = 10 + n;
    bytes[first + 30] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();

    let opts = spool_opts(&mock, &url, &dir, extra);
    let config = temp_path("tollgate-corrupt", ".yaml");
    std::fs::write(
        &config,
        format!(
            "server: {{ listen: 127.0.0.1:{} }}\nmetrics: {{ listen: 127.0.0.1:{} }}\nbilling:\n{}providers:{}",
            free_port(),
            free_port(),
            opts.billing,
            opts.providers
        ),
    )
    .unwrap();
    let out = std::process::Command::new(tollgate_bin())
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&config);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&seg.display().to_string()) && err.contains(&format!("offset {first}")),
        "{err}"
    );
    assert!(
        request_log(&url).await.is_empty(),
        "nothing replayed from a corrupt spool"
    );
}

/// A full disk: the write that fails withholds its response's end, the spool refuses paid work
/// (503 BILLING_UNAVAILABLE) until there is room again, and every complete response is billed.
#[tokio::test]
async fn a_full_disk_refuses_paid_work_and_recovers() {
    let Some(disk) = crate::common::disk::SmallDisk::mount("256k") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let dir = disk.path().to_path_buf();
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let spool = dir.join("spool");
    let gw = Gateway::start(spool_opts(&mock, &url, &spool, "")).await;
    let key = create_key(&gw, BUYER);
    credit(&gw, BUYER, "5");
    // Leave about 8 KiB: a dozen records.
    let filler = disk.fill(8);

    let (mut complete, mut refused) = (Vec::new(), 0);
    let c = client();
    for _ in 0..200 {
        let sent = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat(16))
            .send()
            .await;
        // The request whose record hit the full disk does not get its response.
        let Ok(r) = sent else { continue };
        match r.status().as_u16() {
            200 => {
                let id = request_id(&r);
                if r.bytes()
                    .await
                    .is_ok_and(|b| serde_json::from_slice::<Value>(&b).is_ok())
                {
                    complete.push(id);
                }
            }
            503 => {
                assert_eq!(
                    r.json::<Value>().await.unwrap()["error"],
                    "BILLING_UNAVAILABLE"
                );
                refused += 1;
                if refused == 5 {
                    break;
                }
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(refused, 5, "a full spool refuses paid work");
    // ... and says so on /ready, so a balancer stops sending traffic (a fixed word, no path).
    let ready = client().get(gw.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let v: Value = ready.json().await.unwrap();
    let spool_check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "spool")
        .cloned()
        .unwrap();
    assert_eq!(
        (&spool_check["ok"], &spool_check["required"], &spool_check["error"]),
        (&json!(false), &json!(true), &json!("failing")),
        "{v}"
    );
    std::fs::remove_file(&filler).unwrap();
    wait_for(
        "served again once there is room",
        Duration::from_secs(10),
        || async {
            let r = post_json(&gw.url("/v1/chat/completions"), Some(&key), &chat(16), &[]).await;
            r.status() == 200
        },
    )
    .await;
    // (`/ready` reuses a round's answer for a second.)
    wait_for("ready again once the spool writes", Duration::from_secs(5), || async {
        let r = client().get(gw.url("/ready")).send().await.unwrap();
        r.status() == 200
    })
    .await;
    wait_for(
        "every complete response billed",
        Duration::from_secs(10),
        || async {
            let rows = request_log(&url).await;
            complete.iter().all(|id| rows.contains_key(id))
        },
    )
    .await;
    ledger_check(&gw);
}
