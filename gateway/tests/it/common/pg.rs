//! Real PostgreSQL for the billing tests: one throwaway cluster shared by the test processes
//! (started by `scripts/pg.sh`, or given as `TOLLGATE_TEST_PG`), a fresh database per test;
//! and private clusters for tests that stop the server.

use std::path::PathBuf;
use std::process::Command;
use tokio_postgres::NoTls;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn pg_sh(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/pg.sh"))
        .args(args)
        .output()
        .expect("scripts/pg.sh");
    assert!(
        out.status.success(),
        "pg.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// URL of the shared cluster's `tollgate` database.
fn shared_cluster() -> String {
    if let Ok(url) = std::env::var("TOLLGATE_TEST_PG") {
        return url;
    }
    let dir = repo_root().join("target/test-pg");
    pg_sh(&["start", dir.to_str().unwrap()])
}

async fn create_database(cluster_url: &str, name: &str) -> String {
    let (client, conn) = tokio_postgres::connect(cluster_url, NoTls)
        .await
        .expect("connect to test cluster");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = cluster_url.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

/// A fresh, empty database on the shared cluster.
pub async fn fresh_database() -> String {
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    create_database(&shared_cluster(), &name).await
}

/// A cluster of its own, for tests that stop and start the server.
pub struct PrivateCluster {
    dir: PathBuf,
    pub url: String,
}

impl PrivateCluster {
    pub fn start() -> PrivateCluster {
        let dir = super::temp_path("tollgate-pg", "");
        let url = pg_sh(&["start", dir.to_str().unwrap()]);
        PrivateCluster { dir, url }
    }
    /// Stop the server abruptly (`pg_ctl -m immediate`), as a crash would.
    pub fn crash(&self) {
        let pgbin = Command::new("bash")
            .arg("-c")
            .arg("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1")
            .output()
            .unwrap();
        let pgbin = String::from_utf8(pgbin.stdout).unwrap().trim().to_string();
        let status = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{pgbin}/pg_ctl"))
            .args([
                "-D",
                self.dir.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    pub fn restart(&self) {
        let url = pg_sh(&["start", self.dir.to_str().unwrap()]);
        assert_eq!(url, self.url);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("scripts/pg.sh"))
            .args(["stop", self.dir.to_str().unwrap()])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(format!("{}.lock", self.dir.display()));
    }
}

/// A client for assertions on the ledger tables.
pub async fn client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}
