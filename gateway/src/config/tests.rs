use super::*;
use tollgate_filters::chat_request::ThinkingPolicy;
use tollgate_filters::usage::ApiFormat;
use tollgate_filters::operation::Operation;

fn env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-upstream-openai".into()),
        "DEMO_KEY" => Some("sk-demo".into()),
        _ => None,
    }
}

const GOOD: &str = r#"
billing: { sink: memory }
server:
  listen: ["127.0.0.1:8080", "[::1]:8080"]
  thinking: strip
  provider_share: 0.70
metrics:
  listen: 127.0.0.1:9090
auth:
  static_keys:
    - { key: "${DEMO_KEY}", wallet: "0xAbCdEf0000000000000000000000000000000001" }
providers:
  - id: openai
    kind: openai
    base_url: https://api.openai.com/v1
    api_key: ${OPENAI_API_KEY}
    priority: 1
    models:
      - id: gpt-4o-mini
        upstream_model: gpt-4o-mini-2024-07-18
        pricing: { prompt: 0.15, completion: 0.6, cache_read: "0.075" }
  - id: backup
    kind: openai
    base_url: http://10.0.0.5:8000/v1/
    api_key: std::env::OPENAI_API_KEY
    models:
      - id: gpt-4o-mini
        pricing: { prompt: 0.2, completion: 0.8 }
  - id: anthropic
    kind: anthropic
    base_url: https://api.anthropic.com
    models:
      - id: claude-sonnet
        upstream_model: claude-sonnet-4-5
        pricing: { prompt: 3, completion: 15, cache_read: 0.3, cache_write_5m: 3.75, cache_write_1h: 6 }
route_aliases:
  - { name: team-a, models: [claude-sonnet], fallback_model: claude-sonnet }
"#;

#[test]
fn parses_a_good_file() {
    let c = Config::from_yaml(GOOD, &env).unwrap();
    assert_eq!(c.server.listen.len(), 2);
    assert_eq!(c.server.thinking, ThinkingPolicy::Strip);
    assert_eq!(c.server.provider_share.bps(), 7000);
    assert_eq!(c.server.max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(c.server.default_max_tokens, 1024);
    assert_eq!(c.static_keys[0].key.expose(), "sk-demo");
    assert_eq!(
        c.static_keys[0].wallet,
        "0xabcdef0000000000000000000000000000000001"
    );
    let openai = &c.providers[0];
    assert_eq!(openai.api_key.expose(), "sk-upstream-openai");
    assert_eq!(
        openai.upstream,
        UpstreamAddr {
            tls: true,
            host: "api.openai.com".into(),
            port: 443,
            path: "/v1/chat/completions".into(),
            prefix: "/v1".into(),
        }
    );
    assert_eq!(
        openai.upstream.path_for(Operation::Embeddings),
        "/v1/embeddings"
    );
    assert_eq!(
        c.providers[2]
            .upstream
            .path_for(Operation::CountTokens),
        "/v1/messages/count_tokens"
    );
    assert_eq!(
        openai.models[0].prices.cache_read.micros_per_million(),
        75_000
    );
    assert_eq!(c.providers[1].upstream.path, "/v1/chat/completions");
    assert_eq!(c.providers[1].upstream.port, 8000);
    assert_eq!(c.providers[1].models[0].upstream_model, "gpt-4o-mini");
    assert_eq!(c.providers[2].upstream.path, "/v1/messages");
    assert_eq!(c.route_aliases[0].name, "team-a");
}

#[test]
fn secrets_never_print() {
    let c = Config::from_yaml(GOOD, &env).unwrap();
    let dump = format!("{c:?}");
    assert!(
        !dump.contains("sk-upstream-openai") && !dump.contains("sk-demo"),
        "{dump}"
    );
}

#[test]
fn lists_every_error_with_its_path() {
    let bad = r#"
server:
  thinking: maybe
  upstream: { connect_timeout: 5 }
providers:
  - id: a
    kind: gemini
    base_url: ftp://x
    api_key: ${MISSING_VAR}
    models:
      - id: m
        pricing: { prompt: -1, completion: 0.0000001 }
      - id: m
        pricing: { prompt: 1 }
  - id: a
    kind: openai
    base_url: http://localhost:1/v1
    models: []
route_aliases:
  - { name: x, models: [nope] }
"#;
    let errs = Config::from_yaml(bad, &env).unwrap_err().0;
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let expect = [
        "server.thinking: unknown policy",
        "server.upstream.connect_timeout:",
        "providers[0].kind: unknown provider kind \"gemini\"",
        "providers[0].api_key: environment variable MISSING_VAR is not set",
        "providers[0].models[0].pricing.prompt: price must not be negative",
        "providers[0].models[0].pricing.completion: price \"1e-7\" has more than 6 decimal places",
        "providers[0].models[1].id: duplicate model id \"m\"",
        "providers[0].models[1].pricing.completion: is required",
        "providers[1].id: duplicate provider id \"a\"",
        "providers[1].models: must list at least one model",
        "route_aliases[0].models[0]: unknown model \"nope\"",
        // Forgetting `billing:` must not serve priced models for free (issue 9, F10).
        "billing.sink: is required",
    ];
    for e in expect {
        assert!(
            text.iter().any(|t| t.starts_with(e)),
            "missing {e:?} in {text:#?}"
        );
    }
}

#[test]
fn unknown_fields_are_refused_with_location() {
    let errs = Config::from_yaml("server:\n  listn: 1\n", &env)
        .unwrap_err()
        .0;
    assert!(errs[0].to_string().contains("listn"), "{errs:?}");
    assert!(errs[0].to_string().contains("line 2"), "{errs:?}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("5"), None);
    assert_eq!(parse_duration("s"), None);
}

#[test]
fn base_urls() {
    let u = parse_base_url("http://127.0.0.1:9/", ApiFormat::Anthropic).unwrap();
    assert_eq!(
        (u.tls, u.host.as_str(), u.port, u.path.as_str()),
        (false, "127.0.0.1", 9, "/v1/messages")
    );
    let u = parse_base_url("https://[::1]:8443/openai/v1", ApiFormat::OpenAi).unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.path.as_str()),
        ("::1", 8443, "/openai/v1/chat/completions")
    );
    assert!(parse_base_url("api.openai.com", ApiFormat::OpenAi).is_err());
    assert!(parse_base_url("http://user@host/", ApiFormat::OpenAi).is_err());
    assert!(parse_base_url("http://host:notaport/", ApiFormat::OpenAi).is_err());
    // A bracketed IPv6 host without a port (was "invalid port": the last ':' is inside it).
    for (url, host, port) in [
        ("http://[::1]/v1", "::1", 80),
        ("https://[::ffff:127.0.0.1]", "::ffff:127.0.0.1", 443),
        ("http://[fe80::1]:81", "fe80::1", 81),
    ] {
        let u = parse_base_url(url, ApiFormat::OpenAi).unwrap();
        assert_eq!((u.host.as_str(), u.port), (host, port), "{url}");
    }
    assert!(parse_base_url("http://[::1/v1", ApiFormat::OpenAi).is_err());
    assert!(parse_base_url("http://[::1]x/v1", ApiFormat::OpenAi).is_err());
    assert!(parse_base_url("http://[]/v1", ApiFormat::OpenAi).is_err());
}

