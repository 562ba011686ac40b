//! The provider side's command line: `tollgate provider push -c provider.toml` lists a file's
//! models on the gateway (idempotently), `--validate` checks without sending, and
//! `tollgate keys rotate-master` re-seals every upstream key under a new master key.

use super::*;
use std::process::Command;
use std::time::Duration;

const NEW_MASTER: &str = "0aa1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";

/// Run `tollgate provider push` off the test's runtime thread (the in-process mock it reaches
/// runs on that thread).
async fn push(
    file: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let mut cmd = Command::new(tollgate_bin());
    cmd.args(["provider", "push", "-c"])
        .arg(file)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn provider_file(router: &str, api_base: &str) -> String {
    format!(
        r#"
[router]
url = "{router}"
api_key = "std::env::TOLLGATE_PROVIDER_KEY"

[[models]]
name = "gpt-test"
display_name = "GPT test via acme"
provider_name = "acme"
context_length = 8192
[models.pricing]
prompt = "1"
completion = 3
[models.params]
model = "mock-gpt"
api_base = "{api_base}"
api_key = "std::env::ACME_API_KEY"

[[models]]
name = "org/other"
provider_name = "acme"
[models.pricing]
prompt = "0.5"
completion = "0.5"
[models.params]
api_base = "{api_base}"
api_key = "std::env::ACME_API_KEY"
"#
    )
}

#[tokio::test]
async fn push_lists_a_provider_file_idempotently_and_validate_sends_nothing() {
    let db = funded_db().await;
    let yaml_mock = Mock::start().await;
    let acme = Mock::start().await;
    let n1 = node(&db, &yaml_mock, "").await;
    let n2 = node(&db, &yaml_mock, "").await;
    let pk = provider_key(&n1, &PrivateKeySigner::random(), None).await;
    let file = temp_path("provider", ".toml");
    std::fs::write(
        &file,
        provider_file(&n1.base, &format!("http://{}/v1", acme.addr)),
    )
    .unwrap();
    let env = [
        ("TOLLGATE_PROVIDER_KEY", pk.as_str()),
        ("ACME_API_KEY", "acme-secret-9"),
    ];

    let (ok, out, err) = push(&file, &["--validate"], &env).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("1 upstreams, 2 models"), "{out}");
    assert!(
        acme.recorder.requests().is_empty(),
        "--validate sends nothing"
    );
    assert!(!lists(&n1, "gpt-test", "acme").await);

    let (ok, out, err) = push(&file, &[], &env).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("upstream acme: created"), "{out}");
    assert!(
        out.contains("model acme/gpt-test: live") && out.contains("model acme/org/other: live"),
        "{out}"
    );
    wait_for(
        "pushed models on both nodes",
        Duration::from_secs(1),
        || async { lists(&n2, "gpt-test", "acme").await && lists(&n2, "org/other", "acme").await },
    )
    .await;
    let (s, v, id) = chat(&n2, "acme/gpt-test", json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        acme.last().header("authorization"),
        Some("Bearer acme-secret-9")
    );
    assert_eq!(logged(&db, &id).await.get::<_, i64>(1), 12 + 16 * 3);

    // Again: nothing changes but "updated" (same price rows).
    let c = crate::common::pg::client(&db).await;
    let prices = || async {
        c.query_one("SELECT COUNT(*) FROM market_prices", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let before = prices().await;
    let (ok, out, _) = push(&file, &[], &env).await;
    assert!(ok && out.contains("upstream acme: updated"), "{out}");
    assert_eq!(
        prices().await,
        before,
        "an unchanged price is not a new price row"
    );
}

#[tokio::test]
async fn validate_lists_every_problem_with_its_path() {
    // (No gateway: the file is checked on its own.)
    let file = temp_path("provider-bad", ".toml");
    std::fs::write(
        &file,
        r#"
[router]
url = "ftp://nowhere"
api_key = "std::env::TOLLGATE_UNSET_KEY_FOR_TEST"

[[models]]
name = "has space"
provider_name = "acme"
[models.pricing]
completion = "1.0000001"
colour = "2"
[models.params]
api_base = "not-a-url"
kind = "gemini"
api_key = "std::env::ANOTHER_UNSET_FOR_TEST"
"#,
    )
    .unwrap();
    let (ok, _, err) = push(&file, &["--validate"], &[]).await;
    assert!(!ok);
    for needle in [
        "router.api_key: environment variable TOLLGATE_UNSET_KEY_FOR_TEST is not set",
        "router.url:",
        "models[0].name:",
        "models[0].params.kind:",
        "models[0].params.api_base:",
        "models[0].params.api_key: environment variable ANOTHER_UNSET_FOR_TEST is not set",
        "models[0].pricing.completion:",
        "models[0].pricing.colour: unknown price",
        "models[0].pricing.prompt: is required",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    // The shipped example is valid.
    let example = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conf/provider.toml"
    ));
    let key = format!("pk-{}", "0".repeat(64));
    let (ok, out, err) = push(
        example,
        &["--validate"],
        &[("TOLLGATE_PROVIDER_KEY", &key), ("ACME_API_KEY", "x")],
    )
    .await;
    assert!(ok && out.contains("1 upstreams, 1 models"), "{out}{err}");
    std::fs::write(&file, "[router]\nurl = 1\n").unwrap();
    let (ok, _, err) = push(&file, &["--validate"], &[]).await;
    assert!(!ok && err.contains("invalid"), "{err}");
}

