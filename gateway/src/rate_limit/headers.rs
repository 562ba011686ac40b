//! What a rate limit adds to an answer: the 429 itself (`Retry-After`, `retry-after-ms`) and
//! OpenAI's `x-ratelimit-*` headers, on refusals and (optionally) on admitted responses.

use super::Verdict;
use crate::wire::ApiError;
use pingora::http::ResponseHeader;

/// 429 from a rate-limit window: `Retry-After` (whole seconds, rounded up), its millisecond
/// form `retry-after-ms` (which the OpenAI SDKs prefer) and the `x-ratelimit-*` headers of
/// the window that refused.
pub fn refusal(verdict: &Verdict, retry_after_ms: u64) -> ApiError {
    let mut e = ApiError::new(429, "RATE_LIMITED", "Rate limit exceeded");
    e.headers
        .push(("retry-after", retry_after_ms.div_ceil(1000).max(1).into()));
    e.headers.push(("retry-after-ms", retry_after_ms.into()));
    e.headers.extend(headers(verdict));
    e
}

/// 429 from an in-flight cap (`per`: "API key" or "wallet").
pub fn too_many_in_flight(cap: u32, per: &str) -> ApiError {
    let mut e = ApiError::new(
        429,
        "RATE_LIMITED",
        format!("Rate limit exceeded: at most {cap} concurrent requests per {per}"),
    );
    e.headers.push(("retry-after", 1u32.into()));
    e
}

/// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (OpenAI's names and formats).
pub fn headers(v: &Verdict) -> impl Iterator<Item = (&'static str, http::HeaderValue)> {
    let requests = v.requests.map(|q| {
        [
            ("x-ratelimit-limit-requests", q.limit.into()),
            ("x-ratelimit-remaining-requests", q.remaining.into()),
            ("x-ratelimit-reset-requests", duration_value(q.reset_ms)),
        ]
    });
    let tokens = v.tokens.map(|q| {
        [
            ("x-ratelimit-limit-tokens", q.limit.into()),
            ("x-ratelimit-remaining-tokens", q.remaining.into()),
            ("x-ratelimit-reset-tokens", duration_value(q.reset_ms)),
        ]
    });
    requests
        .into_iter()
        .flatten()
        .chain(tokens.into_iter().flatten())
}

/// Add the rate-limit headers of an admitted request to its response.
pub fn add_headers(resp: &mut ResponseHeader, v: &Verdict) -> pingora::Result<()> {
    for (name, value) in headers(v) {
        resp.insert_header(name, value)?;
    }
    Ok(())
}

fn duration_value(ms: u64) -> http::HeaderValue {
    http::HeaderValue::from_str(&go_duration(ms)).expect("ASCII")
}

/// OpenAI's reset format (Go's `time.Duration`): `250ms`, `12s`, `1m0s`, `25h0m0s`; whole
/// seconds are rounded up.
pub fn go_duration(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let s = ms.div_ceil(1_000);
    match (s / 3_600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::Quota;

    #[test]
    fn reset_durations_look_like_openai_s() {
        assert_eq!(go_duration(0), "0ms");
        assert_eq!(go_duration(250), "250ms");
        assert_eq!(go_duration(1_000), "1s");
        assert_eq!(go_duration(11_001), "12s");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(65_000), "1m5s");
        assert_eq!(go_duration(25 * 3_600_000), "25h0m0s");
    }

    #[test]
    fn headers_of_a_verdict() {
        let v = Verdict {
            refused: None,
            requests: Some(Quota {
                limit: 20,
                remaining: 3,
                reset_ms: 61_500,
            }),
            tokens: None,
        };
        let h: Vec<_> = headers(&v)
            .map(|(n, v)| (n, v.to_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            h,
            [
                ("x-ratelimit-limit-requests", "20".to_string()),
                ("x-ratelimit-remaining-requests", "3".to_string()),
                ("x-ratelimit-reset-requests", "1m2s".to_string()),
            ]
        );
    }
}
