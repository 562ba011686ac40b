//! The `log` section: the process log (level, text or JSON on stderr) and the access log
//! (one JSON line per request, to stdout, stderr or a file).

use super::Validator;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `error`, `warn`, `info`, `debug` or `trace` (default info); `RUST_LOG` overrides it.
    pub level: Option<String>,
    /// `text` (default) or `json`.
    pub format: Option<String>,
    /// `off` (default), `stdout`, `stderr` or a file path (appended to).
    pub access: Option<String>,
    /// Lines queued for the writer; when it falls behind by more, lines are dropped and counted.
    pub access_buffer: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Stdout,
    Stderr,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    /// An `env_logger` filter (`info`, or what `RUST_LOG` would hold).
    pub level: String,
    pub format: LogFormat,
    /// `None`: no access log.
    pub access: Option<AccessLogTarget>,
    pub access_buffer: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
            access: None,
            access_buffer: 10_000,
        }
    }
}

impl Validator<'_> {
    pub(super) fn log(&mut self, raw: RawLog) -> LogConfig {
        let d = LogConfig::default();
        let level = match raw.level {
            None => d.level,
            Some(l) if ["error", "warn", "info", "debug", "trace"].contains(&l.as_str()) => l,
            Some(l) => {
                self.err(
                    "log.level",
                    format!("unknown level {l:?} (expected error, warn, info, debug or trace)"),
                );
                d.level
            }
        };
        let format = match raw.format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                self.err(
                    "log.format",
                    format!("unknown format {other:?} (expected text or json)"),
                );
                LogFormat::Text
            }
        };
        let access = match raw.access.as_deref().unwrap_or("off") {
            "off" => None,
            "stdout" => Some(AccessLogTarget::Stdout),
            "stderr" => Some(AccessLogTarget::Stderr),
            "" => {
                self.err("log.access", "expected off, stdout, stderr or a file path");
                None
            }
            path => Some(AccessLogTarget::File(PathBuf::from(path))),
        };
        let access_buffer = raw.access_buffer.unwrap_or(d.access_buffer);
        if access_buffer == 0 {
            self.err("log.access_buffer", "must be positive");
        }
        LogConfig {
            level,
            format,
            access,
            access_buffer: access_buffer.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{AccessLogTarget, Config, LogFormat};

    const BASE: &str = "billing: { sink: memory }\nproviders: [{ id: p, kind: openai, base_url: \"http://127.0.0.1:1/v1\", models: [{ id: m, pricing: { prompt: 1, completion: 1 } }] }]\n";

    #[test]
    fn defaults_and_choices() {
        let c = Config::from_yaml(BASE, &|_| None).unwrap();
        assert_eq!(
            (c.log.level.as_str(), c.log.format, c.log.access),
            ("info", LogFormat::Text, None)
        );
        let c = Config::from_yaml(
            &format!("{BASE}log: {{ level: debug, format: json, access: /var/log/t.log, access_buffer: 5 }}"),
            &|_| None,
        )
        .unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(
            c.log.access,
            Some(AccessLogTarget::File("/var/log/t.log".into()))
        );
        assert_eq!((c.log.level.as_str(), c.log.access_buffer), ("debug", 5));
        let c = Config::from_yaml(&format!("{BASE}log: {{ access: stdout }}"), &|_| None).unwrap();
        assert_eq!(c.log.access, Some(AccessLogTarget::Stdout));
    }

    #[test]
    fn refuses_unknown_values() {
        let e = Config::from_yaml(
            &format!("{BASE}log: {{ level: loud, format: xml, access_buffer: 0 }}"),
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        for path in ["log.level", "log.format", "log.access_buffer"] {
            assert!(e.contains(path), "{path}: {e}");
        }
    }
}
