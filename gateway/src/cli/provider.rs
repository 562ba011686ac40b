//! `tollgate provider push -c provider.toml [--router URL] [--validate]`: a provider's own
//! listing file (AiMo's `config.toml` shape) → `PUT /v1/provider/upstreams/:id` for every
//! `provider_name` and `PUT /v1/provider/models/:id` for every model, idempotently. With
//! `--validate` nothing is sent: every problem is listed with its path.
//!
//! ```toml
//! [router]
//! url = "http://127.0.0.1:8080"
//! api_key = "std::env::TOLLGATE_PROVIDER_KEY"   # a pk-… key with models:write
//!
//! [[models]]
//! name = "gpt-4o-mini"            # the public model id
//! display_name = "GPT-4o mini"
//! provider_name = "acme"          # the upstream (provider id buyers pin as acme/…)
//! context_length = 128000
//! input_modalities = ["text"]
//! output_modalities = ["text"]
//! [models.pricing]                # USD per 1M tokens (image: per image, request: per call)
//! prompt = "0.15"
//! completion = "0.60"
//! [models.params]
//! model = "gpt-4o-mini"           # the upstream's own model name
//! api_base = "https://api.example.com/v1"
//! api_key = "std::env::ACME_API_KEY"
//! kind = "openai"                 # or "anthropic" (default openai)
//! ```

use crate::config::parse_base_url;
use clap::Subcommand;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use tollgate_billing::Price;
use tollgate_filters::usage::ApiFormat;

