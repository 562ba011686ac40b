//! The API contract: every route the gateway matches is in `docs/openapi.yaml` and every
//! operation of the document is a route; every error the source can write is in its table;
//! the documents are served as built.

use super::*;
use regex::Regex;
use std::collections::BTreeSet;
use tollgate_gateway::control::docs;
use tollgate_gateway::proxy::route::ROUTES;

#[test]
fn the_route_table_and_the_spec_name_the_same_operations() {
    let spec = docs::spec();
    let mut in_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for method in item.as_mapping().unwrap().keys() {
            let (path, method) = (path.as_str().unwrap(), method.as_str().unwrap());
            in_spec.insert((method.to_uppercase(), path.to_string()));
        }
    }
    // The console's page and assets are routes but not API.
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|r| !r.path.starts_with("/console"))
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let missing: Vec<_> = routed.difference(&in_spec).collect();
    let extra: Vec<_> = in_spec.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes the spec lacks: {missing:?}\nspec operations with no route: {extra:?}"
    );
    let api_rows = ROUTES.iter().filter(|r| !r.path.starts_with("/console")).count();
    assert_eq!(routed.len(), api_rows, "a route is listed twice");
}

/// Every `ApiError::new(status, "CODE", …)` in the gateway's source is a row of the spec's
/// error table (`Error.x-codes`), so the documented table cannot fall behind the code.
#[test]
fn every_error_the_source_writes_is_in_the_spec() {
    let spec = docs::spec();
    let table: BTreeSet<(u64, String)> = spec["components"]["schemas"]["Error"]["x-codes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| (c["status"].as_u64().unwrap(), c["code"].as_str().unwrap().to_string()))
        .collect();
    let new = Regex::new(r#"ApiError::new\(\s*(\d{3}),\s*"([A-Z_]+)""#).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut missing = BTreeSet::new();
    let mut seen = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for c in new.captures_iter(&text) {
            seen += 1;
            let key = (c[1].parse::<u64>().unwrap(), c[2].to_string());
            if !table.contains(&key) {
                missing.insert(format!("{} {} ({})", key.0, key.1, f.display()));
            }
        }
    }
    assert!(seen > 30, "the pattern still finds the errors ({seen})");
    assert!(missing.is_empty(), "errors missing from docs/openapi.yaml's x-codes:\n{missing:#?}");
}

#[tokio::test]
async fn the_documents_are_served_as_built() {
    let mock = Mock::start().await;
    let gw = gateway_with(&mock, "  public_url: https://gw.example\n").await;
    let get = |p: &'static str| {
        let url = gw.url(p);
        async move { reqwest::get(url).await.unwrap() }
    };
    let r = get("/openapi.yaml").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/yaml");
    assert_eq!(r.text().await.unwrap(), docs::OPENAPI);
    let r = get("/llms.txt").await;
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let llms = r.text().await.unwrap();
    assert!(llms.starts_with("# Tollgate\n\n> "), "{llms}");
    assert!(llms.contains("(https://gw.example/llms-full.txt)"));
    let full = get("/llms-full.txt").await.text().await.unwrap();
    assert!(full.contains("### `POST /v1/chat/completions`: OpenAI Chat Completions"));
    assert!(full.contains("| 402 | `INSUFFICIENT_BALANCE` |"));
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let mock = Mock::start().await;
    let gw = gateway_with(&mock, "").await;
    let c = client();
    let r = c.get(gw.url("/v1/chat/completions")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    let r = c.patch(gw.url("/v1/auth/keys")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET, POST");
    let r = c.get(gw.url("/v1/provider/models/org%2Fm")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "PUT, DELETE");
    assert_eq!(error_of(r).await.1, "METHOD_NOT_ALLOWED");
    let r = c.get(gw.url("/v1/nothing")).send().await.unwrap();
    assert_eq!(error_of(r).await, (404, "NOT_FOUND".into(), "No route for /v1/nothing".into()));
    // Every LLM row is wired: a body without a model is the caller's error, not 501.
    for path in ["/v1/responses", "/v1/embeddings", "/v1/messages/count_tokens"] {
        let r = post_json(&gw.url(path), Some(KEY), &json!({}), &[]).await;
        assert_eq!(error_of(r).await.1, "VALIDATION_ERROR", "{path}");
    }
}
