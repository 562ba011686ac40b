//! Fleet-wide windows in Redis: one `EVALSHA` of `limiter.lua` per request (the script checks
//! and counts every window atomically, on Redis's clock), and tokens charged from `logging`
//! through a bounded queue that a background task drains in pipelined batches.

use super::window::{DayRing, MinuteRing, Quota, Reason, Verdict, WalletLimits};
use crate::redis_client::RedisHandle;
use fred::error::Error as RedisError;
use fred::interfaces::LuaInterface;
use fred::types::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

pub const SCRIPT: &str = include_str!("limiter.lua");

/// Charges waiting for the background task; beyond this they are dropped (and counted).
const CHARGE_QUEUE: usize = 8_192;
/// Wallets charged per pipelined batch.
const CHARGE_BATCH: usize = 256;

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

    /// `EVALSHA`, loading the script on `NOSCRIPT` (a restarted or new Redis), bounded by
    /// `redis.timeout` overall.
    pub async fn eval(&self, keys: Vec<String>, args: Vec<Value>) -> Result<Vec<i64>, String> {
        let h = &self.handle;
        let run = async {
            match h
                .cmd()
                .evalsha::<Vec<i64>, _, _, _>(self.sha.as_str(), keys.clone(), args.clone())
                .await
            {
                Err(e) if is_noscript(&e) => {
                    h.cmd().script_load::<String, _>(SCRIPT).await?;
                    h.cmd().evalsha(self.sha.as_str(), keys, args).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(h.timeout(), run).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", h.timeout())),
        }
    }

    /// Check and count one request; `Err` when Redis did not answer (the caller falls back).
    pub async fn admit(&self, wallet: &str, limits: &WalletLimits) -> Result<Verdict, ()> {
        let key = wallet_key(&self.handle, wallet);
        let reply = self.eval(vec![key], admit_args(limits, 0)).await;
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

    /// Drain the charge queue until the process ends: aggregate per wallet, one
    /// `EVALSHA charge` per wallet (concurrent, so pipelined), one batch at a time.
    pub async fn run_charges(&self) {
        let Some(mut rx) = self.queue.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let mut buf = Vec::with_capacity(CHARGE_BATCH);
        let mut per_wallet: HashMap<Arc<str>, u64> = HashMap::new();
        while rx.recv_many(&mut buf, CHARGE_BATCH).await > 0 {
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
                    let r = cmd
                        .evalsha::<i64, _, _, _>(sha, key.clone(), charge_args(n, 0))
                        .await;
                    (key, n, r)
                });
            }
            while let Some(done) = batch.join_next().await {
                let Ok((key, n, r)) = done else { continue };
                match r {
                    Ok(_) => {}
                    // A restarted Redis has no script: `eval` loads it.
                    Err(e) if is_noscript(&e) => {
                        if let Err(e) = self.eval(vec![key], charge_args(n, 0)).await {
                            self.handle.report_error("tpm_charge", &e);
                        }
                    }
                    Err(e) => self.handle.report_error("tpm_charge", &e),
                }
            }
        }
    }
}
