//! Ledger set-up shared by the billing, keys and limits tests: a migrated database, the
//! `billing:` section, and the `tollgate` CLI commands that fund wallets and mint keys.

use super::{free_port, pg, temp_path, tempfile_path, tollgate_cli, Gateway};

/// The `billing:` section; `extra` lines override the test defaults.
pub fn billing_yaml(url: &str, extra: &str) -> String {
    let mut out = format!("  sink: postgres\n  database_url: \"{url}\"\n{extra}");
    // Each gateway its own spool (the default, ./tollgate-spool, is locked by one process).
    if !extra.contains("spool:") {
        out.push_str(&format!(
            "  spool: {{ dir: \"{}\" }}\n",
            spool_dir().display()
        ));
    }
    for (key, default) in [
        ("batch_interval", "10ms"),
        ("lease_chunk_usd", "0.001"),
        ("lease_ttl", "3s"),
    ] {
        if !extra.contains(&format!("{key}:")) {
            out.push_str(&format!("  {key}: {default}\n"));
        }
    }
    out
}

/// A fresh spool directory under the system's temp dir.
pub fn spool_dir() -> std::path::PathBuf {
    temp_path("tollgate-spool", "")
}

/// A minimal config file on `url`, for CLI commands (removed on drop).
pub fn ledger_config(url: &str) -> tempfile_path::TempPath {
    let path = temp_path("tollgate-ledger", ".yaml");
    let yaml = format!(
        "server: {{ listen: 127.0.0.1:{} }}\nbilling: {{ sink: postgres, database_url: \"{url}\" }}\n\
         providers: [{{ id: x, kind: openai, base_url: \"http://127.0.0.1:1/v1\", models: [{{ id: x, pricing: {{ prompt: 1, completion: 1 }} }}] }}]\n",
        free_port()
    );
    std::fs::write(&path, yaml).unwrap();
    tempfile_path::TempPath(path)
}

pub fn migrate(url: &str) {
    let out = tollgate_cli(&ledger_config(url).0, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub async fn migrated_db() -> String {
    let url = pg::fresh_database().await;
    migrate(&url);
    url
}

pub fn create_key(gw: &Gateway, wallet: &str) -> String {
    let out = gw.cli(&["keys", "create", "--wallet", wallet, "--label", "test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("sk-") && key.len() == 67, "{key}");
    key
}

pub fn credit(gw: &Gateway, wallet: &str, usd: &str) {
    let out = gw.cli(&[
        "credit", "--wallet", wallet, "--usd", usd, "--reason", "test",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn ledger_check(gw: &Gateway) {
    let out = gw.cli(&["ledger", "check"]);
    assert!(
        out.status.success(),
        "ledger check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `tollgate ledger check --chain`: (passed, its output).
pub fn ledger_check_chain(gw: &Gateway) -> (bool, String) {
    let out = gw.cli(&["ledger", "check", "--chain"]);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
