//! `loadgen`: HTTP/1.1 load generator (closed loop, or open loop with
//! coordinated-omission correction), writing a JSON report and an SVG plot.

use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use http::Method;
use tollgate_benches::load::config::{parse_duration, parse_header, prepare_target, LoadConfig};
use tollgate_benches::load::progress::Progress;
use tollgate_benches::load::report::{percentile_curve, Report};
use tollgate_benches::load::runner::{self, SharedStats};
use tollgate_benches::load::svg_plot::{percentile_plot, Series};

#[derive(Parser)]
#[command(about = "HTTP/1.1 load generator over a fixed pool of keep-alive connections")]
struct Args {
    #[arg(long)]
    url: String,
    /// Request body read from a file.
    #[arg(long, conflicts_with = "body")]
    body_file: Option<String>,
    /// Request body given inline.
    #[arg(long)]
    body: Option<String>,
    /// `name: value`; repeatable.
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    #[arg(long, default_value = "POST")]
    method: String,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: std::time::Duration,
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: std::time::Duration,
    /// Requests per second (open loop). Without it the run is closed-loop.
    #[arg(long)]
    rate: Option<f64>,
    /// A request not finished within this counts as an error.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: std::time::Duration,
    /// Tokio worker threads; 1 runs everything on the main thread.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long, default_value = "loadgen")]
    label: String,
    /// Write the JSON report here.
    #[arg(long)]
    out: Option<String>,
    /// Write the SVG latency plot here.
    #[arg(long)]
    plot: Option<String>,
    #[arg(long)]
    no_progress: bool,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("loadgen: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let config = Arc::new(build_config(&args)?);
    if let Some(rate) = config.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!("--rate must be positive, got {rate}"));
        }
    }
    // One thread: a current-thread runtime avoids cross-thread wake-ups and
    // leaves the other core to the system under test.
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("cannot start tokio: {e}"))?;

    let stats = runtime.block_on(async {
        let shared = SharedStats::new();
        let progress = Progress::start(
            !args.no_progress,
            &args.label,
            config.warmup,
            config.duration,
            shared.clone(),
        );
        let stats = runner::run(config.clone(), shared).await;
        if let Some(progress) = progress {
            progress.finish();
        }
        stats
    });

    let report = Report::new(&args.label, &config, &stats);
    if let Some(path) = &args.out {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    if let Some(path) = &args.plot {
        let latency = percentile_curve(&stats.latency);
        let ttfb = percentile_curve(&stats.ttfb);
        let title = format!(
            "{} ({} mode, {:.0} req/s)",
            report.label, report.mode, report.rps
        );
        let svg = percentile_plot(
            &title,
            &[
                Series {
                    name: "latency to last byte",
                    color: "#1f77b4",
                    dashed: false,
                    points: &latency,
                },
                Series {
                    name: "time to first byte",
                    color: "#ff7f0e",
                    dashed: true,
                    points: &ttfb,
                },
            ],
        );
        std::fs::write(path, svg).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    println!("{}", report.summary_line());
    Ok(())
}

fn build_config(args: &Args) -> Result<LoadConfig, String> {
    let body = match (&args.body_file, &args.body) {
        (Some(path), _) => {
            Bytes::from(std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?)
        }
        (None, Some(inline)) => Bytes::from(inline.clone()),
        (None, None) => Bytes::new(),
    };
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| format!("bad --method {:?}", args.method))?;
    let (addr, request) = prepare_target(&args.url, method, headers, body)?;
    Ok(LoadConfig {
        url: args.url.clone(),
        addr,
        request,
        connections: args.connections,
        duration: args.duration,
        warmup: args.warmup,
        rate: args.rate,
        timeout: args.timeout,
    })
}
