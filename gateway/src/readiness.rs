//! `/ready`: whether this node should be sent traffic, on the public port and the admin
//! listener (`/health` stays a liveness answer that touches nothing).
//!
//! Each dependency is a named [`Check`] — `app.rs` wires Postgres, Redis and the chain RPC, and
//! a new dependency (a local spool) adds one line there. A round runs every check at once, each
//! bounded by [`CHECK_TIMEOUT`]; a round's answer is reused for [`TTL`], and while one round
//! runs other callers get the previous answer, so however often `/ready` is asked, a node runs
//! at most one round per [`TTL`] (a public endpoint cannot be used to hammer Postgres). The
//! answer is 503 while a required check fails, and from SIGTERM on ([`Readiness::drain`]), so
//! a load balancer stops sending traffic before the listeners close.

use bytes::Bytes;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a round's answer is reused.
pub const TTL: Duration = Duration::from_secs(1);
/// The limit of one check; past it the check counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

type Probe = Box<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync + 'static,
>;

/// One named dependency. `required`: the node cannot serve its traffic without it (503).
pub struct Check {
    pub name: &'static str,
    pub required: bool,
    probe: Probe,
}

impl Check {
    /// `probe` answers `Err(why)` when the dependency is unusable; `why` is shown in `/ready`,
    /// so it must name no secret (no URL with a password, no key).
    pub fn new<F, Fut>(name: &'static str, required: bool, probe: F) -> Check
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Check {
            name,
            required,
            probe: Box::new(move || Box::pin(probe())),
        }
    }
}

/// One round's results, in check order.
struct Round {
    at: Instant,
    results: Vec<Outcome>,
}

struct Outcome {
    ok: bool,
    latency_ms: u64,
    error: Option<String>,
}

pub struct Readiness {
    checks: Vec<Check>,
    draining: AtomicBool,
    last: Mutex<Option<Arc<Round>>>,
    /// Held by the one caller running a round.
    running: tokio::sync::Mutex<()>,
}

impl Readiness {
    pub fn new(checks: Vec<Check>) -> Readiness {
        Readiness {
            checks,
            draining: AtomicBool::new(false),
            last: Mutex::new(None),
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// From now on `/ready` answers 503 `draining` (SIGTERM: `jobs::shutdown`).
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    fn cached(&self) -> Option<Arc<Round>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn round(&self) -> Arc<Round> {
        let fresh = |r: &Arc<Round>| r.at.elapsed() < TTL;
        if let Some(r) = self.cached().filter(fresh) {
            return r;
        }
        // Another caller is running a round: its predecessor is the answer (the first round
        // of a node has none, so the first callers wait for it).
        let _running = match (self.running.try_lock(), self.cached()) {
            (Ok(guard), _) => guard,
            (Err(_), Some(previous)) => return previous,
            (Err(_), None) => self.running.lock().await,
        };
        if let Some(r) = self.cached().filter(fresh) {
            return r;
        }
        let mut runs = tokio::task::JoinSet::new();
        for (i, c) in self.checks.iter().enumerate() {
            let probe = (c.probe)();
            runs.spawn(async move {
                let started = Instant::now();
                let result = match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
                };
                let outcome = Outcome {
                    ok: result.is_ok(),
                    latency_ms: started.elapsed().as_millis() as u64,
                    error: result.err(),
                };
                (i, outcome)
            });
        }
        let mut results: Vec<Option<Outcome>> = self.checks.iter().map(|_| None).collect();
        while let Some(done) = runs.join_next().await {
            if let Ok((i, outcome)) = done {
                results[i] = Some(outcome);
            }
        }
        let results = results
            .into_iter()
            .map(|o| {
                o.unwrap_or(Outcome {
                    ok: false,
                    latency_ms: 0,
                    error: Some("the check panicked".into()),
                })
            })
            .collect();
        let round = Arc::new(Round {
            at: Instant::now(),
            results,
        });
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(round.clone());
        round
    }

    /// The `/ready` answer: 200 or 503, and
    /// `{"status":"ready"|"not_ready"|"draining","checks":[{"name","required","ok","latency_ms","error"}]}`.
    pub async fn answer(&self) -> (u16, Bytes) {
        let round = self.round().await;
        let checks: Vec<_> = self
            .checks
            .iter()
            .zip(&round.results)
            .map(|(c, o)| {
                json!({
                    "name": c.name,
                    "required": c.required,
                    "ok": o.ok,
                    "latency_ms": o.latency_ms,
                    "error": o.error,
                })
            })
            .collect();
        let failing = self.checks.iter().zip(&round.results).any(|(c, o)| c.required && !o.ok);
        let (status, word) = if self.is_draining() {
            (503, "draining")
        } else if failing {
            (503, "not_ready")
        } else {
            (200, "ready")
        };
        let body = json!({ "status": word, "checks": checks });
        (status, Bytes::from(body.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting(name: &'static str, required: bool, ok: bool, runs: Arc<AtomicUsize>) -> Check {
        Check::new(name, required, move || {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::Relaxed);
                if ok {
                    Ok(())
                } else {
                    Err("down".to_string())
                }
            }
        })
    }

    #[tokio::test]
    async fn a_failing_required_check_is_503_and_an_optional_one_is_not() {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Readiness::new(vec![
            counting("postgres", true, true, runs.clone()),
            counting("chain", false, false, runs.clone()),
        ]);
        let (status, body) = r.answer().await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["checks"][1]["error"], "down");
        let r = Readiness::new(vec![counting("postgres", true, false, runs)]);
        assert_eq!(r.answer().await.0, 503);
    }

    #[tokio::test]
    async fn answers_are_reused_for_the_ttl_whoever_asks() {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::new(Readiness::new(vec![counting("postgres", true, true, runs.clone())]));
        let asks: Vec<_> = (0..50)
            .map(|_| {
                let r = r.clone();
                tokio::spawn(async move { r.answer().await.0 })
            })
            .collect();
        for a in asks {
            assert_eq!(a.await.unwrap(), 200);
        }
        assert_eq!(runs.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_check_that_hangs_fails_at_its_timeout() {
        let r = Readiness::new(vec![Check::new("redis", true, || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })]);
        let started = Instant::now();
        let (status, body) = r.answer().await;
        assert_eq!(status, 503);
        assert!(started.elapsed() < CHECK_TIMEOUT + Duration::from_millis(500));
        assert!(String::from_utf8_lossy(&body).contains("no answer within"));
    }

    #[tokio::test]
    async fn draining_is_503_whatever_the_checks_say() {
        let r = Readiness::new(Vec::new());
        assert_eq!(r.answer().await.0, 200);
        r.drain();
        let (status, body) = r.answer().await;
        assert_eq!(status, 503);
        assert!(String::from_utf8_lossy(&body).contains("draining"));
    }
}
