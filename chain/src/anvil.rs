//! A throw-away local chain for tests and demos: spawns `anvil` on a kernel-chosen loopback port,
//! waits until it answers `eth_chainId`, kills it on drop.
//!
//! The binary is `$TOLLGATE_ANVIL` if set, else the npm-installed one under
//! `contracts/node_modules` (`bash scripts/contracts.sh install`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// anvil's default dev accounts (mnemonic "test test … junk"); each holds 10 000 ETH.
pub const DEV_KEYS: [&str; 5] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
];

/// anvil's default chain id.
pub const ANVIL_CHAIN_ID: u64 = 31337;

/// Where the anvil binary is expected: `$TOLLGATE_ANVIL`, else under `contracts/node_modules`.
pub fn anvil_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TOLLGATE_ANVIL") {
        return Some(PathBuf::from(p));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    [
        "contracts/node_modules/.bin/anvil",
        "contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil",
    ]
    .iter()
    .map(|p| root.join(p))
    .find(|p| p.is_file())
}

/// A running anvil; killed (and reaped) on drop.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    url: String,
    chain_id: u64,
}

impl Anvil {
    /// Starts anvil with chain id 31337, automining. Fails with a message when no binary is found
    /// or it does not come up within 30 s.
    pub fn spawn() -> Result<Self, String> {
        Self::spawn_with_args(&[])
    }

    /// Like [`Self::spawn`], with extra anvil arguments (e.g. `["--block-time", "1"]`).
    pub fn spawn_with_args(args: &[&str]) -> Result<Self, String> {
        Self::spawn_on_chain(ANVIL_CHAIN_ID, args)
    }

    /// Like [`Self::spawn_with_args`], posing as chain `chain_id` (e.g. to get that chain's
    /// defaults in the gateway).
    pub fn spawn_on_chain(chain_id: u64, args: &[&str]) -> Result<Self, String> {
        let bin = anvil_binary().ok_or(
            "anvil not found: run `bash scripts/contracts.sh install` or set TOLLGATE_ANVIL=/path/to/anvil",
        )?;
        // --port 0: the kernel picks a free port (no probe-then-bind race); anvil prints it.
        let mut child = Command::new(&bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--chain-id",
                &chain_id.to_string(),
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        // Reads (and discards) anvil's log for its whole life so the pipe never fills.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(addr) = line.strip_prefix("Listening on ") {
                        let _ = tx.send(addr.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        let mut anvil = Anvil {
            child,
            url: String::new(),
            chain_id,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "anvil did not report its listening address within 30 s".to_string())?;
        anvil.url = format!("http://{addr}");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = anvil.child.try_wait() {
                return Err(format!("anvil exited during startup: {status}"));
            }
            if chain_id_answers(&addr) {
                return Ok(anvil);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("anvil did not answer eth_chainId within 30 s".into())
    }

    /// Kill the node now (a test of what happens when the chain goes away).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal blocking `eth_chainId` over HTTP/1.1 (no extra client needed before tokio is up).
fn chain_id_answers(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.starts_with("HTTP/1.1 200") && resp.contains("\"result\"")
}
