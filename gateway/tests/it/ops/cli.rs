//! The command line: `--version` names the commit, `tollgate man` is `docs/tollgate.1`,
//! `tollgate completions` writes a script for each shell.

use super::*;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(tollgate_bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(
        run(&["--version"]).trim(),
        format!("tollgate {} (commit {head})", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_man_page_in_docs_is_what_the_binary_prints() {
    let page = run(&["man"]);
    assert!(
        page.contains(".TH tollgate 1") && page.contains("\\-\\-upgrade"),
        "{page}"
    );
    let committed = std::fs::read_to_string(repo().join("docs/tollgate.1")).unwrap_or_default();
    assert!(
        committed == page,
        "docs/tollgate.1 is stale: run `target/debug/tollgate man > docs/tollgate.1`"
    );
}

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = run(&["completions", shell]);
        for sub in ["validate", "prices", "migrate", "completions"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let bash = run(&["completions", "bash"]);
    assert!(bash.contains("complete -F _tollgate"), "{bash}");
    let out = Command::new(tollgate_bin())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
