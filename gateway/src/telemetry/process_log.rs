//! The process log on stderr: `env_logger` at `log.level` (`RUST_LOG`, when set, wins), as
//! text or as one JSON object per line for a log pipeline (`log.format: json`).

use crate::config::{LogConfig, LogFormat};
use std::io::Write;

/// Before the config is read (and for the subcommands that read none): info, as text.
pub fn init_default() {
    let _ = builder("info").try_init();
}

/// Once the config is read. The first `init` of a process wins (`log` has one logger), so
/// this is called once, before anything logs.
pub fn init(cfg: &LogConfig) {
    let mut b = builder(&cfg.level);
    if cfg.format == LogFormat::Json {
        b.format(|buf, record| {
            let line = serde_json::json!({
                "time": format!("{:.3}", jiff::Timestamp::now()),
                "level": record.level().as_str(),
                "target": record.target(),
                "message": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        });
    }
    let _ = b.try_init();
}

fn builder(level: &str) -> env_logger::Builder {
    let default = format!("{level},tokio_postgres=warn");
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
}
