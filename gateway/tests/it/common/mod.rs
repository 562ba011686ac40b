//! Test harness: the real `tollgate` binary on loopback ports, in front of the real mock
//! upstream (in-process, recording what it receives).

#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use tollgate_benches::mock::{spawn_mock, MockDefaults, RecordedRequest, Recorder};

pub mod chain;
pub mod disk;
pub mod ledger;
pub mod pg;
pub mod redis;
pub mod siwe;

pub const KEY: &str = "sk-test-key-a";
pub const WALLET: &str = "0x00000000000000000000000000000000000000aa";

/// The `tollgate` binary under test: this build's, or `TOLLGATE_BIN` — to run a test against
/// an older build once and see it fail (the adversarial suite's "fails on the old code").
pub fn tollgate_bin() -> std::path::PathBuf {
    std::env::var_os("TOLLGATE_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_tollgate").into())
}

/// A path in the temp directory no other test uses: the process id and a per-process
/// counter. (A free port is no name: two test processes can be handed the same one, and the
/// first to finish deletes the other's file.)
pub fn temp_path(stem: &str, ext: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("{stem}-{}-{n}{ext}", std::process::id()))
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Mock {
    pub addr: SocketAddr,
    pub recorder: Recorder,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Mock {
    pub async fn start() -> Mock {
        Self::start_with(MockDefaults::default()).await
    }
    pub async fn start_with(defaults: MockDefaults) -> Mock {
        let (addr, recorder, task) = spawn_mock(defaults).await;
        Mock {
            addr,
            recorder,
            task,
        }
    }
    pub fn last(&self) -> RecordedRequest {
        self.recorder
            .requests()
            .pop()
            .expect("the mock received a request")
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct Gateway {
    child: Child,
    pub base: String,
    pub admin: String,
    pub config: tempfile_path::TempPath,
    /// Environment of the gateway process, also given to [`Gateway::cli`] commands.
    pub env: Vec<(String, String)>,
}

pub mod tempfile_path {
    /// A file removed on drop (no tempfile crate needed for one file).
    pub struct TempPath(pub std::path::PathBuf);
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Options that vary between tests; everything else is a fixed, valid config.
pub struct GatewayOpts {
    /// The `billing:` section (YAML, indented by two spaces under `billing:`).
    pub billing: String,
    pub thinking: &'static str,
    pub max_body_bytes: u64,
    pub first_byte_timeout: &'static str,
    /// `server.downstream_write_timeout` (default: the gateway's).
    pub downstream_write_timeout: Option<&'static str>,
    /// YAML for `providers:` (a list).
    pub providers: String,
    pub route_aliases: &'static str,
    pub upstream_ca_file: Option<String>,
    /// `server.public_url`: `Some("")` means this gateway's own address.
    pub public_url: Option<String>,
    /// Top-level YAML sections appended to the file (e.g. `chain:`).
    pub extra: String,
    /// Extra environment variables of the gateway process and its CLI commands (secrets
    /// referenced as `${NAME}` in the config).
    pub env: Vec<(String, String)>,
    /// Write the gateway's log, at info level, to this file (default: warnings to stderr).
    pub log_file: Option<std::path::PathBuf>,
    /// Another build of the gateway (default: [`tollgate_bin`]).
    pub bin: Option<std::path::PathBuf>,
    /// The `health:` section (indented by two spaces). Default: no active probes, so a
    /// test's mock sees only the requests the test sends.
    pub health: String,
    /// More `server:` lines (indented by two spaces).
    pub server: String,
}

impl GatewayOpts {
    pub fn new(providers: String) -> Self {
        GatewayOpts {
            billing: "  sink: memory\n  expose_outcomes: true\n".into(),
            thinking: "strip",
            max_body_bytes: 10 * 1024 * 1024,
            first_byte_timeout: "10s",
            downstream_write_timeout: None,
            providers,
            route_aliases: "[]",
            upstream_ca_file: None,
            public_url: None,
            extra: String::new(),
            env: Vec::new(),
            log_file: None,
            bin: None,
            health: "  probes: false\n".into(),
            server: String::new(),
        }
    }
}

/// An OpenAI-kind and an Anthropic-kind provider on one mock, each serving one model.
pub fn standard_providers(mock: SocketAddr) -> String {
    format!(
        r#"
  - id: oa
    kind: openai
    base_url: http://{mock}/v1
    api_key: upstream-secret-openai
    models:
      - id: gpt-test
        upstream_model: mock-gpt
        pricing: {{ prompt: 1, completion: 2, cache_read: 0.5 }}
  - id: an
    kind: anthropic
    base_url: http://{mock}
    api_key: upstream-secret-anthropic
    models:
      - id: claude-test
        upstream_model: mock-claude
        pricing: {{ prompt: 3, completion: 15, cache_read: 0.3, cache_write_5m: 3.75, cache_write_1h: 6 }}
"#
    )
}

impl Gateway {
    pub async fn start(opts: GatewayOpts) -> Gateway {
        let port = free_port();
        let admin_port = free_port();
        let yaml = format!(
            r#"
server:
  listen: 127.0.0.1:{port}
  threads: 2
  thinking: {thinking}
  max_body_bytes: {max_body}
  provider_share: 0.70
  upstream: {{ connect_timeout: 2s, first_byte_timeout: {fbt}, idle_timeout: 30s{ca} }}
{server}{write_timeout}{public_url}metrics:
  listen: 127.0.0.1:{admin_port}
auth:
  static_keys:
    - {{ key: {KEY}, wallet: "{WALLET}", label: key-a }}
    - {{ key: sk-test-key-b, wallet: "0x00000000000000000000000000000000000000bb", label: key-b }}
billing:
{billing}providers:{providers}
route_aliases: {aliases}
health:
{health}{extra}
"#,
            health = opts.health,
            server = opts.server,
            extra = opts.extra,
            write_timeout = opts
                .downstream_write_timeout
                .map(|t| format!("  downstream_write_timeout: {t}\n"))
                .unwrap_or_default(),
            public_url = match opts.public_url.as_deref() {
                None => String::new(),
                Some("") => format!("  public_url: http://127.0.0.1:{port}\n"),
                Some(u) => format!("  public_url: {u}\n"),
            },
            billing = opts.billing,
            thinking = opts.thinking,
            max_body = opts.max_body_bytes,
            fbt = opts.first_byte_timeout,
            providers = opts.providers,
            aliases = opts.route_aliases,
            ca = opts
                .upstream_ca_file
                .map(|f| format!(", ca_file: \"{f}\""))
                .unwrap_or_default(),
        );
        let path = temp_path("tollgate-test", ".yaml");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
        let (level, stderr) = match &opts.log_file {
            Some(f) => ("info", Stdio::from(std::fs::File::create(f).unwrap())),
            None => ("warn", Stdio::inherit()),
        };
        let child = Command::new(opts.bin.clone().unwrap_or_else(tollgate_bin))
            .arg("-c")
            .arg(&path)
            .env("RUST_LOG", level)
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn tollgate");
        let mut gw = Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
            config: tempfile_path::TempPath(path),
            env: opts.env,
        };
        gw.wait_ready().await;
        gw
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let c = reqwest::Client::new();
        loop {
            let main = c.get(format!("{}/health", self.base)).send().await;
            let admin = c.get(format!("{}/health", self.admin)).send().await;
            if main.is_ok_and(|r| r.status() == 200) && admin.is_ok_and(|r| r.status() == 200) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("gateway exited during start-up: {status}");
            }
            assert!(Instant::now() < deadline, "gateway did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal (`"TERM"`, `"KILL"`, …) to the gateway process.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }

    /// Wait for the process to exit; `None` if it is still running after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Run a `tollgate` subcommand against this gateway's config file.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(crate::common::tollgate_bin())
            .arg("-c")
            .arg(&self.config.0)
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Outcomes the in-memory billing sink received, oldest first.
    pub async fn outcomes(&self) -> Vec<Value> {
        let v: Value = reqwest::get(format!("{}/debug/outcomes", self.admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().unwrap().clone()
    }

    /// The outcome of one request, waiting briefly: `logging` runs after the response ends.
    pub async fn outcome(&self, request_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(o) = self
                .outcomes()
                .await
                .into_iter()
                .find(|o| o["request_id"] == request_id)
            {
                return o;
            }
            assert!(Instant::now() < deadline, "no outcome for {request_id}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Send `body` to `path` with the test key, read the response to its end (a cut body is
    /// fine), and return its status and billing outcome.
    /// `POST path` with [`KEY`].
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        post_json(&self.url(path), Some(KEY), body, headers).await
    }

    pub async fn served(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let resp = self.post(path, body, headers).await;
        let status = resp.status().as_u16();
        let id = request_id(&resp);
        let _ = resp.bytes().await;
        (status, self.outcome(&id).await)
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `tollgate -c CONFIG ARGS…`.
pub fn tollgate_cli(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(crate::common::tollgate_bin())
        .arg("-c")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// The value of a Prometheus sample whose name and labels contain all of `parts`.
pub fn metric_value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && labels.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .build()
        .unwrap()
}

pub async fn post_json(
    url: &str,
    key: Option<&str>,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = client().post(url).json(body);
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.unwrap()
}

pub fn request_id(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_string()
}

/// Parse SSE text into (event, data) pairs.
pub fn sse_events(text: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut event = None;
    for line in text.lines() {
        if let Some(e) = line.strip_prefix("event:") {
            event = Some(e.trim().to_string());
        } else if let Some(d) = line.strip_prefix("data:") {
            out.push((event.take(), d.trim().to_string()));
        }
    }
    out
}

/// The `(status, error, message)` of a gateway error answer.
pub async fn error_of(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.expect("JSON error body");
    (
        status,
        v["error"].as_str().unwrap_or_default().to_string(),
        v["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// Lower-case 0x address of a signer, as the ledger writes it.
pub fn wallet_of(s: &alloy::signers::local::PrivateKeySigner) -> String {
    format!("{:#x}", s.address())
}

/// Poll `f` until it is true, failing the test with `what` after `limit`.
pub async fn wait_for<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> F,
) {
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
