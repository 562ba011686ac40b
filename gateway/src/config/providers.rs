//! The `providers` and `route_aliases` sections: who serves which model at which prices.

use super::raw::{Decimal, RawModel, RawProvider, RawRouteAlias};
use super::{is_evm_address, Secret, Validator};
use std::collections::HashSet;
use tollgate_billing::{Price, PriceSheet};
use tollgate_filters::operation::Operation;
use tollgate_filters::prompt_tokens::Encoding;
use tollgate_filters::usage::ApiFormat;

#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub kind: ApiFormat,
    pub base_url: String,
    pub upstream: UpstreamAddr,
    pub api_key: Secret,
    pub priority: u32,
    /// Lower-case 0x address payouts go to (`None`: this provider is not paid on chain).
    pub payout_address: Option<String>,
    /// The chain and asset (symbol) payouts are made in (`None`: the first chain, its first asset).
    pub payout_chain_id: Option<u64>,
    pub payout_asset: Option<String>,
    /// The wallet that listed it through the marketplace API (`None`: the config file's). Its
    /// addresses are held to the marketplace's SSRF rules; the file's are the operator's own.
    pub owner: Option<String>,
    pub models: Vec<ProviderModel>,
}

/// Where a provider lives, split the way Pingora's `HttpPeer` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamAddr {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The request path for this provider's chat API (`/v1/chat/completions`, `/v1/messages`,
    /// or the base URL's own prefix plus the endpoint).
    pub path: String,
    /// The base URL's path (`/v1` for OpenAI's, empty for Anthropic's): other APIs' paths
    /// are this plus [`Operation::upstream_suffix`].
    pub prefix: String,
}

impl UpstreamAddr {
    /// The path of `op` at this provider (`op` as the provider speaks it).
    pub fn path_for(&self, op: Operation) -> std::borrow::Cow<'_, str> {
        if op.is_chat() {
            return std::borrow::Cow::Borrowed(&self.path);
        }
        std::borrow::Cow::Owned(format!("{}{}", self.prefix, op.upstream_suffix()))
    }
}

/// The APIs a model answers (`apis:` in the file). Chat is answered to both chat APIs when
/// translation is on; the others only in their own format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelApis {
    pub chat: bool,
    pub responses: bool,
    pub embeddings: bool,
    pub count_tokens: bool,
}

impl ModelApis {
    /// Without `apis:`: chat, and Anthropic's token counting for `anthropic` providers.
    pub fn default_for(kind: ApiFormat) -> ModelApis {
        ModelApis {
            chat: true,
            responses: false,
            embeddings: false,
            count_tokens: kind == ApiFormat::Anthropic,
        }
    }

