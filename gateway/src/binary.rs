//! The `tollgate` command line, for `main.rs` and for custom builds that register more
//! plugins (`gateway/examples/request_counter`): parse the command line → load the config →
//! start the logs → build every route's plugins → [`app::run`] (`Server` → proxy + admin +
//! background services → `run_forever`), or an ops subcommand.

use crate::cli::{self, chain::ChainOp, prices::PricesOp, provider::ProviderOp, Op};
use crate::plugins::{Chains, PluginRegistry};
use crate::telemetry::process_log;
use crate::{app, config::Config};
use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// `--version`: the release and the commit it was built from (`build.rs`).
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TOLLGATE_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "tollgate",
    version = LONG_VERSION,
    about = "LLM API gateway that meters every token",
    long_about = "LLM API gateway that meters every token: routes OpenAI and Anthropic API calls to \
                  providers, reserves each call's worst-case cost from the buyer's prepaid balance, \
                  and settles what was metered in a double-entry ledger in micro-USDC. Without a \
                  subcommand it runs the gateway."
)]
struct Cli {
    /// Configuration file (YAML).
    #[arg(short, long, global = true, default_value = "conf/gateway.yaml")]
    config: PathBuf,
    /// Take the listening sockets over from the running gateway (`server.upgrade_sock`);
    /// then send that one SIGQUIT: it stops accepting, finishes its requests and exits.
    #[arg(short, long)]
    upgrade: bool,
    /// Run in the background once ready, writing `server.pid_file` (systemd `Type=forking`).
    #[arg(short, long)]
    daemon: bool,
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
    /// Model prices from a published list into the config's `prices_file` overlay.
    Prices {
        #[command(subcommand)]
        command: PricesOp,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff; `tollgate man | man -l -`).
    Man,
    #[command(flatten)]
    Ops(Op),
}

/// Runs the command line with the plugins of `registry`.
pub fn main(registry: PluginRegistry) -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tollgate", &mut script);
            return print(&script);
        }
        Some(Command::Man) => return man(),
        Some(Command::Chain { command }) => {
            process_log::init_default();
            return cli::chain::run(command);
        }
        Some(Command::Provider { command }) => {
            process_log::init_default();
            return cli::provider::run(&cli.config, command);
        }
        Some(Command::Prices { command }) => return cli::prices::run(&cli.config, command),
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
    process_log::init(&config.log);
    let chains = match Chains::build(&config, &registry) {
        Ok(c) => c,
        Err(errors) => return invalid(&crate::config::ConfigErrors(errors)),
    };
    match command {
        None => app::run(
            config,
            chains,
            app::Start {
                upgrade: cli.upgrade,
                daemon: cli.daemon,
            },
        ),
        Some(Command::Validate) => {
            println!(
                "{}: configuration is valid ({} providers)",
                cli.config.display(),
                config.providers.len()
            );
            ExitCode::SUCCESS
        }
        Some(Command::Ops(op)) => cli::run(&config, op),
        Some(
            Command::Chain { .. }
            | Command::Provider { .. }
            | Command::Prices { .. }
            | Command::Completions { .. }
            | Command::Man,
        ) => {
            unreachable!("handled before the config is read")
        }
    }
}

/// The manual page, with the release alone for its version (the commit would make every
/// commit change `docs/tollgate.1`).
fn man() -> ExitCode {
    let cmd = Cli::command().version(env!("CARGO_PKG_VERSION"));
    let mut page = Vec::new();
    match clap_mangen::Man::new(cmd).render(&mut page) {
        Ok(()) => print(&page),
        Err(e) => {
            eprintln!("tollgate man: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Generated text to stdout (a closed pipe, as in `| head`, is no panic).
fn print(bytes: &[u8]) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
