use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-upstream-openai".into()),
        "DEMO_KEY" => Some("sk-demo".into()),
        _ => None,
    }
}

const GOOD: &str = r#"
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
            path: "/v1/chat/completions".into()
        }
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
}
