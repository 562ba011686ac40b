//! The plugins shipped with Tollgate. Each file is one plugin: its options, its builder,
//! the phases it implements.
//!
//! | name | phases | does |
//! | --- | --- | --- |
//! | [`thinking`] | body | the `thinking` / `reasoning_effort` policy (default `server.thinking`) |
//! | [`default_max_tokens`] | body | inserts an output limit when the client sent none (default `server.default_max_tokens`) |
//! | [`response_headers`] | upstream response | forwards only the provider headers that describe the body |
//! | [`headers`] | upstream request, response | sets / removes headers, optionally per provider |
//! | [`request_guard`] | body | body size, message count, output limit, allowed models per route, wallet or key |
//! | [`prompt_deny`] | body | refuses prompts matching a regular expression, naming the rule |
//! | [`ip_filter`] | request head | CIDR allow / deny lists, with a trusted proxy header |
//! | [`timeouts`] | upstream peer | per-route connect / first-byte / idle timeouts |
//! | `wasm` | upstream request, response, chunks | a proxy-wasm filter (builds with the `wasm` feature) |

pub mod default_max_tokens;
pub mod headers;
pub mod ip_filter;
pub mod prompt_deny;
pub mod request_guard;
pub mod response_headers;
pub mod thinking;
pub mod timeouts;
#[cfg(feature = "wasm")]
pub mod wasm;

#[cfg(not(feature = "wasm"))]
use super::BuildError;
use super::PluginRegistry;

pub(super) fn register(r: &mut PluginRegistry) {
    r.register("thinking", thinking::build);
    r.register("default_max_tokens", default_max_tokens::build);
    r.register("response_headers", response_headers::build);
    r.register("headers", headers::build);
    r.register("request_guard", request_guard::build);
    r.register("prompt_deny", prompt_deny::build);
    r.register("ip_filter", ip_filter::build);
    r.register("timeouts", timeouts::build);
    #[cfg(feature = "wasm")]
    r.register("wasm", wasm::build);
    #[cfg(not(feature = "wasm"))]
    r.register("wasm", |o| {
        Err(BuildError::at(
            o.path(),
            "this build has no WebAssembly support (build tollgate with `--features wasm`)",
        ))
    });
}