    /// Whether a provider of `kind` serving this model answers `op` (translated when
    /// `translation` allows a chat call of the other format).
    pub fn serves(&self, op: Operation, kind: ApiFormat, translation: bool) -> bool {
        match op {
            Operation::ChatCompletions | Operation::Messages => {
                self.chat && (op.format() == kind || translation)
            }
            Operation::Responses => self.responses && kind == ApiFormat::OpenAi,
            Operation::Embeddings => self.embeddings && kind == ApiFormat::OpenAi,
            Operation::CountTokens => self.count_tokens && kind == ApiFormat::Anthropic,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProviderModel {
    pub id: String,
    pub upstream_model: String,
    pub display_name: String,
    pub context_length: u64,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub prices: PriceSheet,
    /// The encoding that counts this model's prompts (a stream cut before its usage is billed
    /// on it): `tokenizer:` in the file, else the OpenAI model family's, else none (the prompt
    /// bound is billed instead).
    pub tokenizer: Option<Encoding>,
    /// The `market_prices` row `prices` came from (`None`: the config file's prices).
    pub price_id: Option<i64>,
    /// Actively probed (`probe: false` in the file: passive health only).
    pub probe: bool,
    pub apis: ModelApis,
}

#[derive(Debug, Clone)]
pub struct RouteAlias {
    pub name: String,
    pub models: Vec<String>,
    pub fallback_model: Option<String>,
}

impl Validator<'_> {
    /// `marketplace`: providers may also join through the API, so the file may list none.
    pub(super) fn providers(&mut self, raw: Vec<RawProvider>, marketplace: bool) -> Vec<Provider> {
        let mut providers = Vec::new();
        let mut provider_ids = HashSet::new();
        for (i, p) in raw.into_iter().enumerate() {
            let path = format!("providers[{i}]");
            if !provider_ids.insert(p.id.clone()) {
                self.err(
                    format!("{path}.id"),
                    format!("duplicate provider id {:?}", p.id),
                );
            }
            if let Some(p) = self.provider(&path, p) {
                providers.push(p);
            }
        }
        if providers.is_empty() && self.errors.is_empty() && !marketplace {
            self.err("providers", "at least one provider is required");
        }

        providers
    }

    /// `known_models`: every model id the file names, as written (also for providers that
    /// failed validation, so one bad provider does not make every alias naming it an error).
    pub(super) fn route_aliases(
        &mut self,
        raw: Vec<RawRouteAlias>,
        known_models: &HashSet<String>,
    ) -> Vec<RouteAlias> {
        let mut route_aliases = Vec::new();
        let mut alias_names = HashSet::new();
        for (i, a) in raw.into_iter().enumerate() {
            let path = format!("route_aliases[{i}]");
            if a.name.is_empty()
                || !a
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                self.err(
                    format!("{path}.name"),
                    "must be non-empty and contain only letters, digits, '-' and '_'",
                );
            } else if a.name == "v1" {
                self.err(format!("{path}.name"), "\"v1\" is reserved");
            }
            if !alias_names.insert(a.name.clone()) {
                self.err(
                    format!("{path}.name"),
                    format!("duplicate alias {:?}", a.name),
                );
            }
            if a.models.is_empty() {
                self.err(format!("{path}.models"), "must list at least one model");
            }
            for (j, m) in a.models.iter().chain(a.fallback_model.iter()).enumerate() {
                if !known_models.contains(m.as_str()) {
                    let at = if j < a.models.len() {
                        format!("{path}.models[{j}]")
                    } else {
                        format!("{path}.fallback_model")
                    };
                    self.err(at, format!("unknown model {m:?}"));
                }
            }
            route_aliases.push(RouteAlias {
                name: a.name,
                models: a.models,
                fallback_model: a.fallback_model,
            });
        }
        route_aliases
    }

    fn provider(&mut self, path: &str, p: RawProvider) -> Option<Provider> {
        if p.id.is_empty() || p.id.contains('/') || p.id.contains(char::is_whitespace) {
            self.err(
                format!("{path}.id"),
                "must be non-empty, without '/' or spaces",
            );
        }
        let kind = match p.kind.as_str() {
            "openai" => Some(ApiFormat::OpenAi),
            "anthropic" => Some(ApiFormat::Anthropic),
            other => {
                self.err(
                    format!("{path}.kind"),
                    format!("unknown provider kind {other:?} (expected openai or anthropic)"),
                );
                None
            }
        };
        let upstream = kind.and_then(|k| match parse_base_url(&p.base_url, k) {
            Ok(u) => Some(u),
            Err(e) => {
                self.err(format!("{path}.base_url"), e);
                None
            }
        });
        let api_key = match &p.api_key {
            None => Some(String::new()),
            Some(text) => self.resolve_env(&format!("{path}.api_key"), text),
        };
        if p.models.is_empty() {
            self.err(format!("{path}.models"), "must list at least one model");
        }
        let payout_address = p.payout_address.map(|a| a.to_ascii_lowercase());
        if payout_address
            .as_deref()
            .is_some_and(|a| !is_evm_address(a))
        {
            self.err(
                format!("{path}.payout_address"),
                "must be a 0x-prefixed 20-byte hex address",
            );
        }
        let mut models = Vec::new();
        let mut ids = HashSet::new();
        for (j, m) in p.models.into_iter().enumerate() {
            let mpath = format!("{path}.models[{j}]");
            if !ids.insert(m.id.clone()) {
                self.err(
                    format!("{mpath}.id"),
                    format!("duplicate model id {:?} in provider {:?}", m.id, p.id),
                );
            }
            if let Some(m) = self.model(&mpath, m, kind.unwrap_or(ApiFormat::OpenAi)) {
                models.push(m);
            }
        }
        Some(Provider {
            id: p.id,
            kind: kind?,
            base_url: p.base_url,
            upstream: upstream?,
            api_key: Secret(api_key?),
            priority: p.priority.unwrap_or(100),
            payout_address,
            payout_chain_id: p.payout_chain_id,
            payout_asset: p.payout_asset,
            owner: None,
            models,
        })
    }

    fn model(&mut self, path: &str, m: RawModel, kind: ApiFormat) -> Option<ProviderModel> {
        if m.id.is_empty() || m.id.contains(char::is_whitespace) || m.id.contains('@') {
            self.err(
                format!("{path}.id"),
                "must be non-empty, without spaces or '@'",
            );
        }
        let Some(pricing) = m.pricing else {
            self.err(format!("{path}.pricing"), "is required (USD per 1M tokens)");
            return None;
        };
        // An unset cache price is the prompt price: cache tokens are never free by omission.
        let mut price =
            |field: &str, d: Option<Decimal>, default: Option<Price>| -> Option<Price> {
                match d {
                    None if default.is_none() => {
                        self.err(format!("{path}.pricing.{field}"), "is required");
                        None
                    }
                    None => default,
                    Some(d) => match Price::parse_usd(&d.0) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            self.err(format!("{path}.pricing.{field}"), e.to_string());
                            None
                        }
                    },
                }
            };
        let prompt = price("prompt", pricing.prompt, None);
        let completion = price("completion", pricing.completion, None);
        let cache_read = price("cache_read", pricing.cache_read, prompt);
        let cache_write_5m = price("cache_write_5m", pricing.cache_write_5m, prompt);
        let cache_write_1h = price("cache_write_1h", pricing.cache_write_1h, prompt);
        let image = match pricing.image {
            None => Some(None),
            Some(d) => price("image", Some(d), None).map(Some),
        };
        let apis = self.model_apis(path, m.apis.as_deref(), kind);
        let upstream_model = m.upstream_model.unwrap_or_else(|| m.id.clone());
        let tokenizer = match m.tokenizer.as_deref() {
            None if kind == ApiFormat::OpenAi => Encoding::for_model(&upstream_model),
            None | Some("none") => None,
            Some(name) => {
                let e = Encoding::from_name(name);
                if e.is_none() {
                    self.err(
                        format!("{path}.tokenizer"),
                        format!(
                            "unknown tokenizer {name:?} (expected o200k_base, cl100k_base or none)"
                        ),
                    );
                }
                e
            }
        };
        let prices = PriceSheet {
            prompt: prompt?,
            completion: completion?,
            cache_read: cache_read?,
            cache_write_5m: cache_write_5m?,
            cache_write_1h: cache_write_1h?,
            image: image?,
            request: 0,
        };
        Some(ProviderModel {
            upstream_model,
            tokenizer,
            display_name: m.display_name.unwrap_or_else(|| m.id.clone()),
            context_length: m.context_length.unwrap_or(0),
            input_modalities: m.input_modalities.unwrap_or_else(|| vec!["text".into()]),
            output_modalities: m.output_modalities.unwrap_or_else(|| vec!["text".into()]),
            id: m.id,
            prices,
            price_id: None,
            probe: m.probe.unwrap_or(true),
            apis,
        })
    }

    /// `apis:` of a model: each name once, and only the APIs its provider's kind speaks.
    fn model_apis(&mut self, path: &str, names: Option<&[String]>, kind: ApiFormat) -> ModelApis {
        let Some(names) = names else {
            return ModelApis::default_for(kind);
        };
        let mut apis = ModelApis {
            chat: false,
            responses: false,
            embeddings: false,
            count_tokens: false,
        };
        if names.is_empty() {
            self.err(format!("{path}.apis"), "must name at least one API");
        }
        for (i, name) in names.iter().enumerate() {
            let (flag, needs) = match name.as_str() {
                "chat" => (&mut apis.chat, None),
                "responses" => (&mut apis.responses, Some(ApiFormat::OpenAi)),
                "embeddings" => (&mut apis.embeddings, Some(ApiFormat::OpenAi)),
                "count_tokens" => (&mut apis.count_tokens, Some(ApiFormat::Anthropic)),
                other => {
                    self.err(
                        format!("{path}.apis[{i}]"),
                        format!("unknown API {other:?} (expected chat, responses, embeddings or count_tokens)"),
                    );
                    continue;
                }
            };
            if *flag {
                self.err(format!("{path}.apis[{i}]"), format!("{name:?} is listed twice"));
            }
            *flag = true;
            if needs.is_some_and(|k| k != kind) {
                self.err(
                    format!("{path}.apis[{i}]"),
                    format!(
                        "{name:?} is an API of {} providers only",
                        if kind == ApiFormat::OpenAi { "anthropic" } else { "openai" }
                    ),
                );
            }
        }
        apis
    }
}

/// Split a provider base URL into peer address and request path.
///
/// Conventions follow each vendor's SDK: an `openai` base URL includes the version prefix
/// (`https://api.openai.com/v1` → `/v1/chat/completions`), an `anthropic` one does not
/// (`https://api.anthropic.com` → `/v1/messages`).
pub fn parse_base_url(url: &str, kind: ApiFormat) -> Result<UpstreamAddr, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{url:?} must start with http:// or https://"));
    };
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') || prefix.contains(['?', '#']) {
        return Err(format!(
            "{url:?} is not a plain scheme://host[:port][/path] URL"
        ));
    }
    let default_port = if tls { 443 } else { 80 };
    // `[v6]` or `[v6]:port`; else `host` or `host:port`.
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(format!("{url:?} has an invalid port")),
            },
            None => return Err(format!("{url:?} has an unclosed '['")),
        },
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("{url:?} has an invalid port"))?,
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(UpstreamAddr {
        tls,
        host: host.to_string(),
        port,
        path: format!("{prefix}{}", Operation::chat(kind).upstream_suffix()),
        prefix: prefix.to_string(),
    })
}
