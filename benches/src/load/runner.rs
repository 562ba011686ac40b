//! Drives one load run: a fixed pool of keep-alive connections, each sending
//! its next request when the previous response is fully read (closed loop)
//! or when a paced ticket is due (open loop).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinSet;

use super::client::{self, Completed, Connection};
use super::config::LoadConfig;
use super::pacer::{self, Tickets};

/// Everything counted during a run. Warm-up requests only show in `completed`.
pub struct RunStats {
    /// Latency to the last body byte, microseconds.
    pub latency: Histogram<u64>,
    /// Latency to the first body byte, microseconds.
    pub ttfb: Histogram<u64>,
    /// Measured responses, whatever their status.
    pub requests: u64,
    /// Measured requests that got no complete response (connect, I/O, timeout).
    pub errors: u64,
    /// Measured responses whose status was not 2xx.
    pub non_2xx: u64,
    /// All finished attempts including warm-up, for progress display.
    pub completed: u64,
}

impl RunStats {
    fn new() -> Self {
        // One hour max at 3 significant digits covers any sane timeout.
        let histogram = || Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
        RunStats {
            latency: histogram(),
            ttfb: histogram(),
            requests: 0,
            errors: 0,
            non_2xx: 0,
            completed: 0,
        }
    }

    fn record(&mut self, due: Instant, measured: bool, result: &Result<Completed, Failure>) {
        self.completed += 1;
        if !measured {
            return;
        }
        match result {
            Ok(done) => {
                self.requests += 1;
                if !done.status.is_success() {
                    self.non_2xx += 1;
                }
                self.latency
                    .saturating_record(micros_since(due, done.last_byte));
                if let Some(first) = done.first_byte {
                    self.ttfb.saturating_record(micros_since(due, first));
                }
            }
            Err(_) => self.errors += 1,
        }
    }
}

/// Shared between the connections and the progress display.
#[derive(Clone)]
pub struct SharedStats(Arc<Mutex<RunStats>>);

impl SharedStats {
    pub fn new() -> Self {
        SharedStats(Arc::new(Mutex::new(RunStats::new())))
    }

    pub fn lock(&self) -> MutexGuard<'_, RunStats> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for SharedStats {
    fn default() -> Self {
        SharedStats::new()
    }
}

fn micros_since(start: Instant, end: Instant) -> u64 {
    end.saturating_duration_since(start).as_micros().max(1) as u64
}

enum Failure {
    Connect,
    Http,
    Timeout,
}

enum Schedule {
    Closed { end: Instant },
    Open { tickets: Tickets },
}

impl Schedule {
    /// When the next request is due, or `None` when the run is over.
    async fn next_due(&self) -> Option<Instant> {
        match self {
            Schedule::Closed { end } => {
                let now = Instant::now();
                (now < *end).then_some(now)
            }
            Schedule::Open { tickets } => tickets.next().await,
        }
    }
}

/// Runs warm-up plus the measured window and returns when every connection
/// has finished its last request.
pub async fn run(config: Arc<LoadConfig>, stats: SharedStats) -> RunStats {
    let start = Instant::now();
    let measure_from = start + config.warmup;
    let end = measure_from + config.duration;
    let (schedule, pacer_thread) = match config.rate {
        Some(rate) => {
            let (tickets, thread) = pacer::start(rate, start, end);
            (Schedule::Open { tickets }, Some(thread))
        }
        None => (Schedule::Closed { end }, None),
    };
    let schedule = Arc::new(schedule);

    let mut connections = JoinSet::new();
    for _ in 0..config.connections.max(1) {
        connections.spawn(drive_connection(
            config.clone(),
            schedule.clone(),
            stats.clone(),
            measure_from,
        ));
    }
    while connections.join_next().await.is_some() {}
    if let Some(thread) = pacer_thread {
        let _ = thread.join();
    }
    std::mem::replace(&mut *stats.lock(), RunStats::new())
}

async fn drive_connection(
    config: Arc<LoadConfig>,
    schedule: Arc<Schedule>,
    stats: SharedStats,
    measure_from: Instant,
) {
    let mut connection: Option<Connection> = None;
    while let Some(due) = schedule.next_due().await {
        let attempt = tokio::time::timeout(config.timeout, send_one(&mut connection, &config));
        let result = attempt.await.unwrap_or(Err(Failure::Timeout));
        if result.is_err() {
            connection = None;
        }
        stats.lock().record(due, due >= measure_from, &result);
        if let Err(Failure::Connect) = result {
            // The target is down: do not spin on connect().
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn send_one(
    connection: &mut Option<Connection>,
    config: &LoadConfig,
) -> Result<Completed, Failure> {
    if let Some(open) = connection.as_mut() {
        if !open.ready().await {
            *connection = None;
        }
    }
    let open = match connection {
        Some(open) => open,
        None => connection.insert(
            Connection::open(&config.addr)
                .await
                .map_err(|_| Failure::Connect)?,
        ),
    };
    let response = open
        .send(config.request.build())
        .await
        .map_err(|_| Failure::Http)?;
    client::drain(response).await.map_err(|_| Failure::Http)
}