#[derive(Subcommand)]
pub enum ProviderOp {
    /// Register or update every upstream and model of a provider file (`-c provider.toml`).
    Push {
        /// The gateway (overrides `[router] url`).
        #[arg(long)]
        router: Option<String>,
        /// Check the file and exit; send nothing.
        #[arg(long)]
        validate: bool,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    router: Router,
    #[serde(default)]
    models: Vec<Model>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Router {
    url: Option<String>,
    api_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Model {
    name: String,
    display_name: Option<String>,
    provider_name: String,
    context_length: Option<u64>,
    input_modalities: Option<Vec<String>>,
    output_modalities: Option<Vec<String>>,
    pricing: BTreeMap<String, toml::Value>,
    params: Params,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    model: Option<String>,
    api_base: String,
    api_key: Option<String>,
    kind: Option<String>,
    priority: Option<u64>,
}

/// What the file asks for, checked: upstream bodies by id, then model bodies.
struct Plan {
    router: String,
    key: String,
    upstreams: BTreeMap<String, Value>,
    models: Vec<(String, Value)>,
}

const PRICES: [&str; 7] = [
    "prompt",
    "completion",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "image",
    "request",
];

/// `std::env::NAME` or `${NAME}` → the variable (an error naming it when unset).
fn env_ref(text: &str, path: &str, errors: &mut Vec<String>) -> String {
    let name = text
        .strip_prefix("std::env::")
        .or_else(|| text.strip_prefix("${").and_then(|r| r.strip_suffix('}')));
    match name {
        None => text.to_string(),
        Some(n) => std::env::var(n).unwrap_or_else(|_| {
            errors.push(format!("{path}: environment variable {n} is not set"));
            String::new()
        }),
    }
}

fn plan(text: &str, router: Option<String>) -> Result<Plan, Vec<String>> {
    let file: File = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    let mut errors = Vec::new();
    let key = env_ref(&file.router.api_key, "router.api_key", &mut errors);
    if !errors.is_empty() || !key.starts_with("pk-") {
        errors.push(
            "router.api_key: must be a provider key (pk-…, from POST /v1/provider/keys)".into(),
        );
    }
    let router = router.or(file.router.url).unwrap_or_default();
    if !(router.starts_with("http://") || router.starts_with("https://")) {
        errors.push("router.url: must be the gateway's http(s):// URL (or pass --router)".into());
    }
    if file.models.is_empty() {
        errors.push("models: the file lists no [[models]]".into());
    }
    let mut upstreams: BTreeMap<String, Value> = BTreeMap::new();
    let mut models = Vec::new();
    for (i, m) in file.models.iter().enumerate() {
        let at = |f: &str| format!("models[{i}].{f}");
        let p = &m.params;
        let kind = match p.kind.as_deref().unwrap_or("openai") {
            k @ ("openai" | "anthropic") => k,
            other => {
                errors.push(format!(
                    "{}: {other:?} is not openai or anthropic",
                    at("params.kind")
                ));
                "openai"
            }
        };
        let fmt = if kind == "anthropic" {
            ApiFormat::Anthropic
        } else {
            ApiFormat::OpenAi
        };
        if let Err(e) = parse_base_url(&p.api_base, fmt) {
            errors.push(format!("{}: {e}", at("params.api_base")));
        }
        let id_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !id_ok(&m.provider_name) {
            errors.push(format!(
                "{}: must be 1..64 letters, digits, '.', '_' or '-'",
                at("provider_name")
            ));
        }
        if m.name.is_empty() || m.name.contains(char::is_whitespace) || m.name.contains('@') {
            errors.push(format!(
                "{}: must be non-empty, without spaces or '@'",
                at("name")
            ));
        }
        let api_key = p
            .api_key
            .as_deref()
            .map(|k| env_ref(k, &at("params.api_key"), &mut errors));
        let mut upstream =
            json!({"kind": kind, "base_url": p.api_base, "priority": p.priority.unwrap_or(100)});
        if let Some(k) = &api_key {
            upstream["api_key"] = json!(k);
        }
        match upstreams.get(&m.provider_name) {
            Some(prev) if prev != &upstream => errors.push(format!(
                "{}: provider {:?} is listed with different params (api_base, api_key, kind, priority) elsewhere in the file",
                at("params"),
                m.provider_name
            )),
            _ => {
                upstreams.insert(m.provider_name.clone(), upstream);
            }
        }
        let mut pricing = serde_json::Map::new();
        for (k, v) in &m.pricing {
            if !PRICES.contains(&k.as_str()) {
                errors.push(format!(
                    "{}: unknown price (expected {})",
                    at(&format!("pricing.{k}")),
                    PRICES.join(", ")
                ));
                continue;
            }
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                _ => String::new(),
            };
            match Price::parse_usd(&text) {
                Ok(_) => {
                    pricing.insert(k.clone(), json!(text));
                }
                Err(e) => errors.push(format!("{}: {e}", at(&format!("pricing.{k}")))),
            }
        }
        for required in ["prompt", "completion"] {
            if !m.pricing.contains_key(required) {
                errors.push(format!(
                    "{}: is required (USD per 1M tokens)",
                    at(&format!("pricing.{required}"))
                ));
            }
        }
        let mut body = json!({
            "upstream": m.provider_name,
            "upstream_model": p.model.clone().unwrap_or_else(|| m.name.clone()),
            "pricing": pricing,
        });
        for (field, value) in [
            ("display_name", m.display_name.as_ref().map(|d| json!(d))),
            ("context_length", m.context_length.map(|c| json!(c))),
            (
                "input_modalities",
                m.input_modalities.as_ref().map(|v| json!(v)),
            ),
            (
                "output_modalities",
                m.output_modalities.as_ref().map(|v| json!(v)),
            ),
        ] {
            if let Some(v) = value {
                body[field] = v;
            }
        }
        models.push((m.name.clone(), body));
    }
    if errors.is_empty() {
        Ok(Plan {
            router: router.trim_end_matches('/').to_string(),
            key,
            upstreams,
            models,
        })
    } else {
        Err(errors)
    }
}

pub fn run(path: &Path, op: ProviderOp) -> ExitCode {
    let ProviderOp::Push { router, validate } = op;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let plan = match plan(&text, router) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{}: invalid:", path.display());
            for e in errors {
                eprintln!("  {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    if validate {
        println!(
            "{}: valid ({} upstreams, {} models); nothing sent",
            path.display(),
            plan.upstreams.len(),
            plan.models.len()
        );
        return ExitCode::SUCCESS;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(push(plan))
}

async fn push(plan: Plan) -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest_013::Client::new();
    let put = |path: String, body: &Value| {
        client
            .put(format!("{}{path}", plan.router))
            .bearer_auth(&plan.key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let mut ok = true;
    for (id, body) in &plan.upstreams {
        match answer(
            format!("upstream {id}"),
            put(format!("/v1/provider/upstreams/{id}"), body).await,
        )
        .await
        {
            Ok(v) => println!(
                "upstream {id}: {}",
                if v["created"] == true {
                    "created"
                } else {
                    "updated"
                }
            ),
            Err(e) => {
                eprintln!("{e}");
                ok = false;
            }
        }
    }
    for (id, body) in &plan.models {
        let path = format!(
            "/v1/provider/models/{}",
            id.replace('%', "%25").replace('/', "%2F")
        );
        let upstream = body["upstream"].as_str().unwrap_or("");
        match answer(format!("model {upstream}/{id}"), put(path, body).await).await {
            Ok(v) if v["live"] == true => {
                println!("model {upstream}/{id}: live (price {})", v["price_id"])
            }
            Ok(v) => {
                println!(
                    "model {upstream}/{id}: not live: {}",
                    v["status"].as_str().unwrap_or("?")
                );
                ok = false;
            }
            Err(e) => {
                eprintln!("{e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A 200 answer's JSON, or what went wrong, prefixed with `what`.
async fn answer(
    what: String,
    r: Result<reqwest_013::Response, reqwest_013::Error>,
) -> Result<Value, String> {
    let resp = r.map_err(|e| format!("{what}: {e}"))?;
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if status == 200 {
        Ok(v)
    } else {
        Err(format!(
            "{what}: HTTP {status}: {}",
            v["message"].as_str().unwrap_or("")
        ))
    }
}