/// `GOOD` with extra top-level sections appended and `server:` lines added.
fn good_with(server_lines: &str, extra: &str) -> String {
    GOOD.replacen("server:\n", &format!("server:\n{server_lines}"), 1) + extra
}

#[test]
fn siwe_is_on_with_a_public_url_and_a_chain() {
    let c = Config::from_yaml(
        &good_with(
            "  public_url: https://gw.example.com\n",
            "chain: { chain_id: 8453 }\n",
        ),
        &env,
    )
    .unwrap();
    let s = c.siwe.expect("siwe on");
    assert_eq!(s.policy.domain, "gw.example.com");
    assert_eq!(s.policy.origin, "https://gw.example.com");
    assert_eq!(s.policy.chain_ids, vec![8453]);
    assert_eq!(s.policy.max_age, Duration::from_secs(300));
    assert_eq!(c.chain.unwrap().network, "base", "x402's name for 8453");
    // Either half alone: no SIWE (and no error).
    assert!(
        Config::from_yaml(&good_with("", "chain: { chain_id: 8453 }\n"), &env)
            .unwrap()
            .siwe
            .is_none()
    );
    assert!(Config::from_yaml(
        &good_with("  public_url: https://gw.example.com\n", ""),
        &env
    )
    .unwrap()
    .siwe
    .is_none());
    let errs = Config::from_yaml(
        &good_with("  public_url: https://gw.example.com/app\n", ""),
        &env,
    )
    .unwrap_err();
    assert!(errs.to_string().contains("server.public_url: "), "{errs}");
}

