//! Which providers can serve a requested model: public ids, `provider/model` pins and route
//! aliases, resolved against the API the client called. A chat model of either kind answers
//! both chat APIs when translation is on (`server.translation`); the other APIs only reach
//! models that list them (`apis:`).

use crate::config::{Provider, RouteAlias};
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use tollgate_filters::operation::Operation;

/// One provider's offer of one model: indices into `Listings::providers[provider].models[model]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub provider: usize,
    pub model: usize,
}

/// Every route for one public model id, with its round-robin cursor.
#[derive(Debug)]
pub struct ModelEntry {
    pub routes: Vec<Route>,
    pub cursor: AtomicUsize,
}

/// The result of resolving a request's `model`.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    /// The id billed and logged: the public id, or `provider/model` when pinned.
    pub public_id: &'a str,
    pub entry: &'a ModelEntry,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    UnknownModel(String),
    /// The model exists, but not behind the API the client called.
    WrongApi {
        model: String,
        op: Operation,
    },
    NotInAlias {
        model: String,
        alias: String,
    },
    UnknownAlias(String),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::UnknownModel(m) => write!(
                f,
                "unknown model {m:?}; GET /v1/models lists the models served here"
            ),
            ResolveError::WrongApi { model, op } => write!(
                f,
                "model {model:?} is not served over the {} API here",
                match op {
                    Operation::ChatCompletions => "OpenAI Chat Completions (/v1/chat/completions)",
                    Operation::Messages => "Anthropic Messages (/v1/messages)",
                    Operation::Responses => "OpenAI Responses (/v1/responses)",
                    Operation::Embeddings => "OpenAI Embeddings (/v1/embeddings)",
                    Operation::CountTokens => "Anthropic token counting (/v1/messages/count_tokens)",
                }
            ),
            ResolveError::NotInAlias { model, alias } => {
                write!(f, "model {model:?} is not available under /{alias}")
            }
            ResolveError::UnknownAlias(a) => write!(f, "unknown route /{a}"),
        }
    }
}

fn op_index(op: Operation) -> usize {
    Operation::ALL
        .iter()
        .position(|o| *o == op)
        .expect("every operation is in ALL")
}

/// Public ids and pins → routes, per operation.
pub struct ModelCatalog {
    /// Per operation (see [`op_index`]): public id and "provider/model" → entry.
    entries: [HashMap<String, ModelEntry>; Operation::ALL.len()],
    aliases: HashMap<String, RouteAlias>,
}

impl ModelCatalog {
    /// Every model under its public id and its `provider/model` pin. A key is a public id or a
    /// pin, never both, first come first served (the config file's providers come first): a
    /// marketplace model named `acme/x` cannot join the pin of provider `acme`'s model `x`, and
    /// an upstream named `org` cannot join a public id `org/x`.
    pub fn new(providers: &[Provider], route_aliases: &[RouteAlias], translation: bool) -> Self {
        let mut entries: [HashMap<String, ModelEntry>; Operation::ALL.len()] = Default::default();
        let mut pin_keys: std::collections::HashSet<String> = Default::default();
        let mut add = |op: Operation, id: String, route: Route, pin: bool| {
            let taken = entries[op_index(op)].contains_key(&id);
            if taken && pin_keys.contains(&id) != pin {
                log::warn!(
                    "model id {id:?} of provider #{} would join another provider's {}: not listed",
                    route.provider,
                    if pin { "public id" } else { "pin" }
                );
                return;
            }
            if pin {
                pin_keys.insert(id.clone());
            }
            entries[op_index(op)]
                .entry(id)
                .or_insert_with(|| ModelEntry {
                    routes: Vec::new(),
                    cursor: AtomicUsize::new(0),
                })
                .routes
                .push(route);
        };
        for (pi, p) in providers.iter().enumerate() {
            for (mi, m) in p.models.iter().enumerate() {
                let route = Route {
                    provider: pi,
                    model: mi,
                };
                for op in Operation::ALL {
                    if m.apis.serves(op, p.kind, translation) {
                        add(op, m.id.clone(), route, false);
                        add(op, format!("{}/{}", p.id, m.id), route, true);
                    }
                }
            }
        }
        let aliases = route_aliases
            .iter()
            .map(|a| (a.name.clone(), a.clone()))
            .collect();
        ModelCatalog { entries, aliases }
    }

