//! The `server`, `metrics` and `auth.static_keys` sections.

use super::raw::{RawServer, RawStaticKey};
use super::{is_evm_address, parse_duration, CorsConfig, Secret, Validator, DEFAULT_MAX_BODY_BYTES};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tollgate_billing::ProviderShare;
use tollgate_filters::chat_request::ThinkingPolicy;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: Vec<SocketAddr>,
    pub threads: usize,
    pub max_body_bytes: usize,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    /// CAs for https upstreams; `None` = system roots (honouring `SSL_CERT_FILE`).
    pub upstream_ca_file: Option<String>,
    pub thinking: ThinkingPolicy,
    pub provider_share: ProviderShare,
    pub default_max_tokens: u64,
    /// How long an unhealthy provider stays demoted before it is tried first again.
    pub unhealthy_cooldown: Duration,
    /// Send every body through the subrequest path (benchmarking the two paths).
    pub force_subrequest: bool,
    /// How long a write to the client may block: a client that stops reading is cut off, and
    /// its request (and settlement slot) ends.
    pub downstream_write_timeout: Duration,
    /// Chat calls may reach providers of the other format, translated both ways.
    pub translation: bool,
    /// The buyer's charge is written into the usage object of every billed response.
    pub usage_cost: bool,
    /// Browsers allowed to call the public port (`None`: no origin).
    pub cors: Option<CorsConfig>,
    /// The body of the errors the gateway writes itself.
    pub error_shape: ErrorShape,
    /// After SIGTERM: `/ready` answers 503 this long before the listeners close.
    pub drain_delay: Duration,
    /// The Unix socket through which `tollgate --upgrade` takes over the listening sockets
    /// of the running process (Pingora's graceful upgrade).
    pub upgrade_sock: String,
    /// The process id file `--daemon` writes (systemd's `PIDFile=`).
    pub pid_file: String,
}

