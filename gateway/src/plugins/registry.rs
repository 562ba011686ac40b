//! Plugin names → builders. [`PluginRegistry::with_builtins`] holds the plugins shipped here;
//! a custom build registers more before starting the gateway (see
//! `gateway/examples/request_counter`):
//!
//! ```ignore
//! let mut plugins = PluginRegistry::with_builtins();
//! plugins.register("request_counter", request_counter::build);
//! tollgate_gateway::binary::main(plugins)
//! ```

use super::{builtin, Hooks};
use crate::config::{Config, ConfigError, PluginEntry, SPINE};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Builds a plugin from its entry; every problem with the options is returned at once.
pub type Builder = Arc<dyn Fn(&Options<'_>) -> Result<Hooks, BuildError> + Send + Sync>;

/// What a builder is given: its entry in `routes:` and the whole validated config (provider
/// ids, server defaults).
pub struct Options<'a> {
    pub entry: &'a PluginEntry,
    pub config: &'a Config,
}

impl Options<'_> {
    /// The options as `T` (`deny_unknown_fields` recommended); `T::default()` when none.
    pub fn parse<T: DeserializeOwned + Default>(&self) -> Result<T, BuildError> {
        if self.entry.options.is_null() {
            return Ok(T::default());
        }
        serde_yaml_ng::from_value(self.entry.options.clone())
            .map_err(|e| BuildError::at(self.path(), e.to_string()))
    }

    /// `routes.messages[2].prompt_deny`: where this plugin's options are.
    pub fn path(&self) -> String {
        format!("{}.{}", self.entry.path, self.entry.name)
    }

    /// An error about one of the options (`field` is a sub-path like `rules[1].pattern`).
    pub fn error(&self, field: &str, message: impl Into<String>) -> BuildError {
        BuildError::at(format!("{}.{field}", self.path()), message)
    }
}

/// Problems found while building plugins, each with its path in the file.
#[derive(Debug, Default)]
pub struct BuildError(pub Vec<ConfigError>);

impl BuildError {
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        BuildError(vec![ConfigError {
            path: path.into(),
            message: message.into(),
        }])
    }

    pub fn push(&mut self, other: BuildError) {
        self.0.extend(other.0);
    }

    /// `Ok(v)` when nothing was pushed.
    pub fn or_ok<T>(self, v: T) -> Result<T, BuildError> {
        if self.0.is_empty() {
            Ok(v)
        } else {
            Err(self)
        }
    }
}

#[derive(Clone)]
pub struct PluginRegistry {
    builders: BTreeMap<String, Builder>,
}

impl PluginRegistry {
    /// No plugins at all (the spine still runs).
    pub fn empty() -> Self {
        PluginRegistry {
            builders: BTreeMap::new(),
        }
    }

    /// The plugins shipped with Tollgate (`builtin`).
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        builtin::register(&mut r);
        r
    }

    /// Adds a plugin. A name is registered once: a second registration, or a spine step's
    /// name, is a programming error of the build and panics at start-up.
    pub fn register(
        &mut self,
        name: &str,
        builder: impl Fn(&Options<'_>) -> Result<Hooks, BuildError> + Send + Sync + 'static,
    ) {
        assert!(
            !SPINE.contains(&name),
            "plugin name {name:?} is a spine step"
        );
        let old = self.builders.insert(name.to_string(), Arc::new(builder));
        assert!(old.is_none(), "plugin {name:?} registered twice");
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.builders.keys().map(String::as_str)
    }

    pub fn build(&self, entry: &PluginEntry, config: &Config) -> Result<Hooks, BuildError> {
        match self.builders.get(&entry.name) {
            Some(b) => b(&Options { entry, config }),
            None => Err(BuildError::at(
                &entry.path,
                format!(
                    "unknown plugin {:?} (this build has: {}; and the spine steps {})",
                    entry.name,
                    self.names().collect::<Vec<_>>().join(", "),
                    SPINE.join(", ")
                ),
            )),
        }
    }
}
