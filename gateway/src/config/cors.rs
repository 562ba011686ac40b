//! `server.cors`: which web origins may call the public port from a browser.

use super::raw::RawCors;
use super::Validator;
use std::time::Duration;

/// The allowed origins (`server.cors`). Without the section no origin is allowed: browsers
/// get no CORS headers and every preflight is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfig {
    pub origins: Origins,
    /// `Access-Control-Max-Age` of a preflight answer.
    pub max_age: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// `"*"`: any origin (safe for credentials sent as headers, which a page must hold
    /// itself; Tollgate sets no cookies).
    Any,
    /// Exact `scheme://host[:port]` origins, lower-case.
    List(Vec<String>),
}

impl CorsConfig {
    /// Whether a request's `Origin` header value is allowed.
    pub fn allows(&self, origin: &[u8]) -> bool {
        match &self.origins {
            Origins::Any => true,
            Origins::List(list) => list
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin)),
        }
    }
}

impl Validator<'_> {
    pub(super) fn cors(&mut self, raw: RawCors) -> Option<CorsConfig> {
        let given = raw.origins.into_vec();
        let origins = if given.iter().any(|o| o == "*") {
            if given.len() > 1 {
                self.err("server.cors.origins", "\"*\" allows every origin: list nothing else");
            }
            Origins::Any
        } else {
            let mut list = Vec::new();
            for (i, o) in given.iter().enumerate() {
                match origin(o) {
                    Ok(o) => list.push(o),
                    Err(why) => self.err(format!("server.cors.origins[{i}]"), why),
                }
            }
            if list.is_empty() && given.is_empty() {
                self.err("server.cors.origins", "list at least one origin (or omit server.cors)");
            }
            Origins::List(list)
        };
        let max_age = self.duration("server.cors.max_age", raw.max_age, "10m");
        Some(CorsConfig { origins, max_age })
    }
}

/// `https://app.example[:port]`, as a browser writes it in `Origin`: a scheme, a host, an
/// optional port, nothing else.
fn origin(text: &str) -> Result<String, String> {
    let bad = || format!("{text:?} is not an origin (scheme://host[:port], no path), e.g. https://app.example.com");
    let (scheme, rest) = text.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        return Err(bad());
    }
    let ok = rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !ok {
        return Err(bad());
    }
    Ok(text.to_ascii_lowercase())
}
