//! `conf/tollgate.service`: `systemd-analyze verify` finds nothing to say about it (with this
//! build as its binary: verify checks that every command exists), its hardening scores "OK"
//! or better offline, and its start and reload commands, run as systemd runs them (`$MAINPID`
//! from the PID file), hand a running gateway over to a new process while a stream is in
//! flight.
//!
//! `systemd-analyze verify` runs here without systemd as PID 1. It looks a unit's
//! `Documentation=man:` pages up with `man`; the page is found through a `MANPATH` holding
//! `docs/tollgate.1` where `man` is installed, and the lookup is skipped (`--man=no`) where it
//! is not.

use super::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// The unit with this build's binary and `config` in place of the installed paths.
fn unit_for(config: &std::path::Path) -> String {
    std::fs::read_to_string(repo().join("conf/tollgate.service"))
        .unwrap()
        .replace("/usr/bin/tollgate", tollgate_bin().to_str().unwrap())
        .replace("/etc/tollgate/gateway.yaml", config.to_str().unwrap())
}

#[test]
fn the_unit_verifies_and_is_hardened() {
    let dir = temp("systemd");
    std::fs::create_dir_all(dir.join("man/man1")).unwrap();
    std::fs::copy(
        repo().join("docs/tollgate.1"),
        dir.join("man/man1/tollgate.1"),
    )
    .unwrap();
    let unit = dir.join("tollgate.service");
    std::fs::write(
        &unit,
        unit_for(std::path::Path::new("/etc/tollgate/gateway.yaml")),
    )
    .unwrap();
    let has_man = Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut verify = Command::new("systemd-analyze");
    verify.arg("verify").env("MANPATH", dir.join("man"));
    if !has_man {
        verify.arg("--man=no");
    }
    let out = verify
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian package systemd; bash scripts/install-deps.sh)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // verify reports most problems (an unknown key, a bad value) as warnings with exit 0.
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );

    // A broken unit is noticed (the check above can fail).
    let broken = dir.join("broken.service");
    std::fs::write(
        &broken,
        unit_for(std::path::Path::new("/x")).replace("Type=forking", "Type=forked"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).trim().is_empty());

    // Exposure 2.0 or less ("OK" or better) in systemd's own scoring.
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("Overall exposure level for tollgate.service"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Processes started by the unit's commands (daemons: not our children), stopped by id.
struct Daemons(Vec<u32>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
    }
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn read_pid(file: &std::path::Path) -> u32 {
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Run one `Exec…=` line as systemd would: `$MAINPID` is the main process systemd tracks (it
/// reads the PID file again only when that process exits). (A daemon keeps its stdout and
/// stderr: a file, not a pipe someone waits to close.)
fn exec(line: &str, main_pid: Option<u32>, pid_file: &std::path::Path) {
    let line = line.replace(
        "$MAINPID",
        &main_pid.map(|p| p.to_string()).unwrap_or_default(),
    );
    let log = pid_file.with_file_name(format!("exec-{}.log", free_port()));
    let mut words = line.split_whitespace();
    let status = Command::new(words.next().unwrap())
        .args(words)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{line}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[tokio::test]
async fn the_units_reload_hands_over_to_a_new_process() {
    let mock = Mock::start().await;
    let dir = temp("unit-run");
    std::fs::create_dir_all(&dir).unwrap();
    let (port, admin) = (free_port(), free_port());
    let pid_file = dir.join("tollgate.pid");
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  listen: 127.0.0.1:{port}\n  pid_file: {}\n  upgrade_sock: {}\nmetrics: {{ listen: 127.0.0.1:{admin} }}\n\
             auth: {{ static_keys: [{{ key: {KEY}, wallet: \"{WALLET}\" }}] }}\nbilling: {{ sink: memory }}\nhealth: {{ probes: false }}\nproviders:{}",
            pid_file.display(),
            dir.join("upgrade.sock").display(),
            standard_providers(mock.addr)
        ),
    )
    .unwrap();
    let unit = unit_for(&config);
    let lines = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_string)
            .collect()
    };
    let mut daemons = Daemons(Vec::new());
    for l in lines("ExecStartPre").iter().chain(&lines("ExecStart")) {
        exec(l, None, &pid_file);
    }
    let old = read_pid(&pid_file);
    daemons.0.push(old);
    let base = format!("http://127.0.0.1:{port}");
    // The parent returns once the daemon is up; its listeners follow a moment later.
    wait_for("the daemon to listen", Duration::from_secs(10), || async {
        reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;

    // A stream in flight across the reload: 60 tokens, 100 ms apart.
    let mut stream = post_json(
        &format!("{base}/v1/chat/completions"),
        Some(KEY),
        &chat("gpt-test", true),
        &[
            ("x-mock-output-tokens", "60"),
            ("x-mock-inter-token-ms", "100"),
        ],
    )
    .await;
    let mut body = stream.chunk().await.unwrap().unwrap().to_vec();

    let reload = lines("ExecReload");
    assert_eq!(
        reload.len(),
        3,
        "validate, start the new process, signal the old one"
    );
    for l in &reload {
        exec(l, Some(old), &pid_file);
        if l.contains("--upgrade") {
            let new = read_pid(&pid_file);
            assert_ne!(
                new, old,
                "the new process wrote the PID file systemd follows"
            );
            daemons.0.push(new);
        }
    }
    let new = read_pid(&pid_file);
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(old) {
        assert!(Instant::now() < deadline, "the old process did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while let Some(c) = stream.chunk().await.unwrap() {
        body.extend_from_slice(&c);
    }
    let body = String::from_utf8(body).unwrap();
    assert_eq!(
        sse_events(&body)
            .iter()
            .filter(|(_, d)| d.contains("\"content\":\"tok"))
            .count(),
        60
    );
    assert!(alive(new));
    let (status, _) = {
        let r = post_json(
            &format!("{base}/v1/chat/completions"),
            Some(KEY),
            &chat("gpt-test", false),
            &[],
        )
        .await;
        (r.status().as_u16(), r.bytes().await)
    };
    assert_eq!(status, 200, "the new process serves");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(new.to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(new) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(new), "SIGTERM (systemctl stop) ends it");
    drop(daemons);
    let _ = std::fs::remove_dir_all(&dir);
}
