//! The web console under `/console/`: the built assets of `console/` (`console.dir`), read
//! once at start-up, and `/console/config.json`, what the console needs to know about this
//! gateway (public URL and chain for SIWE, the USDC and vault an x402 top-up pays, the
//! explorer to link transactions to).
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles and fetches from
//! this origin only, no inline script or style element, no framing, and Trusted Types so that
//! no string can ever reach an HTML sink. A wallet is an injected EIP-1193 provider (a browser
//! extension), which talks to its own RPC outside the page: `connect-src 'self'` is enough.
//! Vite's fingerprinted `assets/*` are cached for a year (`immutable`); the rest is revalidated
//! by ETag. Text assets are also held gzip-compressed, sent to clients that accept it.

use crate::config::Config;
use crate::wire::{respond_error, ApiError};
use bytes::Bytes;
use flate2::write::GzEncoder;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The console's policy; also checked by the browser tests (`console/e2e`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// Bounds on what a console directory may hold (a Vite build is a few files of a few hundred
/// KiB): a wrong `console.dir` (say `/`) is refused instead of read into memory.
const MAX_FILES: usize = 500;
const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;

struct Asset {
    body: Bytes,
    gzip: Option<Bytes>,
    content_type: &'static str,
    etag: String,
    immutable: bool,
}

/// The console's files by path below `/console/` (`index.html`, `assets/index-1a2b3c.js`).
pub struct ConsoleAssets {
    files: HashMap<String, Asset>,
}

impl ConsoleAssets {
    /// Read the built console from `config.console.dir` (`None` without a `console:`
    /// section); `Err` says what is wrong with the directory.
    pub fn load(config: &Config) -> Result<Option<ConsoleAssets>, String> {
        let Some(c) = &config.console else {
            return Ok(None);
        };
        let mut files = HashMap::new();
        let mut total = 0;
        read_dir(&c.dir, "", &mut files, &mut total)
            .map_err(|e| format!("console.dir {}: {e}", c.dir.display()))?;
        if !files.contains_key("index.html") {
            return Err(format!(
                "console.dir {} has no index.html (build the console: cd console && npm ci && npm run build)",
                c.dir.display()
            ));
        }
        let body = Bytes::from(config_json(config).to_string());
        files.insert("config.json".into(), asset("config.json", body));
        Ok(Some(ConsoleAssets { files }))
    }

    /// Answer `GET /console/<path>` (`path` without the prefix; empty for the page itself).
    pub async fn serve(&self, session: &mut Session, path: &str) -> pingora::Result<()> {
        let name = if path.is_empty() { "index.html" } else { path };
        let Some(a) = self.files.get(name) else {
            let e = ApiError::not_found(&format!("/console/{path}"));
            return respond_error(session, &e, None, false).await;
        };
        let req = &session.req_header().headers;
        let fresh = req
            .get(http::header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag));
        let gzip = a.gzip.as_ref().filter(|_| {
            req.get(http::header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
        });
        let status = if fresh { 304 } else { 200 };
        let mut h = ResponseHeader::build(status, Some(12))?;
        h.insert_header(http::header::CONTENT_TYPE, a.content_type)?;
        h.insert_header(http::header::ETAG, a.etag.as_str())?;
        h.insert_header(
            http::header::CACHE_CONTROL,
            if a.immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            },
        )?;
        if a.gzip.is_some() {
            h.insert_header(http::header::VARY, "accept-encoding")?;
        }
        h.insert_header("content-security-policy", CONTENT_SECURITY_POLICY)?;
        h.insert_header("x-content-type-options", "nosniff")?;
        h.insert_header("x-frame-options", "DENY")?;
        h.insert_header("referrer-policy", "no-referrer")?;
        h.insert_header("cross-origin-opener-policy", "same-origin")?;
        h.insert_header("cross-origin-resource-policy", "same-origin")?;
        let body = match (fresh, gzip) {
            (true, _) => Bytes::new(),
            (false, Some(z)) => {
                h.insert_header(http::header::CONTENT_ENCODING, "gzip")?;
                z.clone()
            }
            (false, None) => a.body.clone(),
        };
        if !fresh {
            h.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
        }
        session.write_response_header(Box::new(h), fresh).await?;
        if fresh {
            return Ok(());
        }
        session.write_response_body(Some(body), true).await
    }
}