#[test]
fn chain_settlement_needs_every_piece_and_never_prints_the_key() {
    let key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    let full = format!(
        "chain:\n  chain_id: 31337\n  rpc_url: http://127.0.0.1:8545\n  usdc: \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"\n  treasury_vault: \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\"\n  payout_vault: \"0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0\"\n  operator_key: \"{key}\"\n  topup: {{ min_usd: 2 }}\n  payouts: {{ threshold_usd: 10, schedule: 1h }}\n"
    );
    let c = Config::from_yaml(&good_with("", &full), &env).unwrap();
    let s = c
        .chain
        .as_ref()
        .unwrap()
        .settlement
        .as_ref()
        .expect("settlement on");
    assert_eq!(s.topup_min, 2_000_000);
    assert_eq!(s.payout_threshold, 10_000_000);
    assert_eq!(s.payout_schedule, Some(Duration::from_secs(3600)));
    assert_eq!(s.assets.len(), 1);
    assert_eq!(s.assets[0].symbol, "USDC");
    assert_eq!(
        s.assets[0].address,
        "0x5fbdb2315678afecb367f032d93f642f64180aa3"
    );
    assert!(
        !format!("{c:?}").contains(&key[2..]),
        "the operator key leaks through Debug"
    );

    let partial = "chain:\n  chain_id: 31337\n  rpc_url: http://127.0.0.1:8545\n  usdc: \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"\n";
    let errs = Config::from_yaml(&good_with("", partial), &env)
        .unwrap_err()
        .to_string();
    assert!(
        errs.contains("USDC needs usdc, treasury_vault and payout_vault; missing: treasury_vault, payout_vault"),
        "{errs}"
    );

    let bad = full
        .replace(key, "0xnot-a-key-but-a-secret")
        .replace("min_usd: 2", "min_usd: 0");
    let errs = Config::from_yaml(&good_with("", &bad), &env)
        .unwrap_err()
        .to_string();
    assert!(
        errs.contains("chain.operator_key: must be a 32-byte hex private key"),
        "{errs}"
    );
    assert!(!errs.contains("not-a-key-but-a-secret"), "{errs}");
    assert!(errs.contains("chain.topup.min_usd"), "{errs}");
}

#[test]
fn the_shipped_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let deployment =
        std::env::temp_dir().join(format!("tollgate-cfg-test-{}.json", std::process::id()));
    std::fs::write(
        &deployment,
        r#"{"chain_id":31337,"usdc":"0x5fbdb2315678afecb367f032d93f642f64180aa3","treasury_vault":"0xe7f1725e7734ce288f8367e1bb143e90bb3f0512","payout_vault":"0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0"}"#,
    )
    .unwrap();
    let vars = |name: &str| match name {
        "DATABASE_URL" => Some("postgres://localhost/x".to_string()),
        "TOLLGATE_RPC_URL" => Some("http://127.0.0.1:8545".into()),
        "TOLLGATE_OPERATOR_KEY" => Some(format!("0x{}", "11".repeat(32))),
        "TOLLGATE_MASTER_KEY" => Some("ab".repeat(32)),
        _ => Some("set".into()),
    };
    for file in ["conf/gateway.yaml", "conf/demo.yaml"] {
        let text = std::fs::read_to_string(root.join(file))
            .unwrap()
            .replace(".dev/deployment.json", deployment.to_str().unwrap());
        if let Err(e) = Config::from_yaml(&text, &vars) {
            panic!("{file} is invalid:\n{e}");
        }
    }
    let _ = std::fs::remove_file(deployment);
}

