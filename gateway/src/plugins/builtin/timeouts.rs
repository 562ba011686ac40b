//! `timeouts`: provider timeouts for one route, instead of `server.upstream`'s.
//!
//! ```yaml
//! - timeouts: { connect: 2s, first_byte: 120s, idle: 60s }   # each optional
//! ```
//! `first_byte` is also the longest silence allowed between two reads of the response
//! (Pingora's read timeout), as for the server-wide setting.

use crate::config::parse_duration;
use crate::plugins::{BuildError, Hooks, OnUpstreamPeer, Options};
use pingora::prelude::HttpPeer;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    connect: Option<String>,
    first_byte: Option<String>,
    idle: Option<String>,
}

/// Longer than any LLM call; keeps `connect × 2` (the total connect budget) from overflowing.
const MAX: Duration = Duration::from_secs(24 * 3600);

struct Timeouts {
    connect: Option<Duration>,
    first_byte: Option<Duration>,
    idle: Option<Duration>,
}

pub fn build(o: &Options<'_>) -> Result<Hooks, BuildError> {
    let c: Config = o.parse()?;
    let mut errors = BuildError::default();
    let mut duration = |field: &str, text: Option<String>| {
        let text = text?;
        match parse_duration(&text) {
            Some(d) if !d.is_zero() && d <= MAX => Some(d),
            _ => {
                errors.push(o.error(
                    field,
                    format!(
                        "{text:?} is not a positive duration of at most 24h (e.g. 250ms, 5s, 2m)"
                    ),
                ));
                None
            }
        }
    };
    let t = Timeouts {
        connect: duration("connect", c.connect),
        first_byte: duration("first_byte", c.first_byte),
        idle: duration("idle", c.idle),
    };
    errors.or_ok(Hooks {
        on_upstream_peer: Some(Arc::new(t)),
        ..Hooks::default()
    })
}

impl OnUpstreamPeer for Timeouts {
    fn on_upstream_peer(&self, peer: &mut HttpPeer, _provider: &str) {
        if let Some(d) = self.connect {
            peer.options.connection_timeout = Some(d);
            peer.options.total_connection_timeout = Some(d.saturating_mul(2));
        }
        if let Some(d) = self.first_byte {
            peer.options.read_timeout = Some(d);
            peer.options.write_timeout = Some(d);
        }
        if let Some(d) = self.idle {
            peer.options.idle_timeout = Some(d);
        }
    }
}