/// `server.error_shape`: the body of the gateway's own errors, for clients that parse one SDK's
/// shape (the status and headers are the same in every shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorShape {
    /// `{"error":"CODE","message":"…"}` (the documented default).
    #[default]
    Tollgate,
    /// `{"error":{"message","type","code","param"}}`, as OpenAI answers.
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`, as Anthropic answers.
    Anthropic,
}

#[derive(Debug, Clone)]
pub struct StaticKey {
    pub key: Secret,
    pub wallet: String,
    pub label: String,
}

impl Validator<'_> {
    pub(super) fn server(&mut self, s: RawServer) -> ServerConfig {
        let listen = s
            .listen
            .map(|l| l.into_vec())
            .unwrap_or_else(|| vec!["127.0.0.1:8080".to_string()]);
        let listen: Vec<SocketAddr> = listen
            .iter()
            .enumerate()
            .filter_map(|(i, a)| self.socket_addr(&format!("server.listen[{i}]"), a))
            .collect();
        let threads = s.threads.unwrap_or(2);
        if threads == 0 {
            self.err("server.threads", "must be at least 1");
        }
        let max_body = s.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body == 0 {
            self.err("server.max_body_bytes", "must be positive");
        }
        let connect_timeout = self.duration(
            "server.upstream.connect_timeout",
            s.upstream.connect_timeout,
            "5s",
        );
        let first_byte_timeout = self.duration(
            "server.upstream.first_byte_timeout",
            s.upstream.first_byte_timeout,
            "120s",
        );
        let idle_timeout = self.duration(
            "server.upstream.idle_timeout",
            s.upstream.idle_timeout,
            "60s",
        );
        let upstream_ca_file = s.upstream.ca_file.clone();
        if let Some(f) = &upstream_ca_file {
            if !Path::new(f).is_file() {
                self.err(
                    "server.upstream.ca_file",
                    format!("{f:?} is not a readable file"),
                );
            }
        }
        let unhealthy_cooldown =
            self.duration("server.unhealthy_cooldown", s.unhealthy_cooldown, "30s");
        let downstream_write_timeout = self.duration(
            "server.downstream_write_timeout",
            s.downstream_write_timeout,
            "30s",
        );
        let thinking = match s.thinking.as_deref().unwrap_or("reject") {
            "reject" => ThinkingPolicy::Reject,
            "strip" => ThinkingPolicy::Strip,
            "allow" => ThinkingPolicy::Allow,
            other => {
                self.err(
                    "server.thinking",
                    format!("unknown policy {other:?} (expected reject, strip or allow)"),
                );
                ThinkingPolicy::Reject
            }
        };
        let provider_share = match s.provider_share {
            None => ProviderShare::from_bps(7000).expect("constant"),
            Some(d) => self.share("server.provider_share", &d),
        };
        let force_subrequest = match s.body_path.as_deref().unwrap_or("auto") {
            "auto" => false,
            "subrequest" => true,
            other => {
                self.err(
                    "server.body_path",
                    format!("unknown body path {other:?} (expected auto or subrequest)"),
                );
                false
            }
        };
        let default_max_tokens = s.default_max_tokens.unwrap_or(1024);
        if default_max_tokens == 0 {
            self.err("server.default_max_tokens", "must be positive");
        }
        let error_shape = match s.error_shape.as_deref().unwrap_or("tollgate") {
            "tollgate" => ErrorShape::Tollgate,
            "openai" => ErrorShape::OpenAi,
            "anthropic" => ErrorShape::Anthropic,
            other => {
                self.err(
                    "server.error_shape",
                    format!("unknown shape {other:?} (expected tollgate, openai or anthropic)"),
                );
                ErrorShape::Tollgate
            }
        };
        let drain_delay = match s.drain_delay.as_deref().map(|t| (t, parse_duration(t))) {
            None => Duration::ZERO,
            Some((_, Some(d))) => d,
            Some((t, None)) => {
                self.err(
                    "server.drain_delay",
                    format!("{t:?} is not a duration (e.g. 0s, 5s, 1m)"),
                );
                Duration::ZERO
            }
        };
        let cors = s.cors.and_then(|c| self.cors(c));
        let upgrade_sock = s
            .upgrade_sock
            .unwrap_or_else(|| "/tmp/tollgate-upgrade.sock".into());
        // sockaddr_un holds 108 bytes with the terminating NUL.
        if upgrade_sock.is_empty() || upgrade_sock.len() > 107 {
            self.err("server.upgrade_sock", "must be a path of 1 to 107 bytes");
        }
        let pid_file = s.pid_file.unwrap_or_else(|| "/tmp/tollgate.pid".into());
        ServerConfig {
            upgrade_sock,
            pid_file,
            listen,
            threads: threads.max(1),
            max_body_bytes: usize::try_from(max_body).unwrap_or(usize::MAX),
            connect_timeout,
            first_byte_timeout,
            idle_timeout,
            upstream_ca_file,
            thinking,
            provider_share,
            default_max_tokens,
            unhealthy_cooldown,
            force_subrequest,
            downstream_write_timeout,
            translation: s.translation.unwrap_or(true),
            usage_cost: s.usage_cost.unwrap_or(true),
            cors,
            error_shape,
            drain_delay,
        }
    }

    pub(super) fn static_keys(&mut self, raw: Vec<RawStaticKey>) -> Vec<StaticKey> {
        let mut static_keys = Vec::new();
        let mut seen_keys = HashSet::new();
        for (i, k) in raw.into_iter().enumerate() {
            let path = format!("auth.static_keys[{i}]");
            let key = self.resolve_env(&format!("{path}.key"), &k.key);
            if let Some(key) = &key {
                if key.is_empty() {
                    self.err(format!("{path}.key"), "must not be empty");
                } else if !seen_keys.insert(key.clone()) {
                    self.err(format!("{path}.key"), "duplicate key");
                }
            }
            let wallet = k.wallet.to_ascii_lowercase();
            if !is_evm_address(&wallet) {
                self.err(
                    format!("{path}.wallet"),
                    "must be a 0x-prefixed 20-byte hex address",
                );
            }
            if let Some(key) = key {
                static_keys.push(StaticKey {
                    key: Secret(key),
                    wallet,
                    label: k.label.unwrap_or_else(|| format!("static-{i}")),
                });
            }
        }
        static_keys
    }
}
