//! The gateway's layers, checked from its source: every `crate::<module>` a file names must
//! be a module its own top-level module may use. The table is the one in `src/lib.rs`; a new
//! module, or a new edge between two, is added here on purpose or not at all.
//!
//! What this keeps true: `config` imports no runtime module; the data plane (`proxy`) may hand a
//! request to the control plane, never the reverse; `money` (ledger ↔ chain) has no HTTP in
//! it; `jobs` and `cli` call `money`, never an HTTP handler; nothing imports `app`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it may name with `crate::`.
const MAY_USE: &[(&str, &[&str])] = &[
    ("config", &[]),
    ("wire", &["config"]),
    ("metrics", &["config"]),
    ("redis", &["config", "metrics"]),
    ("readiness", &[]),
    ("telemetry", &["config", "metrics"]),
    ("identity", &["config", "wire", "metrics", "redis"]),
    (
        "rate_limit",
        &["config", "wire", "metrics", "redis", "identity"],
    ),
    ("money", &["config", "metrics", "redis", "identity"]),
    ("market", &["config", "metrics"]),
    ("plugins", &["config", "wire", "identity"]),
    (
        "control",
        &[
            "config",
            "wire",
            "metrics",
            "redis",
            "identity",
            "rate_limit",
            "money",
            "market",
            "readiness",
        ],
    ),
    (
        "proxy",
        &[
            "config",
            "wire",
            "metrics",
            "redis",
            "identity",
            "rate_limit",
            "money",
            "control",
            "plugins",
            "market",
            "readiness",
            "telemetry",
        ],
    ),
    (
        "jobs",
        &[
            "config",
            "metrics",
            "redis",
            "identity",
            "rate_limit",
            "money",
            "readiness",
            "telemetry",
        ],
    ),
    ("cli", &["config", "money", "market"]),
    ("admin", &["config", "metrics", "wire", "readiness"]),
    (
        "app",
        &[
            "config",
            "wire",
            "metrics",
            "redis",
            "identity",
            "rate_limit",
            "money",
            "control",
            "proxy",
            "jobs",
            "cli",
            "admin",
            "plugins",
            "market",
            "readiness",
            "telemetry",
        ],
    ),
    ("binary", &["config", "plugins", "app", "cli", "telemetry"]),
    ("lib", &[]),
];

/// Longest file, in lines of code (not blank, not comments): one module, one job.
const MAX_CODE_LINES: usize = 450;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/proxy/phases.rs` → `proxy`).
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a line: without a `//` comment (the gateway has no `//` inside strings that
/// name `crate::`, and a test below would catch one that hid an import).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Every `crate::<name>` in a file's code, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = code(line);
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `tollgate_gateway::…` and `$crate::` are not this crate's layer edges.
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
                && !name.is_empty()
            {
                found.push((n + 1, name));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let may_use: BTreeMap<&str, &[&str]> = MAY_USE.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let module = top_module(&src, file);
        if module == "main" {
            continue; // the binary names the library as `tollgate_gateway::`
        }
        let Some(allowed) = may_use.get(module.as_str()) else {
            problems.push(format!(
                "{}: module `{module}` has no row in MAY_USE (tests/it/layering.rs)",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, used) in crate_paths(&text) {
            if used != module && !allowed.contains(&used.as_str()) {
                problems.push(format!(
                    "{}:{line}: `{module}` may not use `crate::{used}`",
                    file.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_file_stays_small() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .count();
        if lines > MAX_CODE_LINES {
            long.push(format!("{}: {lines} lines of code", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_CODE_LINES} lines of code (split them by job):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_imports_and_skips_comments() {
    let text = "use crate::proxy::Gateway;\n// crate::app in a comment\nlet x = crate::money::ids::topup_id(a);\npub(crate) fn f() {}\nuse tollgate_gateway::app;";
    let found: Vec<String> = crate_paths(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["proxy", "money"]);
}
