//! The HTTP/1.1 load generator behind the `loadgen` binary: keep-alive
//! connections driven closed-loop or open-loop, HDR latency histograms,
//! a JSON report and an SVG percentile plot.

pub mod client;
pub mod config;
pub mod pacer;
pub mod progress;
pub mod report;
pub mod runner;
pub mod svg_plot;
