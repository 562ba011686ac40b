//! `mock-llm`: the mock OpenAI/Anthropic upstream as a standalone server.

use std::io::Write;

use clap::Parser;
use tollgate_benches::mock::{serve, MockDefaults};

#[derive(Parser)]
#[command(about = "Mock LLM upstream (OpenAI chat completions + Anthropic messages)")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:18001")]
    listen: String,
    /// Tokio worker threads; 1 runs everything on the main thread.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long, default_value_t = 12)]
    input_tokens: u64,
    #[arg(long, default_value_t = 16)]
    output_tokens: u64,
    #[arg(long, default_value_t = 0)]
    cache_read_tokens: u64,
    #[arg(long = "cache-write-5m-tokens", default_value_t = 0)]
    cache_write_5m_tokens: u64,
    #[arg(long = "cache-write-1h-tokens", default_value_t = 0)]
    cache_write_1h_tokens: u64,
    #[arg(long, default_value_t = 0)]
    ttft_ms: u64,
    #[arg(long, default_value_t = 0)]
    inter_token_ms: u64,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let defaults = MockDefaults {
        input_tokens: args.input_tokens,
        output_tokens: args.output_tokens,
        cache_read_tokens: args.cache_read_tokens,
        cache_write_5m_tokens: args.cache_write_5m_tokens,
        cache_write_1h_tokens: args.cache_write_1h_tokens,
        ttft_ms: args.ttft_ms,
        inter_token_ms: args.inter_token_ms,
        switch: Default::default(),
    };
    // One thread: a current-thread runtime avoids cross-thread wake-ups.
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        let addr = listener.local_addr()?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "mock-llm listening on {addr}")?;
        stdout.flush()?;
        serve(listener, defaults, None).await
    })
}
