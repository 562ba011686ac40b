//! Plugins from outside this crate: registered at compile time, or loaded as proxy-wasm.

use super::*;

/// The custom build of `gateway/examples/request_counter`. `scripts/test.sh` builds it
/// before the tests; here it is built again only when a source file is newer than it. (Cargo
/// run from inside a test process sees the test's environment and rebuilds much of the tree
/// for nothing, so it is not run when the binary is fresh.)
fn request_counter_build() -> std::path::PathBuf {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tollgate"))
        .parent()
        .unwrap()
        .join("examples/request_counter");
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let newest_source = [
        "gateway/src",
        "gateway/examples",
        "filters/src",
        "billing/src",
        "chain/src",
    ]
    .iter()
    .filter_map(|d| newest(&root.join(d)))
    .max();
    if built.is_none() || newest_source > built {
        let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
            .args(["build", "-q", "--workspace", "--bins", "--examples"])
            .args(cfg!(feature = "wasm").then_some("--features=tollgate-gateway/wasm"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the example failed");
    }
    bin
}

/// The latest modification time of any file under `dir`.
fn newest(dir: &std::path::Path) -> Option<std::time::SystemTime> {
    let mut latest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        latest = latest.max(t);
    }
    latest
}

#[tokio::test]
async fn a_compile_time_plugin_registered_by_name_runs_in_its_route() {
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.bin = Some(request_counter_build());
    opts.extra = r#"routes:
  default: [thinking, default_max_tokens, response_headers]
  chat_completions: [thinking, default_max_tokens, response_headers, request_counter: { header: x-seen }]
"#
    .into();
    let gw = Gateway::start(opts).await;
    let url = gw.url("/v1/chat/completions");
    for n in 1..=3 {
        let resp = post_json(&url, Some(KEY), &chat("gpt-test"), &[]).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-seen"], n.to_string().as_str());
    }
    // Not on the routes that do not list it.
    let resp = gw.post("/v1/messages", &message("claude-test"), &[]).await;
    assert!(resp.headers().get("x-seen").is_none());
    // Its outcome hook counts finished calls (logging runs just after each response).
    let finished = |r: &reqwest::Response| -> u64 {
        r.headers()["x-calls-finished"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut seen = 0;
    for _ in 0..50 {
        let resp = post_json(&url, Some(KEY), &chat("gpt-test"), &[]).await;
        seen = finished(&resp);
        if seen >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen >= 3, "outcome hook saw {seen} finished calls");

    // The stock binary does not know the plugin: validate names it.
    let (ok, err) = validate("  default: [request_counter]\n");
    assert!(!ok);
    assert!(err.contains("unknown plugin \"request_counter\""), "{err}");
}

#[test]
fn the_documented_route_chains_of_conf_gateway_yaml_build() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(tollgate_bin())
        .args(["validate", "-c"])
        .arg(root.join("conf/gateway.yaml"))
        .envs([
            ("DATABASE_URL", "postgres://x@127.0.0.1/x"),
            ("OPENAI_API_KEY", "x"),
            ("ANTHROPIC_API_KEY", "x"),
            ("TOLLGATE_DEMO_KEY", "sk-demo"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(feature = "wasm")]
#[tokio::test]
async fn a_proxy_wasm_filter_changes_headers_and_bodies_and_the_meter_reads_the_original() {
    let filter =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/wasm/tollgate_filter.wat");
    // A second filter that never returns: stopped by its fuel, the call is served unchanged.
    let looping = temp_path("tollgate-loop", ".wat");
    std::fs::write(
        &looping,
        r#"(module (memory (export "memory") 1)
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
          (func (export "proxy_on_context_create") (param i32 i32))
          (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
            (loop $forever (br $forever)) (i32.const 0)))"#,
    )
    .unwrap();
    let _cleanup = tempfile_path::TempPath(looping.clone());
    let (mock, gw) = with_routes(&format!(
        "  chat_completions: [thinking, default_max_tokens, response_headers, wasm: {{ file: {:?} }}, wasm: {{ file: {:?} }}]\n",
        filter.display().to_string(),
        looping.display().to_string()
    ))
    .await;
    let resp = gw
        .post(
            "/v1/chat/completions",
            &chat("gpt-test"),
            &[("x-remove-me", "1"), ("x-wasm-echo", "ping")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-wasm-response"], "seen");
    assert!(resp.headers().get("x-request-id").is_some());
    let id = request_id(&resp);
    let text = resp.text().await.unwrap();
    assert!(text.contains("\"CHOICES\""), "the body filter ran: {text}");
    let seen = mock.last();
    assert_eq!(header(&seen, "x-wasm-filter"), Some("on"));
    assert_eq!(header(&seen, "x-remove-me"), None);
    assert_eq!(header(&seen, "x-wasm-echoed"), Some("ping"));
    assert_eq!(
        header(&seen, "authorization"),
        Some("Bearer upstream-secret-openai"),
        "the filter cannot change the provider's credentials"
    );
    // Metered on the provider's bytes, before the filter upper-cased them.
    let o = gw.outcome(&id).await;
    assert_eq!(o["output_tokens"], 16, "{o}");
    // Other routes are untouched.
    let resp = gw.post("/v1/messages", &message("claude-test"), &[]).await;
    assert!(resp.headers().get("x-wasm-response").is_none());
    assert!(resp.text().await.unwrap().contains("\"content\""));
}

#[cfg(feature = "wasm")]
#[test]
fn validate_says_why_a_wasm_file_cannot_be_a_filter() {
    let (ok, err) =
        validate("  default: [wasm: { file: /nonexistent.wasm }, wasm: { file: /etc/hostname }]\n");
    assert!(!ok);
    assert!(
        err.contains("routes.default[0].wasm.file: cannot read /nonexistent.wasm"),
        "{err}"
    );
    assert!(
        err.contains("routes.default[1].wasm.file: not a WebAssembly module"),
        "{err}"
    );
}