#[test]
fn model_apis_default_by_kind_and_are_checked_against_it() {
    let c = Config::from_yaml(
        r#"
billing: { sink: memory }
providers:
  - { id: o, kind: openai, base_url: "http://127.0.0.1:1/v1", models: [{ id: chat, pricing: { prompt: 1, completion: 1 } }, { id: emb, apis: [embeddings], pricing: { prompt: 1, completion: 0 } }, { id: both, apis: [chat, responses], pricing: { prompt: 1, completion: 1 } }] }
  - { id: a, kind: anthropic, base_url: "http://127.0.0.1:2", models: [{ id: claude, pricing: { prompt: 1, completion: 1 } }] }
"#,
        &|_| None,
    )
    .unwrap();
    let o = &c.providers[0].models;
    assert!(o[0].apis.chat && !o[0].apis.responses && !o[0].apis.count_tokens);
    assert!(o[1].apis.embeddings && !o[1].apis.chat);
    assert!(o[2].apis.serves(Operation::Responses, ApiFormat::OpenAi, true));
    let claude = c.providers[1].models[0].apis;
    assert!(claude.count_tokens);
    assert!(claude.serves(Operation::ChatCompletions, ApiFormat::Anthropic, true));
    assert!(!claude.serves(Operation::ChatCompletions, ApiFormat::Anthropic, false));

    let bad = Config::from_yaml(
        r#"
billing: { sink: memory }
providers:
  - { id: a, kind: anthropic, base_url: "http://127.0.0.1:2", models: [{ id: c, apis: [responses, chat, chat, speech], pricing: { prompt: 1, completion: 1 } }] }
"#,
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    for want in [
        "providers[0].models[0].apis[0]: \"responses\" is an API of openai providers only",
        "providers[0].models[0].apis[2]: \"chat\" is listed twice",
        "providers[0].models[0].apis[3]: unknown API \"speech\"",
    ] {
        assert!(bad.contains(want), "{bad}");
    }
}

#[test]
fn console_section() {
    let c = Config::from_yaml(
        &good_with(
            "",
            "console: { dir: console/dist, explorer_url: \"https://basescan.org/\" }",
        ),
        &env,
    )
    .unwrap();
    let console = c.console.unwrap();
    assert_eq!(console.dir, std::path::PathBuf::from("console/dist"));
    assert_eq!(
        console.explorer_url.as_deref(),
        Some("https://basescan.org")
    );
    assert!(Config::from_yaml(&good_with("", ""), &env)
        .unwrap()
        .console
        .is_none());

    let errs = Config::from_yaml(
        &good_with(
            "",
            "console: { dir: \"\", explorer_url: \"javascript:alert(1)\" }",
        ),
        &env,
    )
    .unwrap_err()
    .0;
    assert!(errs.iter().any(|e| e.path == "console.dir"), "{errs:?}");
    let errs = Config::from_yaml(
        &good_with(
            "",
            "console: { dir: d, explorer_url: \"https://x.example/\\\"><script>\" }",
        ),
        &env,
    )
    .unwrap_err()
    .0;
    assert!(
        errs.iter().any(|e| e.path == "console.explorer_url"),
        "{errs:?}"
    );
    assert!(Config::from_yaml(&good_with("", "console: { dir: d, extra: 1 }"), &env).is_err());
}

#[test]
fn several_chains_and_assets_are_configured_and_checked() {
    let key = format!("0x{}", "22".repeat(32));
    let a = |n: u8| format!("\"0x{}\"", format!("{n:02x}").repeat(20));
    let two = format!(
        "chain:\n  - chain_id: 31337\n    rpc_url: http://127.0.0.1:8545\n    operator_key: \"{key}\"\n    usdc: {}\n    treasury_vault: {}\n    payout_vault: {}\n    topup: {{ min_usd: 2 }}\n    assets:\n      - {{ symbol: USDT, address: {}, transfer: permit2, decimals: 18, treasury_vault: {}, payout_vault: {} }}\n  - chain_id: 31338\n    rpc_url: http://127.0.0.1:8546\n    operator_key: \"{key}\"\n    assets:\n      - {{ symbol: USDT, address: {}, transfer: permit2, treasury_vault: {}, payout_vault: {} }}\n",
        a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9)
    );
    let c = Config::from_yaml(&good_with("", &two), &env).unwrap();
    assert_eq!(c.chains.len(), 2);
    assert_eq!(c.chain.as_ref().unwrap().chain_id, 31337);
    let first = c.chains[0].settlement.as_ref().unwrap();
    let second = c.chains[1].settlement.as_ref().unwrap();
    assert_eq!(
        first
            .assets
            .iter()
            .map(|a| (a.symbol.as_str(), a.decimals))
            .collect::<Vec<_>>(),
        [("USDC", 6), ("USDT", 18)]
    );
    assert_eq!(first.assets[1].transfer, super::Transfer::Permit2);
    assert_eq!(second.assets[0].symbol, "USDT");
    // The first chain's policies govern every chain.
    assert_eq!(second.topup_min, 2_000_000);

    // Fewer than 6 decimals, a policy on a later chain, a chain listed twice: refused by name.
    let bad = two.replace("decimals: 18", "decimals: 2").replace(
        "chain_id: 31338",
        "chain_id: 31337\n    topup: { min_usd: 5 }",
    );
    let errs = Config::from_yaml(&good_with("", &bad), &env)
        .unwrap_err()
        .to_string();
    assert!(
        errs.contains(
            "chain[0].assets[0].decimals: 2 decimals cannot carry every micro-USD amount exactly"
        ),
        "{errs}"
    );
    assert!(
        errs.contains("chain[1].topup: set it on the first chain"),
        "{errs}"
    );
    assert!(
        errs.contains("chain[1].chain_id: chain 31337 is listed twice"),
        "{errs}"
    );
    let unknown = two.replace("transfer: permit2, decimals", "transfer: permit3, decimals");
    let errs = Config::from_yaml(&good_with("", &unknown), &env)
        .unwrap_err()
        .to_string();
    assert!(
        errs.contains("\"permit3\" is not eip3009 or permit2"),
        "{errs}"
    );
}