    /// Resolve `model` for a request of `op`, optionally under a route alias.
    pub fn resolve<'a>(
        &'a self,
        model: &str,
        op: Operation,
        alias: Option<&str>,
    ) -> Result<Resolved<'a>, ResolveError> {
        let model = match alias {
            None => model,
            Some(name) => {
                let a = self
                    .aliases
                    .get(name)
                    .ok_or_else(|| ResolveError::UnknownAlias(name.to_string()))?;
                if a.models.iter().any(|m| m == model) {
                    model
                } else if let Some(fallback) = &a.fallback_model {
                    fallback.as_str()
                } else {
                    return Err(ResolveError::NotInAlias {
                        model: model.to_string(),
                        alias: name.to_string(),
                    });
                }
            }
        };
        match self.entries[op_index(op)].get_key_value(model) {
            Some((id, entry)) => Ok(Resolved {
                public_id: id,
                entry,
            }),
            None if self.entries.iter().any(|e| e.contains_key(model)) => {
                Err(ResolveError::WrongApi {
                    model: model.to_string(),
                    op,
                })
            }
            None => Err(ResolveError::UnknownModel(model.to_string())),
        }
    }

    pub fn has_alias(&self, name: &str) -> bool {
        self.aliases.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> crate::config::Config {
        crate::config::Config::from_yaml(
            r#"
billing: { sink: memory }
providers:
  - { id: a, kind: openai, base_url: "http://127.0.0.1:1/v1", models: [{ id: m1, pricing: { prompt: 1, completion: 1 } }, { id: org/m2, pricing: { prompt: 1, completion: 1 } }] }
  - { id: b, kind: openai, base_url: "http://127.0.0.1:2/v1", models: [{ id: m1, pricing: { prompt: 1, completion: 1 } }] }
  - { id: c, kind: anthropic, base_url: "http://127.0.0.1:3", models: [{ id: claude, pricing: { prompt: 1, completion: 1 } }] }
route_aliases:
  - { name: team, models: [claude], fallback_model: claude }
  - { name: strict, models: [claude] }
"#,
            &|_| None,
        )
        .unwrap()
    }

    fn catalog() -> ModelCatalog {
        let c = config();
        ModelCatalog::new(&c.providers, &c.route_aliases, false)
    }

    #[test]
    fn shared_ids_pins_and_slashes() {
        let c = catalog();
        let r = c.resolve("m1", Operation::ChatCompletions, None).unwrap();
        assert_eq!(r.entry.routes.len(), 2);
        let r = c.resolve("b/m1", Operation::ChatCompletions, None).unwrap();
        assert_eq!(
            r.entry.routes,
            vec![Route {
                provider: 1,
                model: 0
            }]
        );
        assert_eq!(r.public_id, "b/m1");
        let r = c.resolve("org/m2", Operation::ChatCompletions, None).unwrap();
        assert_eq!(
            r.entry.routes,
            vec![Route {
                provider: 0,
                model: 1
            }]
        );
        assert_eq!(
            c.resolve("a/org/m2", Operation::ChatCompletions, None)
                .unwrap()
                .entry
                .routes
                .len(),
            1
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let c = catalog();
        assert!(matches!(
            c.resolve("nope", Operation::ChatCompletions, None),
            Err(ResolveError::UnknownModel(_))
        ));
        assert!(matches!(
            c.resolve("claude", Operation::ChatCompletions, None),
            Err(ResolveError::WrongApi { .. })
        ));
        assert!(matches!(
            c.resolve("claude", Operation::Messages, Some("ghost")),
            Err(ResolveError::UnknownAlias(_))
        ));
        assert!(matches!(
            c.resolve("other", Operation::Messages, Some("strict")),
            Err(ResolveError::NotInAlias { .. })
        ));
    }

    #[test]
    fn with_translation_a_chat_model_answers_both_chat_apis_and_nothing_else() {
        let c = config();
        let cat = ModelCatalog::new(&c.providers, &c.route_aliases, true);
        let claude = cat.resolve("claude", Operation::ChatCompletions, None).unwrap();
        assert_eq!(claude.entry.routes, vec![Route { provider: 2, model: 0 }]);
        assert_eq!(cat.resolve("m1", Operation::Messages, None).unwrap().entry.routes.len(), 2);
        assert!(cat.resolve("c/claude", Operation::CountTokens, None).is_ok());
        assert!(matches!(
            cat.resolve("m1", Operation::CountTokens, None),
            Err(ResolveError::WrongApi { op: Operation::CountTokens, .. })
        ));
        assert!(matches!(
            cat.resolve("m1", Operation::Embeddings, None),
            Err(ResolveError::WrongApi { .. })
        ));
    }

    #[test]
    fn alias_fallback_redirects() {
        let c = catalog();
        let r = c
            .resolve("claude-3-haiku", Operation::Messages, Some("team"))
            .unwrap();
        assert_eq!(r.public_id, "claude");
    }
}

#[cfg(test)]
mod shadowing {
    use super::*;

    #[test]
    fn a_model_named_like_a_pin_never_joins_it_nor_the_reverse() {
        let mut c = crate::config::Config::from_yaml(
            r#"
billing: { sink: memory }
providers:
  - { id: acme, kind: openai, base_url: "http://127.0.0.1:1/v1", models: [{ id: gpt, pricing: { prompt: 1, completion: 1 } }, { id: org/x, pricing: { prompt: 1, completion: 1 } }] }
  - { id: evil, kind: openai, base_url: "http://127.0.0.1:2/v1", models: [{ id: acme/gpt, pricing: { prompt: 1, completion: 1 } }] }
  - { id: org, kind: openai, base_url: "http://127.0.0.1:3/v1", models: [{ id: x, pricing: { prompt: 1, completion: 1 } }] }
"#,
            &|_| None,
        )
        .unwrap();
        c.providers[1].owner = Some("0xevil".into());
        let cat = ModelCatalog::new(&c.providers, &[], false);
        let routes = |id: &str| {
            cat.resolve(id, Operation::ChatCompletions, None)
                .unwrap()
                .entry
                .routes
                .clone()
        };
        assert_eq!(
            routes("acme/gpt"),
            vec![Route {
                provider: 0,
                model: 0
            }],
            "the pin is acme's alone"
        );
        assert_eq!(
            routes("org/x"),
            vec![Route {
                provider: 0,
                model: 1
            }],
            "the public id is not org's pin"
        );
        assert_eq!(
            routes("evil/acme/gpt"),
            vec![Route {
                provider: 1,
                model: 0
            }]
        );
        assert_eq!(
            routes("x"),
            vec![Route {
                provider: 2,
                model: 0
            }]
        );
    }
}
