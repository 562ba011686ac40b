//! Fleet-wide windows in Redis: one `EVALSHA` of `limiter.lua` per request (the script checks
//! and counts every window atomically, on Redis's clock), and tokens charged from `logging`
//! through a bounded queue that a background task drains in pipelined batches.
//!
//! Admissions are coalesced: a request queues its `EVALSHA` and wakes the batcher task, which
//! first yields once (so that the other requests ready on this worker queue theirs too) and
//! then writes everything queued as one pipeline — one socket write per batch instead of one
//! per request, which is most of what Redis costs the gateway (docs/benchmarks.md).

use super::window::{DayRing, MinuteRing, Quota, Reason, Verdict, WalletLimits};
use crate::redis_client::RedisHandle;
use fred::error::Error as RedisError;
use fred::interfaces::LuaInterface;
use fred::types::Value;
use fred::interfaces::ClientLike;
use fred::types::{ClusterHash, CustomCommand};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, Notify};

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
    batcher: Arc<Batcher>,
}

type Reply = Result<Vec<i64>, String>;

/// One queued admission: `EVALSHA` arguments and where its reply goes.
struct Pending {
    args: Vec<Value>,
    reply: oneshot::Sender<Reply>,
}

/// Coalesces concurrent admissions into pipelines (see the module docs).
struct Batcher {
    handle: Arc<RedisHandle>,
    sha: String,
    queue: Mutex<Vec<Pending>>,
    wake: Notify,
    running: AtomicBool,
}

impl Batcher {
    async fn run(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            // Let the requests already runnable on this worker queue their calls first.
            tokio::task::yield_now().await;
            let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
            if !batch.is_empty() {
                tokio::spawn(self.clone().send(batch));
            }
        }
    }

    async fn send(self: Arc<Self>, batch: Vec<Pending>) {
        let evalsha = CustomCommand::new_static("EVALSHA", ClusterHash::Offset(2), false);
        // Also starts the connection on this runtime if nothing has yet.
        let pipe = self.handle.pipeline();
        for p in &batch {
            let _: Result<(), _> = pipe.custom(evalsha.clone(), p.args.clone()).await;
        }
        let results = pipe.try_all::<Vec<i64>>().await;
        let mut results = results.into_iter();
        for p in batch {
            let r = match results.next() {
                Some(Ok(v)) => Ok(v),
                // A new or restarted Redis has no script: load it, then this call alone.
                Some(Err(e)) if is_noscript(&e) => self.retry_loaded(p.args).await,
                Some(Err(e)) => Err(e.to_string()),
                None => Err("no reply in pipeline".to_string()),
            };
            let _ = p.reply.send(r);
        }
    }

    async fn retry_loaded(&self, args: Vec<Value>) -> Reply {
        let cmd = self.handle.cmd();
        cmd.script_load::<String, _>(SCRIPT)
            .await
            .map_err(|e| e.to_string())?;
        let evalsha = CustomCommand::new_static("EVALSHA", ClusterHash::Offset(2), false);
        cmd.custom(evalsha, args).await.map_err(|e| e.to_string())
    }
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
        let sha = fred::util::sha1_hash(SCRIPT);
        RedisLimiter {
            batcher: Arc::new(Batcher {
                handle: handle.clone(),
                sha: sha.clone(),
                queue: Mutex::new(Vec::new()),
                wake: Notify::new(),
                running: AtomicBool::new(false),
            }),
            handle,
            sha,
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
        let b = &self.batcher;
        let mut args = Vec::with_capacity(12);
        args.push(Value::from(b.sha.as_str()));
        args.push(Value::Integer(1));
        args.push(Value::from(wallet_key(&self.handle, wallet)));
        args.extend(admit_args(limits, 0));
        let (tx, rx) = oneshot::channel();
        b.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Pending { args, reply: tx });
        if !b.running.swap(true, Ordering::AcqRel) {
            // On the runtime of the first request: a proxy worker.
            tokio::spawn(b.clone().run());
        }
        b.wake.notify_one();
        let reply = match tokio::time::timeout(self.handle.timeout(), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("reply dropped".to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.handle.timeout())),
        };
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
