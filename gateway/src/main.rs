//! `tollgate`: run the gateway, check a config file, or operate the ledger and the chain.
//!
//! Reads like a Pingora example: parse the command line → load the config → [`app::run`]
//! (`Server` → proxy + admin + background services → `run_forever`), or an ops subcommand.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tollgate_gateway::cli::{self, chain::ChainOp, Op};
use tollgate_gateway::{app, config::Config};

// Many short-lived allocations per request (headers, bodies, SSE chunks) across threads:
// mimalloc beats glibc malloc here (measured, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "LLM API gateway that meters every token"
)]
struct Cli {
    /// Configuration file (YAML).
    #[arg(short, long, global = true, default_value = "conf/gateway.yaml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration and exit: 0 when valid, 1 with every error listed otherwise.
    Validate,
    /// Local chain set-up (needs no config file).
    Chain {
        #[command(subcommand)]
        command: ChainOp,
    },
    #[command(flatten)]
    Ops(Op),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,tokio_postgres=warn"),
    )
    .init();
    let cli = Cli::parse();
    let command = match cli.command {
        Some(Command::Chain { command }) => return cli::chain::run(command),
        other => other,
    };
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{}: configuration is invalid:", cli.config.display());
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        None => app::run(config),
        Some(Command::Validate) => {
            println!(
                "{}: configuration is valid ({} providers)",
                cli.config.display(),
                config.providers.len()
            );
            ExitCode::SUCCESS
        }
        Some(Command::Ops(op)) => cli::run(&config, op),
        Some(Command::Chain { .. }) => unreachable!("handled before the config is read"),
    }
}
