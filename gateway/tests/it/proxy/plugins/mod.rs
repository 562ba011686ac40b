//! Per-route plugin chains (`routes:`): the refusal to remove or reorder a money step
//! (here), each built-in plugin on a real gateway ([`builtins`]), a compile-time plugin and a
//! proxy-wasm filter ([`extension`]).

mod builtins;
mod extension;

use super::*;
pub(super) use crate::common::RecordedRequest;
use std::io::Write;

pub(super) async fn with_routes(routes: &str) -> (Mock, Gateway) {
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.extra = format!("routes:\n{routes}");
    (mock, Gateway::start(opts).await)
}

pub(super) fn header<'a>(r: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    r.header(name)
}

/// `tollgate validate` on a config whose `routes:` section is `routes`: (ok, stderr).
pub(super) fn validate(routes: &str) -> (bool, String) {
    let yaml = format!(
        r#"
server: {{ listen: 127.0.0.1:1 }}
auth: {{ static_keys: [{{ key: sk-x, wallet: "0x00000000000000000000000000000000000000aa", label: x }}] }}
billing: {{ sink: memory }}
providers:
  - id: oa
    kind: openai
    base_url: http://127.0.0.1:9/v1
    models: [{{ id: gpt-test, pricing: {{ prompt: 1, completion: 2 }} }}]
route_aliases:
  - {{ name: coder, models: [gpt-test] }}
routes:
{routes}
"#
    );
    let path = temp_path("tollgate-validate", ".yaml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let _cleanup = tempfile_path::TempPath(path.clone());
    let out = tollgate_cli(&path, &["validate"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_refuses_a_route_that_removes_or_reorders_a_money_step() {
    let (ok, err) = validate("  messages: [authenticate, rate_limit, meter, settle]\n");
    assert!(!ok);
    assert!(
        err.contains("routes.messages: lists the money spine but not `reserve`"),
        "{err}"
    );
    let (ok, err) =
        validate("  chat_completions: [authenticate, reserve, rate_limit, meter, settle]\n");
    assert!(!ok);
    assert!(
        err.contains("routes.chat_completions: the money spine runs in a fixed order (authenticate → rate_limit → reserve → meter → settle)"),
        "{err}"
    );
    // A body plugin after `reserve` would change a body whose cost is already reserved.
    let (ok, err) = validate(
        "  default: [authenticate, rate_limit, reserve, default_max_tokens, meter, settle]\n",
    );
    assert!(!ok);
    assert!(
        err.contains("routes.default[3]: `default_max_tokens` reads or changes the request body, so it must come before `reserve`"),
        "{err}"
    );
    let (ok, err) = validate("  control: [reserve]\n  aliases: { nobody: [thinking] }\n");
    assert!(!ok);
    assert!(
        err.contains("routes.control[0]: `reserve` is a step of paid LLM routes"),
        "{err}"
    );
    assert!(
        err.contains("routes.aliases.nobody: no route alias \"nobody\""),
        "{err}"
    );
    let (ok, err) = validate(
        "  messages: [{ rate_limit: { rpm: 5 } }, authenticate, reserve, meter, settle]\n",
    );
    assert!(!ok);
    assert!(err.contains("routes.messages[0]: `rate_limit` takes no options here; it is configured in its own section (limits)"), "{err}");

    // Every error of every plugin, with its path.
    let (ok, err) = validate(
        r#"  default:
    - no_such_plugin
    - prompt_deny: { rules: [{ name: bad, pattern: "a(" }] }
    - headers: { providers: [ghost], request: { set: { authorization: "Bearer x", accept-encoding: gzip } } }
    - request_guard: { max_messages: 0, models_by_wallet: { nope: [gpt-test] } }
    - ip_filter: { allow: [10.0.0.0/33] }
    - timeouts: { first_byte: soon, connect: 9999999999h }
    - default_max_tokens: 20.5
  control: [headers: { response: { set: { x-a: b } } }]
"#,
    );
    assert!(!ok);
    for expected in [
        "routes.default[0]: unknown plugin \"no_such_plugin\"",
        "routes.default[1].prompt_deny.rules[0].pattern: regex parse error",
        "routes.default[2].headers.providers[0]: no provider \"ghost\"",
        "routes.default[2].headers.request.set.authorization: `authorization` is set by the gateway",
        "routes.default[2].headers.request.set.accept-encoding: `accept-encoding` is set by the gateway",
        "routes.default[3].request_guard.max_messages: must be positive",
        "routes.default[3].request_guard.models_by_wallet.nope: is not a 0x wallet address",
        "routes.default[4].ip_filter.allow[0]: \"10.0.0.0/33\" is not an IP address or CIDR block",
        "routes.default[5].timeouts.first_byte: \"soon\" is not a positive duration",
        "routes.default[5].timeouts.connect: \"9999999999h\" is not a positive duration of at most 24h",
        "routes.default[6].default_max_tokens.value: 20.5 is not a whole number of tokens",
        "routes.control[0]: `headers` acts on LLM calls; control-plane routes run request-head plugins only",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }

    // The spine named in full, in order, with plugins between its steps.
    let (ok, err) = validate(
        "  default: [ip_filter: { allow: [127.0.0.1] }, authenticate, rate_limit, thinking, default_max_tokens, reserve, response_headers, meter, settle]\n",
    );
    assert!(ok, "{err}");
}
