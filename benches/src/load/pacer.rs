//! Open-loop pacing. A dedicated OS thread releases one ticket (the instant a
//! request is due) every 1/rate seconds; tokio's timer wheel has 1 ms
//! granularity, which at 2000 req/s would add up to a millisecond of fake
//! latency to every request. Tickets queue while all connections are busy,
//! and latency is measured from the due instant, so that waiting is counted
//! (coordinated-omission correction).

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Mutex};

pub struct Tickets {
    due: Mutex<mpsc::UnboundedReceiver<Instant>>,
}

impl Tickets {
    /// The next due instant; `None` once the run's last ticket is taken.
    pub async fn next(&self) -> Option<Instant> {
        self.due.lock().await.recv().await
    }
}

/// Issues tickets at `rate` per second for due instants in `[start, end)`.
pub fn start(rate: f64, start: Instant, end: Instant) -> (Tickets, JoinHandle<()>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let thread = std::thread::Builder::new()
        .name("loadgen-pacer".into())
        .spawn(move || {
            for i in 0u64.. {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                if due >= end {
                    break;
                }
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if sender.send(due).is_err() {
                    break;
                }
            }
        })
        .expect("cannot start the pacer thread");
    let tickets = Tickets {
        due: Mutex::new(receiver),
    };
    (tickets, thread)
}
