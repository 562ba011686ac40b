//! `routes:`: which plugins run on which route, in which order (`proxy/plugins` builds them).
//!
//! This file checks the shape of the lists and the money spine; what each plugin's options
//! mean is checked by the plugin when it is built (`tollgate validate` reports both).
//!
//! The spine — [`SPINE`] — is the part of every LLM route that charges the buyer and pays the
//! provider. A list may name the spine's steps to place plugins between them; if it names
//! one it must name all five, in order. A list that names none has them at their fixed places
//! (request-head plugins first, then `authenticate`, `rate_limit`, body plugins, `reserve`, …).

use super::raw::RawRoutes;
use super::Validator;
use serde_yaml_ng::Value;

/// The steps money depends on, in the order they run. Configured in their own sections
/// (`auth`, `limits`, `billing`); never removed or reordered by a route.
pub const SPINE: [&str; 5] = ["authenticate", "rate_limit", "reserve", "meter", "settle"];

/// One entry of a route's list: a plugin name and its options (`Value::Null` when none).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginEntry {
    pub name: String,
    pub options: Value,
    /// Where it is in the file (`routes.messages[2]`), for the plugin's own errors.
    pub path: String,
}

impl PluginEntry {
    pub fn is_spine(&self) -> bool {
        SPINE.contains(&self.name.as_str())
    }
}

/// A route's validated list (spine steps included only where the file placed them).
pub type PluginList = Vec<PluginEntry>;

#[derive(Debug, Clone, Default)]
pub struct RoutesConfig {
    /// For every LLM route that has no list of its own; `None`: the built-in default list.
    pub default: Option<PluginList>,
    pub chat_completions: Option<PluginList>,
    pub messages: Option<PluginList>,
    /// `POST /v1/responses`, `/v1/embeddings`, `/v1/messages/count_tokens` (without a list:
    /// `default`).
    pub responses: Option<PluginList>,
    pub embeddings: Option<PluginList>,
    pub count_tokens: Option<PluginList>,
    /// `POST /<alias>/v1/messages`, by alias name (without a list: `messages`'s, else `default`).
    pub aliases: Vec<(String, PluginList)>,
    /// Every control-plane path but `/health` (request-head plugins only).
    pub control: Option<PluginList>,
}

impl Validator<'_> {
    pub(super) fn routes(&mut self, raw: RawRoutes, aliases: &[String]) -> RoutesConfig {
        let default = raw.default.map(|l| self.llm_list("routes.default", l));
        let chat_completions = raw
            .chat_completions
            .map(|l| self.llm_list("routes.chat_completions", l));
        let messages = raw.messages.map(|l| self.llm_list("routes.messages", l));
        let responses = raw.responses.map(|l| self.llm_list("routes.responses", l));
        let embeddings = raw.embeddings.map(|l| self.llm_list("routes.embeddings", l));
        let count_tokens = raw
            .count_tokens
            .map(|l| self.llm_list("routes.count_tokens", l));
        let mut alias_lists = Vec::new();
        for (name, list) in raw.aliases {
            let path = format!("routes.aliases.{name}");
            if !aliases.contains(&name) {
                self.err(&path, format!("no route alias {name:?} in route_aliases"));
            }
            alias_lists.push((name, self.llm_list(&path, list)));
        }
        let control = raw.control.map(|l| {
            let list = self.entries("routes.control", l);
            for e in list.iter().filter(|e| e.is_spine()) {
                self.err(
                    &e.path,
                    format!(
                        "`{}` is a step of paid LLM routes; control-plane routes authenticate per endpoint",
                        e.name
                    ),
                );
            }
            list
        });
        RoutesConfig {
            default,
            chat_completions,
            messages,
            responses,
            embeddings,
            count_tokens,
            aliases: alias_lists,
            control,
        }
    }

    fn llm_list(&mut self, path: &str, raw: Vec<Value>) -> PluginList {
        let list = self.entries(path, raw);
        let named: Vec<&PluginEntry> = list.iter().filter(|e| e.is_spine()).collect();
        if named.is_empty() {
            return list;
        }
        for step in SPINE {
            match named.iter().filter(|e| e.name == step).count() {
                0 => self.err(
                    path,
                    format!(
                        "lists the money spine but not `{step}`: a route may place plugins between {} but cannot remove one (buyers are charged and providers paid by them)",
                        SPINE.join(", ")
                    ),
                ),
                1 => {}
                _ => self.err(path, format!("`{step}` appears more than once")),
            }
        }
        let order: Vec<&str> = named.iter().map(|e| e.name.as_str()).collect();
        if order.len() == SPINE.len() && order != SPINE {
            self.err(
                path,
                format!(
                    "the money spine runs in a fixed order ({}), this list has {}",
                    SPINE.join(" → "),
                    order.join(" → ")
                ),
            );
        }
        for e in named {
            if !e.options.is_null() {
                self.err(
                    &e.path,
                    format!(
                        "`{}` takes no options here; it is configured in its own section ({})",
                        e.name,
                        match e.name.as_str() {
                            "authenticate" => "auth",
                            "rate_limit" => "limits",
                            _ => "billing",
                        }
                    ),
                );
            }
        }
        list
    }

    /// `- name` or `- name: {options}` (exactly one key).
    fn entries(&mut self, path: &str, raw: Vec<Value>) -> PluginList {
        let mut out = Vec::with_capacity(raw.len());
        for (i, v) in raw.into_iter().enumerate() {
            let path = format!("{path}[{i}]");
            match v {
                Value::String(name) => out.push(PluginEntry {
                    name,
                    options: Value::Null,
                    path,
                }),
                Value::Mapping(m) if m.len() == 1 => {
                    let (k, options) = m.into_iter().next().expect("one entry");
                    match k {
                        Value::String(name) => out.push(PluginEntry {
                            name,
                            options,
                            path,
                        }),
                        _ => self.err(&path, "a plugin name must be a string"),
                    }
                }
                _ => self.err(
                    &path,
                    "must be a plugin name (`- thinking`) or one name with its options (`- thinking: {policy: strip}`)",
                ),
            }
        }
        out
    }
}
