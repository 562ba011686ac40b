use super::*;
use std::time::Duration;

#[test]
fn redacts_urls() {
    assert_eq!(
        redact_url("https://base-mainnet.g.alchemy.com/v2/SECRETKEY"),
        "https://base-mainnet.g.alchemy.com/…"
    );
    assert_eq!(redact_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
    assert_eq!(
        redact_url("http://127.0.0.1:8545/"),
        "http://127.0.0.1:8545"
    );
    assert_eq!(
        redact_url("https://user:pass@rpc.example?key=abc"),
        "https://rpc.example/…"
    );
}

#[test]
fn bad_keys_do_not_echo_input() {
    let secret = "0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeZZ";
    let err = parse_private_key(secret).unwrap_err();
    assert!(matches!(err, ChainError::InvalidKey));
    assert!(!err.to_string().contains("deadbeef"));
    assert!(parse_private_key("0x1234").is_err());
    // anvil's first dev key
    let k = parse_private_key("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        .unwrap();
    assert_eq!(
        k.address(),
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse::<Address>()
            .unwrap()
    );
    assert!(
        parse_private_key("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
            .is_ok()
    );
}

#[test]
fn config_debug_hides_url_secrets() {
    let c = ChainConfig::new("https://rpc.example/v2/SECRETKEY");
    let s = format!("{c:?}");
    assert!(!s.contains("SECRETKEY"), "{s}");
}

#[tokio::test]
async fn connect_to_nothing_fails_with_rpc_error_after_retries() {
    let mut cfg = ChainConfig::new("http://127.0.0.1:9"); // discard port: connection refused
    cfg.max_retries = 2;
    cfg.initial_backoff = Duration::from_millis(1);
    let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let err = ChainClient::connect(cfg, key).await.unwrap_err();
    match &err {
        ChainError::Rpc { attempts, .. } => assert_eq!(*attempts, 3),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.to_string().contains("ac0974bec"));
}

#[tokio::test]
async fn https_urls_build_a_tls_client() {
    // reqwest is built with rustls-no-provider: connecting must not panic for lack of a
    // crypto provider; it fails like any unreachable node.
    let mut cfg = ChainConfig::new("https://127.0.0.1:9");
    cfg.max_retries = 0;
    let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    assert!(matches!(
        ChainClient::connect(cfg, key).await,
        Err(ChainError::Rpc { .. })
    ));
}

#[test]
fn urls_in_error_text_are_redacted() {
    let text = "error sending request for url (https://base.g.alchemy.com/v2/SECRET?x=1): connection refused; retry http://10.0.0.1:8545/?apikey=KEY, then";
    let clean = redact_urls_in(text);
    assert!(
        !clean.contains("SECRET") && !clean.contains("KEY"),
        "{clean}"
    );
    assert_eq!(
        clean,
        "error sending request for url (https://base.g.alchemy.com/…): connection refused; retry http://10.0.0.1:8545/…, then"
    );
    assert_eq!(redact_urls_in("no url here"), "no url here");
}

#[tokio::test]
async fn rpc_errors_never_carry_the_url_they_failed_on() {
    let mut cfg = ChainConfig::new("http://127.0.0.1:1/?apikey=SECRETMARKER");
    cfg.max_retries = 0;
    let e = ChainClient::connect(
        cfg,
        "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    )
    .await
    .unwrap_err();
    let shown = format!("{e} {e:?} {}", e.client_text());
    assert!(!shown.contains("SECRETMARKER"), "{shown}");
}