#[tokio::test]
async fn rotate_master_reseals_every_key_and_nodes_with_only_the_new_key_still_route() {
    let db = funded_db().await;
    let yaml_mock = Mock::start().await;
    let acme = Mock::start().await;
    let n1 = node(&db, &yaml_mock, "").await;
    let pk = provider_key(&n1, &PrivateKeySigner::random(), None).await;
    assert_eq!(
        put(
            &n1,
            "/v1/provider/upstreams/acme",
            &pk,
            upstream_body(&acme, "acme-key-rot")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        put(
            &n1,
            "/v1/provider/models/gpt-test",
            &pk,
            model_body("acme", "mock-gpt", "1", "1")
        )
        .await
        .1["live"],
        true
    );
    let c = crate::common::pg::client(&db).await;
    let sealed_under = || async {
        let r = c
            .query_one(
                "SELECT key_master_id, key_sealed FROM market_upstreams WHERE id = 'acme'",
                &[],
            )
            .await
            .unwrap();
        (r.get::<_, String>(0), r.get::<_, Vec<u8>>(1))
    };
    let (old_id, old_sealed) = sealed_under().await;

    // The operator's config during the rotation: the new key, the old one as previous.
    let cfg = temp_path("rotate", ".yaml");
    let yaml = std::fs::read_to_string(&n1.config.0).unwrap().replace(
        "  master_key: ${TOLLGATE_MASTER_KEY}\n",
        &format!(
            "  master_key: ${{TOLLGATE_MASTER_KEY}}\n  previous_master_keys: [\"{MASTER_KEY}\"]\n"
        ),
    );
    std::fs::write(&cfg, yaml).unwrap();
    let out = Command::new(tollgate_bin())
        .arg("-c")
        .arg(&cfg)
        .args(["keys", "rotate-master"])
        .env("TOLLGATE_MASTER_KEY", NEW_MASTER)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("re-sealed 1 upstream keys"), "{text}");
    let (new_id, new_sealed) = sealed_under().await;
    assert_ne!(new_id, old_id);
    assert_ne!(new_sealed, old_sealed);

    // A node that only has the new key opens it and sends the provider's real key.
    let mut opts = GatewayOpts::new(yaml_provider(yaml_mock.addr));
    opts.billing = billing_yaml(&db, "");
    opts.public_url = Some(String::new());
    opts.extra = format!(
        "chain: {{ chain_id: {CHAIN_ID} }}\nmarketplace:\n  master_key: ${{TOLLGATE_MASTER_KEY}}\n  allow_private_upstreams: true\n"
    );
    opts.env = vec![("TOLLGATE_MASTER_KEY".into(), NEW_MASTER.into())];
    let n3 = Gateway::start(opts).await;
    let (s, v, _) = chat(&n3, "acme/gpt-test", json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        acme.last().header("authorization"),
        Some("Bearer acme-key-rot")
    );
    // Running it again moves nothing.
    let out = Command::new(tollgate_bin())
        .arg("-c")
        .arg(&cfg)
        .args(["keys", "rotate-master"])
        .env("TOLLGATE_MASTER_KEY", NEW_MASTER)
        .output()
        .unwrap();
    let again = String::from_utf8_lossy(&out.stdout);
    assert!(
        again.contains("re-sealed 0 upstream keys") && again.contains("1 already were"),
        "{again}"
    );
    let _ = std::fs::remove_file(&cfg);
}
