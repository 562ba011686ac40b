//! The node's Redis connection (`redis:` in the config), shared by everything that needs
//! fleet-wide state: the rate limiter and SIWE nonces.
//!
//! One multiplexed `fred` client: concurrent commands are pipelined on one connection, so a
//! busy node costs Redis one socket. Callers use [`RedisHandle::cmd`] (every command bounded
//! by `redis.timeout`, one attempt) and skip Redis entirely while [`RedisHandle::is_up`] is
//! false: after the first failure the node stops waiting on Redis until a background probe
//! sees it answer again. `fred` reconnects on its own (exponential back-off up to 2 s).
//!
//! The connection task runs on the runtime of the first caller of [`RedisHandle::cmd`] — a
//! proxy worker — so a request's command and its reply are handled on the thread that serves
//! the request. (From the background services' runtime every command cost two cross-thread
//! wake-ups: the Redis limiter's throughput went from 0.56× to 0.80× of no limits when that
//! was fixed; docs/benchmarks.md.) Health is watched on a second connection of its own, so an
//! idle node knows whether Redis is up without starting the main one off the proxy runtime.

use crate::config::RedisConfig;
use crate::metrics::Metrics;
use async_trait::async_trait;
use fred::clients::{Client, WithOptions};
use fred::interfaces::ClientLike;
use fred::types::config::{
    Config as FredConfig, ConnectionConfig, Options, ReconnectPolicy, UnresponsiveConfig,
};
use fred::types::{Builder, ConnectHandle};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct RedisHandle {
    client: Client,
    /// `client` with the per-command options applied.
    bounded: WithOptions<Client>,
    timeout: Duration,
    prefix: String,
    up: AtomicBool,
    metrics: Arc<Metrics>,
    /// The connection task has been started (and has not ended).
    started: AtomicBool,
    task: Mutex<Option<ConnectHandle>>,
    /// A second connection, for the background health probe.
    probe: Client,
}

impl RedisHandle {
    /// Build the clients. Nothing connects yet: the first [`cmd`](Self::cmd) connects the main
    /// one (on its caller's runtime), [`RedisService`] the probe.
    pub fn new(config: &RedisConfig, metrics: Arc<Metrics>) -> Result<Arc<Self>, String> {
        let fc = FredConfig::from_url(config.url.expose()).map_err(|e| e.to_string())?;
        // `fail_fast` (the default): the first connection is tried at once; if it fails its task
        // ends (`RedisService` reaps it) and the next `cmd()` starts another. Once connected,
        // fred's reconnect policy takes over.
        let client = Builder::from_config(fc)
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .set_connection_config(ConnectionConfig {
                connection_timeout: config.connect_timeout,
                internal_command_timeout: config.connect_timeout,
                // Commands are never replayed after a connection drops: the caller has moved on.
                max_command_attempts: 1,
                // A connection that stops answering is dropped and re-established.
                unresponsive: UnresponsiveConfig {
                    max_timeout: Some(config.connect_timeout.max(Duration::from_secs(1))),
                    interval: Duration::from_millis(250),
                },
                ..ConnectionConfig::default()
            })
            .build()
            .map_err(|e| e.to_string())?;
        // The timeout is also fred's: a command still queued when it expires (e.g. while
        // reconnecting) is dropped, never sent late.
        let options = Options {
            timeout: Some(config.timeout),
            max_attempts: Some(1),
            ..Options::default()
        };
        let bounded = client.with_options(&options);
        let probe = client.clone_new();
        metrics.set_redis_up(false);
        Ok(Arc::new(RedisHandle {
            client,
            bounded,
            timeout: config.timeout,
            prefix: config.key_prefix.clone(),
            up: AtomicBool::new(true),
            metrics,
            started: AtomicBool::new(false),
            task: Mutex::new(None),
            probe,
        }))
    }

    /// The raw client (no timeout applied). Prefer [`cmd`](Self::cmd), which also starts the
    /// connection.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client with `redis.timeout` and a single attempt applied to every command. Let that
    /// timeout fire rather than dropping the future at the same moment (an outer
    /// `tokio::time::timeout` of exactly `redis.timeout`): fred marks a command that timed out
    /// and never sends it, but a dropped one still queued during a reconnection is sent when
    /// the connection is back.
    pub fn cmd(&self) -> &WithOptions<Client> {
        if !self.started.load(Ordering::Acquire) {
            self.start();
        }
        &self.bounded
    }

    /// Start the connection task on the calling runtime, unless it runs already.
    fn start(&self) {
        let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        if task.as_ref().is_none_or(|t| t.is_finished()) {
            *task = Some(self.client.connect());
        }
        self.started.store(true, Ordering::Release);
    }

    /// The connection task ended (its first connection failed): let the next caller start one.
    fn reap(&self) {
        let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        if task.as_ref().is_some_and(|t| t.is_finished()) {
            *task = None;
            self.started.store(false, Ordering::Release);
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `redis.key_prefix` + `rest`.
    pub fn key(&self, rest: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + rest.len());
        k.push_str(&self.prefix);
        k.push_str(rest);
        k
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// False from a failed command until the background probe sees Redis answer again. True
    /// before the first connection (commands wait for it, up to `redis.timeout`).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Record a failed command (`op` labels `tollgate_redis_errors_total`); the first failure
    /// of an outage is logged, the rest only counted.
    pub fn report_error(&self, op: &'static str, error: &dyn std::fmt::Display) {
        self.metrics.redis_error(op);
        if self.up.swap(false, Ordering::AcqRel) {
            self.metrics.set_redis_up(false);
            log::warn!("redis unavailable ({op}: {error}); retrying in the background");
        }
    }

    async fn probe(&self) -> Result<(), String> {
        let ping = self.probe.ping::<String>(None);
        match tokio::time::timeout(self.timeout * 4, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout * 4)),
        }
    }
}

/// Watches Redis on the probe connection: marks it down when a `PING` fails (also on an idle
/// node) and up again when one succeeds.
pub struct RedisService(pub Arc<RedisHandle>);

#[async_trait]
impl BackgroundService for RedisService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let h = &self.0;
        let mut probe_task: Option<ConnectHandle> = None;
        loop {
            if probe_task.as_ref().is_none_or(|t| t.is_finished()) {
                // The first connection is tried once (`fail_fast`); after that fred reconnects.
                probe_task = Some(h.probe.connect());
            }
            h.reap();
            match h.probe().await {
                Ok(()) => {
                    if !h.up.swap(true, Ordering::AcqRel) {
                        log::info!("redis reachable again");
                    }
                }
                Err(e) if h.is_up() => h.report_error("probe", &e),
                Err(_) => {}
            }
            h.metrics.set_redis_up(h.is_up());
            tokio::select! {
                _ = shutdown.changed() => {
                    let _ = h.probe.quit().await;
                    let _ = h.client.quit().await;
                    return;
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }
}
