//! Fleet-wide windows in Redis: one `EVALSHA` of `limiter.lua` per request (the script checks
//! and counts every window atomically, on Redis's clock), and tokens charged from `logging`
//! through a bounded queue that a background task drains in pipelined batches.

use super::window::{DayRing, MinuteRing, Quota, Reason, Verdict};
use crate::config::WalletLimits;
use crate::redis::RedisHandle;
use fred::clients::{Client, WithOptions};
use fred::error::Error as RedisError;
use fred::interfaces::{ClientLike, LuaInterface};
use fred::types::{ClusterHash, CustomCommand, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

pub const SCRIPT: &str = include_str!("limiter.lua");

/// Charges waiting for the background task; beyond this they are dropped (and counted).
const CHARGE_QUEUE: usize = 8_192;
/// Charges are sent at most this often: a queue that is drained on a timer never wakes the
/// draining task from the request path (waking it per charge cost 2.5 µs per request).
const CHARGE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Tokens to charge to a wallet.
type Charge = (Arc<str>, u64);

pub struct RedisLimiter {
    pub handle: Arc<RedisHandle>,
    sha: String,
    charges: mpsc::Sender<Charge>,
    queue: std::sync::Mutex<Option<mpsc::Receiver<Charge>>>,
}

/// The hash holding one wallet's windows (hash-tagged, for Redis Cluster).
pub fn wallet_key(handle: &RedisHandle, wallet: &str) -> String {
    handle.key(&format!("rl:{{{wallet}}}"))
}

/// `ARGV` of an `admit` call; `now_ms` 0 = Redis's clock.
pub fn admit_args(limits: &WalletLimits, now_ms: u64) -> Vec<Value> {
    let n = |v: u64| Value::Integer(i64::try_from(v).unwrap_or(i64::MAX));
    vec![
        Value::from("admit"),
        n(now_ms),
        n(limits.requests_per_minute.map_or(0, u64::from)),
        n(limits.requests_per_day.map_or(0, u64::from)),
        n(limits.tokens_per_minute.unwrap_or(0)),
        n(MinuteRing::BUCKETS),
        n(MinuteRing::WIDTH_MS),
        n(DayRing::BUCKETS),
        n(DayRing::WIDTH_MS),
    ]
}

/// `ARGV` of a `charge` call.
pub fn charge_args(tokens: u64, now_ms: u64) -> Vec<Value> {
    let n = |v: u64| Value::Integer(i64::try_from(v).unwrap_or(i64::MAX));
    vec![
        Value::from("charge"),
        n(now_ms),
        n(tokens),
        n(MinuteRing::BUCKETS),
        n(MinuteRing::WIDTH_MS),
    ]
}

/// The script's reply as a [`Verdict`].
pub fn parse_reply(r: &[i64]) -> Result<Verdict, String> {
    let [allowed, reason, retry, rl, rr, rz, tl, tr, tz] = r else {
        return Err(format!("unexpected limiter reply {r:?}"));
    };
    let quota = |l: i64, r: i64, z: i64| {
        (l >= 0).then(|| Quota {
            limit: l as u64,
            remaining: r.max(0) as u64,
            reset_ms: z.max(0) as u64,
        })
    };
    let refused = match (*allowed, Reason::from_code(*reason)) {
        (1, _) => None,
        (_, Some(reason)) => Some((reason, (*retry).max(0) as u64)),
        _ => return Err(format!("unexpected limiter reply {r:?}")),
    };
    Ok(Verdict {
        refused,
        requests: quota(*rl, *rr, *rz),
        tokens: quota(*tl, *tr, *tz),
    })
}

/// `EVALSHA sha 1 key args…`, sent as a plain command: fred never pipelines its own
/// `evalsha` (each would wait for the previous reply on the connection — one script at a time
/// per node), while a `NOSCRIPT` reply is harmless to us (nothing ran; `eval` loads and retries).
async fn evalsha<R: fred::types::FromValue>(
    cmd: &WithOptions<Client>,
    sha: &str,
    key: String,
    args: Vec<Value>,
) -> Result<R, RedisError> {
    let mut all = Vec::with_capacity(3 + args.len());
    all.push(Value::from(sha));
    all.push(Value::Integer(1));
    all.push(Value::from(key));
    all.extend(args);
    let evalsha = CustomCommand::new_static("EVALSHA", ClusterHash::Offset(2), false);
    cmd.custom(evalsha, all).await
}

fn is_noscript(e: &RedisError) -> bool {
    e.details().starts_with("NOSCRIPT")
}

impl RedisLimiter {
    pub fn new(handle: Arc<RedisHandle>) -> Self {
        let (tx, rx) = mpsc::channel(CHARGE_QUEUE);
        RedisLimiter {
            handle,
            sha: fred::util::sha1_hash(SCRIPT),
            charges: tx,
            queue: std::sync::Mutex::new(Some(rx)),
        }
    }

    /// `EVALSHA`, loading the script on `NOSCRIPT` (a restarted or new Redis); every command
    /// bounded by `redis.timeout`.
    pub async fn eval(&self, key: &str, args: impl Fn() -> Vec<Value>) -> Result<Vec<i64>, String> {
        let h = &self.handle;
        let run = async {
            match evalsha(h.cmd(), &self.sha, key.to_string(), args()).await {
                Err(e) if is_noscript(&e) => {
                    h.cmd().script_load::<String, _>(SCRIPT).await?;
                    evalsha(h.cmd(), &self.sha, key.to_string(), args()).await
                }
                other => other,
            }
        };
        // Each command carries `redis.timeout` itself (fred then never sends it late, e.g. after
        // a reconnection); this outer bound, past those, only guards against the unexpected.
        let limit = h.timeout() * 3 + std::time::Duration::from_millis(10);
        match tokio::time::timeout(limit, run).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {limit:?}")),
        }
    }

    /// Check and count one request; `Err` when Redis did not answer (the caller falls back).
    pub async fn admit(&self, wallet: &str, limits: &WalletLimits) -> Result<Verdict, ()> {
        let key = wallet_key(&self.handle, wallet);
        let reply = self.eval(&key, || admit_args(limits, 0)).await;
        match reply.and_then(|r| parse_reply(&r)) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.handle.report_error("rate_limit", &e);
                Err(())
            }
        }
    }

    /// Queue a token charge; never waits. `false` when the queue is full (the charge is lost).
    pub fn charge(&self, wallet: Arc<str>, tokens: u64) -> bool {
        self.charges.try_send((wallet, tokens)).is_ok()
    }

    /// Drain the charge queue every `CHARGE_INTERVAL` until the process ends: aggregate per
    /// wallet, one `EVALSHA charge` per wallet (concurrent, so pipelined), one batch at a time.
    pub async fn run_charges(&self) {
        let Some(mut rx) = self.queue.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let mut buf = Vec::new();
        let mut per_wallet: HashMap<Arc<str>, u64> = HashMap::new();
        loop {
            tokio::time::sleep(CHARGE_INTERVAL).await;
            while let Ok(c) = rx.try_recv() {
                buf.push(c);
            }
            if buf.is_empty() {
                if rx.is_closed() {
                    return;
                }
                continue;
            }
            for (w, n) in buf.drain(..) {
                *per_wallet.entry(w).or_default() += n;
            }
            if !self.handle.is_up() {
                per_wallet.clear();
                self.handle.report_error("tpm_charge", &"redis is down");
                continue;
            }
            // One command per wallet, all in flight at once: fred pipelines them on the wire.
            let mut batch = tokio::task::JoinSet::new();
            for (w, n) in per_wallet.drain() {
                let key = wallet_key(&self.handle, &w);
                let cmd = self.handle.cmd().clone();
                let sha = self.sha.clone();
                batch.spawn(async move {
                    let r = evalsha::<i64>(&cmd, &sha, key.clone(), charge_args(n, 0)).await;
                    (key, n, r)
                });
            }
            while let Some(done) = batch.join_next().await {
                let Ok((key, n, r)) = done else { continue };
                match r {
                    Ok(_) => {}
                    // A restarted Redis has no script: `eval` loads it.
                    Err(e) if is_noscript(&e) => {
                        if let Err(e) = self.eval(&key, || charge_args(n, 0)).await {
                            self.handle.report_error("tpm_charge", &e);
                        }
                    }
                    Err(e) => self.handle.report_error("tpm_charge", &e),
                }
            }
        }
    }
}