/// What the console reads at start: `/console/config.json`.
fn config_json(config: &Config) -> serde_json::Value {
    let chain = config.chain.as_ref();
    let settlement = chain.and_then(|c| {
        let s = c.settlement.as_ref()?;
        // The console tops up with EIP-3009 (USDC) on the first chain.
        let usdc = s
            .assets
            .iter()
            .find(|a| matches!(a.transfer, crate::config::Transfer::Eip3009 { .. }))?;
        Some(json!({
            "network": format!("eip155:{}", c.chain_id),
            "usdc": usdc.address,
            "treasury_vault": usdc.treasury_vault,
            "topup_min_usdc": s.topup_min,
            "topup_max_usdc": s.topup_max,
        }))
    });
    json!({
        "public_url": config.public_url,
        "chain_id": chain.map(|c| c.chain_id),
        "siwe": config.siwe.is_some(),
        "ledger": config.billing.ledger.is_some(),
        "marketplace": config.marketplace.is_some(),
        "settlement": settlement,
        "explorer_url": config.console.as_ref().and_then(|c| c.explorer_url.clone()),
    })
}

/// Every regular file below `dir` (symbolic links and dot files skipped), keyed by its path
/// relative to the console's root with `/` separators.
fn read_dir(
    dir: &Path,
    prefix: &str,
    files: &mut HashMap<String, Asset>,
    total: &mut u64,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        let rel = format!("{prefix}{name}");
        if kind.is_dir() {
            read_dir(&entry.path(), &format!("{rel}/"), files, total)?;
        } else if kind.is_file() {
            *total += entry.metadata()?.len();
            if files.len() >= MAX_FILES || *total > MAX_TOTAL_BYTES {
                return Err(std::io::Error::other(format!(
                    "more than {MAX_FILES} files or {} MiB: not a built console",
                    MAX_TOTAL_BYTES >> 20
                )));
            }
            let body = Bytes::from(std::fs::read(entry.path())?);
            files.insert(rel.clone(), asset(&rel, body));
        }
    }
    Ok(())
}

fn asset(rel: &str, body: Bytes) -> Asset {
    let content_type = content_type(rel);
    let compressible = content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("image/svg");
    let gzip = (compressible && body.len() > 1024)
        .then(|| {
            let mut z = GzEncoder::new(Vec::new(), flate2::Compression::best());
            z.write_all(&body).ok()?;
            z.finish().ok()
        })
        .flatten()
        .filter(|z| z.len() < body.len())
        .map(Bytes::from);
    let hash = alloy_primitives::keccak256(&body);
    Asset {
        etag: format!("\"{}\"", hex::encode(&hash[..12])),
        immutable: rel.starts_with("assets/"),
        content_type,
        body,
        gzip,
    }
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_and_caching() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-1a2b.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("x.exe"), "application/octet-stream");
        assert!(asset("assets/a-1.js", Bytes::from_static(b"x")).immutable);
        assert!(!asset("index.html", Bytes::from_static(b"x")).immutable);
    }

    #[test]
    fn large_text_is_held_compressed_and_small_is_not() {
        let big = Bytes::from("let a = 1;\n".repeat(1000));
        let a = asset("assets/a.js", big.clone());
        let z = a.gzip.expect("compressed");
        assert!(z.len() < big.len() / 10);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&z[..]), &mut out).unwrap();
        assert_eq!(out, big);
        assert!(asset("a.js", Bytes::from_static(b"tiny")).gzip.is_none());
        assert!(asset("a.png", Bytes::from(vec![0u8; 5000])).gzip.is_none());
    }
}
