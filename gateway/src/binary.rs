//! The `tollgate` command line, for `main.rs` and for custom builds that register more
//! plugins (`gateway/examples/request_counter`): parse the command line → load the config →
//! build every route's plugins → [`app::run`] (`Server` → proxy + admin + background services
//! → `run_forever`), or an ops subcommand.

use crate::cli::{self, chain::ChainOp, provider::ProviderOp, Op};
use crate::plugins::{Chains, PluginRegistry};
use crate::{app, config::Config};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Check the configuration (and every route's plugins) and exit: 0 when valid, 1 with
    /// every error listed otherwise.
    Validate,
    /// Local chain set-up (needs no config file).
    Chain {
        #[command(subcommand)]
        command: ChainOp,
    },
    /// The provider side: `provider push -c provider.toml` lists a provider's models on a
    /// gateway (`-c` names the provider's file here, not the gateway's).
    Provider {
        #[command(subcommand)]
        command: ProviderOp,
    },
    #[command(flatten)]
    Ops(Op),
}

/// Runs the command line with the plugins of `registry`.
pub fn main(registry: PluginRegistry) -> ExitCode {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,tokio_postgres=warn"),
    )
    .init();
    let cli = Cli::parse();
    let command = match cli.command {
        Some(Command::Chain { command }) => return cli::chain::run(command),
        Some(Command::Provider { command }) => return cli::provider::run(&cli.config, command),
        other => other,
    };
    let invalid = |errors: &dyn std::fmt::Display| {
        eprintln!("{}: configuration is invalid:", cli.config.display());
        eprint!("{errors}");
        ExitCode::FAILURE
    };
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(errors) => return invalid(&errors),
    };
    let chains = match Chains::build(&config, &registry) {
        Ok(c) => c,
        Err(errors) => return invalid(&crate::config::ConfigErrors(errors)),
    };
    match command {
        None => app::run(config, chains),
        Some(Command::Validate) => {
            println!(
                "{}: configuration is valid ({} providers)",
                cli.config.display(),
                config.providers.len()
            );
            ExitCode::SUCCESS
        }
        Some(Command::Ops(op)) => cli::run(&config, op),
        Some(Command::Chain { .. } | Command::Provider { .. }) => {
            unreachable!("handled before the config is read")
        }
    }
}
