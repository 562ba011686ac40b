//! What one load run does: target, request, concurrency and timing, plus the
//! parsers for the CLI's duration and header syntax.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::Full;

#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub url: String,
    /// `host:port` to connect to.
    pub addr: String,
    pub request: RequestTemplate,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Requests per second for an open-loop run; `None` runs closed-loop.
    pub rate: Option<f64>,
    /// A request not finished within this counts as an error.
    pub timeout: Duration,
}

/// The request every connection sends, prepared once.
#[derive(Clone, Debug)]
pub struct RequestTemplate {
    method: Method,
    path: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl RequestTemplate {
    pub fn build(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.path.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// Splits an `http://host:port/path` URL into the address to connect to and
/// the request to send there.
pub fn prepare_target(
    url: &str,
    method: Method,
    extra_headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
) -> Result<(String, RequestTemplate), String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad --url {url:?}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("--url {url:?}: only http:// is supported"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("--url {url:?} has no host"))?;
    let addr = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let path: Uri = uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|e| format!("--url {url:?}: {e}"))?;

    let mut headers = HeaderMap::new();
    let host = HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?;
    headers.insert(HOST, host);
    if !body.is_empty() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    for (name, value) in extra_headers {
        // User headers replace the defaults above rather than duplicating them.
        headers.insert(name, value);
    }
    let template = RequestTemplate {
        method,
        path,
        headers,
        body,
    };
    Ok((addr, template))
}

/// `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "us" => number / 1_000_000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("bad duration unit {other:?} in {text:?}")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("bad duration {text:?}: {e}"))
}

/// `name: value`.
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("header {text:?} is not `name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|e| format!("header name in {text:?}: {e}"))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|e| format!("header value in {text:?}: {e}"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn target_and_headers() {
        let auth = parse_header("Authorization: Bearer sk-bench").unwrap();
        let (addr, template) = prepare_target(
            "http://127.0.0.1:18004/v1/chat/completions",
            Method::POST,
            vec![auth],
            Bytes::from_static(b"{}"),
        )
        .unwrap();
        assert_eq!(addr, "127.0.0.1:18004");
        let request = template.build();
        assert_eq!(request.uri(), "/v1/chat/completions");
        assert_eq!(request.headers()["host"], "127.0.0.1:18004");
        assert_eq!(request.headers()["authorization"], "Bearer sk-bench");
        assert_eq!(request.headers()["content-type"], "application/json");
    }
}
