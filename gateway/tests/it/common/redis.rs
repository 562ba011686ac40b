//! The shared test Redis: `TOLLGATE_TEST_REDIS` (scripts/test.sh starts one), else one started
//! here with scripts/redis.sh under target/test-redis.

use std::path::PathBuf;
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn shared_redis() -> String {
    if let Ok(url) = std::env::var("TOLLGATE_TEST_REDIS") {
        return url;
    }
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/redis.sh"))
        .arg("start")
        .arg(repo_root().join("target/test-redis"))
        .output()
        .expect("scripts/redis.sh");
    assert!(
        out.status.success(),
        "redis.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Keys of one test apart from every other test's.
pub fn unique_prefix() -> String {
    format!("test{}-{}:", std::process::id(), super::free_port())
}

/// The `redis:` section.
pub fn redis_yaml(url: &str, prefix: &str) -> String {
    format!("redis: {{ url: \"{url}\", key_prefix: \"{prefix}\" }}\n")
}
