//! Which upstream response headers reach the buyer: an allowlist.
//!
//! Providers identify themselves in their headers (`openai-organization`,
//! `anthropic-organization-id`, `request-id`, `cf-ray`, `server`, their own
//! `x-ratelimit-*`) and some set cookies. A buyer learns nothing about the provider
//! that served them from Tollgate, so only the headers that describe the body, and the
//! retry hints the official SDKs obey, pass; Tollgate adds its own request id and
//! rate-limit headers afterwards.

use pingora::http::ResponseHeader;

/// Upstream headers forwarded to the client (lower case; everything else is dropped).
const FORWARDED: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "cache-control",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
];

pub fn keep_forwardable(resp: &mut ResponseHeader) {
    let dropped: Vec<http::HeaderName> = resp
        .headers
        .keys()
        .filter(|name| !FORWARDED.contains(&name.as_str()))
        .cloned()
        .collect();
    for name in dropped {
        resp.remove_header(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_headers_are_dropped_and_body_headers_kept() {
        let mut resp = ResponseHeader::build(200, None).unwrap();
        for (k, v) in [
            ("Content-Type", "text/event-stream"),
            ("Transfer-Encoding", "chunked"),
            ("openai-organization", "org-secret"),
            ("openai-project", "proj_x"),
            ("anthropic-organization-id", "abc"),
            ("Set-Cookie", "__cf_bm=1"),
            ("request-id", "req_upstream"),
            ("x-request-id", "upstream"),
            ("x-ratelimit-remaining-tokens", "5"),
            ("cf-ray", "8a"),
            ("server", "cloudflare"),
            ("retry-after", "3"),
        ] {
            resp.append_header(k, v).unwrap();
        }
        keep_forwardable(&mut resp);
        let mut kept: Vec<&str> = resp.headers.keys().map(|k| k.as_str()).collect();
        kept.sort();
        assert_eq!(kept, ["content-type", "retry-after", "transfer-encoding"]);
    }
}
