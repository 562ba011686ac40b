//! Settlement writer throughput: synthetic request outcomes committed into Postgres in
//! batches by one writer, exactly as a gateway node's writer does (`commit_batch`).
//!
//!   settle-bench --database-url URL [--records 200000] [--batch-size 500] [--wallets 100]

use clap::Parser;
use std::time::Instant;
use tollgate_billing::ledger::Ledger;
use tollgate_billing::outcome::Tokens;
use tollgate_billing::settlement::{commit_batch, SettledRecord};
use tollgate_billing::{Outcome, OutcomeStatus};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 200_000)]
    records: usize,
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    #[arg(long, default_value_t = 100)]
    wallets: usize,
}

fn outcome(i: usize, wallets: usize, run: u128) -> Outcome {
    Outcome {
        request_id: format!("bench_{run}_{i}"),
        wallet: format!("0x{:040x}", 0xb000 + (i % wallets)),
        key_id: format!("key_bench_{}", i % wallets),
        model: "mock-1".into(),
        provider: "bench-provider".into(),
        upstream_model: "mock-1".into(),
        api: "openai",
        stream: i.is_multiple_of(2),
        status: OutcomeStatus::Completed,
        http_status: 200,
        tokens: Tokens {
            input_tokens: 12,
            output_tokens: 16,
            ..Tokens::default()
        },
        usage_missing: false,
        stream_cut: false,
        usage_estimated: false,
        usage_disproved: false,
        provider_cost_usdc: 44,
        buyer_cost_usdc: 63,
        platform_fee_usdc: 19,
        reserved_usdc: 180,
        overrun_usdc: 0,
        attempts: 1,
        latency_ms: 2,
        ttfb_ms: Some(1),
        ttft_ms: Some(1),
        error_code: None,
        started_at_ms: 1_795_000_000_000 + i as u64,
        price_id: None,
        prices: None,
        response_id: None,
        paid_call: None,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = Args::parse();
    let ledger = Ledger::connect(&a.database_url, 2).await.expect("connect");
    ledger.ensure_migrated().await.expect("migrated database");
    ledger
        .ensure_provider("bench-provider")
        .await
        .expect("provider");
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    for w in 0..a.wallets {
        let wallet = format!("0x{:040x}", 0xb000 + w);
        ledger
            .credit(
                &wallet,
                1_000_000_000_000,
                "credit",
                &format!("bench:{run}:{w}"),
                "settle-bench",
            )
            .await
            .expect("credit");
    }
    let started = Instant::now();
    let mut seq = 0;
    for chunk_start in (0..a.records).step_by(a.batch_size) {
        let batch: Vec<SettledRecord> = (chunk_start..(chunk_start + a.batch_size).min(a.records))
            .map(|i| SettledRecord::detached(outcome(i, a.wallets, run)))
            .collect();
        seq += 1;
        commit_batch(&ledger, "settle-bench", seq, &batch)
            .await
            .expect("commit");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "settle-bench: {} records in {} batches of {} over {} wallets: {:.2} s, {:.0} records/s",
        a.records,
        seq,
        a.batch_size,
        a.wallets,
        secs,
        a.records as f64 / secs
    );
}
