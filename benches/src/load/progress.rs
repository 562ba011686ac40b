//! The progress bar on stderr while a run is in flight.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use super::runner::SharedStats;

pub struct Progress {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

impl Progress {
    /// `None` when disabled or when stderr is not a terminal.
    pub fn start(
        enabled: bool,
        label: &str,
        warmup: Duration,
        duration: Duration,
        stats: SharedStats,
    ) -> Option<Progress> {
        if !enabled || !std::io::stderr().is_terminal() {
            return None;
        }
        let total = warmup + duration;
        let bar = ProgressBar::with_draw_target(
            Some(total.as_millis() as u64),
            ProgressDrawTarget::stderr(),
        );
        let style = ProgressStyle::with_template("{prefix} [{bar:30}] {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_owned());
        let ticker = tokio::spawn(tick(bar.clone(), warmup, stats));
        Some(Progress { bar, ticker })
    }

    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

async fn tick(bar: ProgressBar, warmup: Duration, stats: SharedStats) {
    let start = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_millis(250));
    let mut last = (start, 0u64);
    loop {
        interval.tick().await;
        let now = Instant::now();
        let (completed, errors) = {
            let stats = stats.lock();
            (stats.completed, stats.errors)
        };
        let window = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let rps = (completed - last.1) as f64 / window;
        last = (now, completed);
        let phase = if now.duration_since(start) < warmup {
            "warmup"
        } else {
            "measuring"
        };
        bar.set_position(now.duration_since(start).as_millis() as u64);
        bar.set_message(format!(
            "{phase} {rps:.0} req/s, {completed} done, {errors} errors"
        ));
    }
}
