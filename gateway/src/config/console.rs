//! The `console` section: the web console's built assets (`console/dist`, from `npm run
//! build` in `console/`), served under `/console/` on the public port.
//!
//! A directory rather than assets compiled into the binary: the Rust build then needs no
//! Node toolchain, an operator can rebuild or leave out the console without rebuilding the
//! gateway, and the files are still read once at start-up (`control::console`), so serving
//! them touches no file system and no request path can name a file outside the set.

use super::raw::RawConsole;
use super::Validator;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The built console (`index.html` and `assets/`); relative to the working directory.
    pub dir: PathBuf,
    /// A block explorer's base URL (`https://basescan.org`): the console links transaction
    /// hashes to `{explorer_url}/tx/{hash}` and addresses to `{explorer_url}/address/{a}`.
    pub explorer_url: Option<String>,
}

impl Validator<'_> {
    pub(super) fn console(&mut self, raw: RawConsole) -> Option<ConsoleConfig> {
        if raw.dir.trim().is_empty() {
            self.err("console.dir", "must name the built console's directory");
            return None;
        }
        let explorer_url = match raw.explorer_url {
            None => None,
            Some(u) => {
                let u = u.trim_end_matches('/').to_string();
                let ok = u.starts_with("https://") || u.starts_with("http://");
                let clean =
                    !u.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '<');
                if ok && clean && u.len() > "https://".len() {
                    Some(u)
                } else {
                    self.err(
                        "console.explorer_url",
                        format!("{u:?} is not an http(s) URL (e.g. https://basescan.org)"),
                    );
                    None
                }
            }
        };
        Some(ConsoleConfig {
            dir: PathBuf::from(raw.dir),
            explorer_url,
        })
    }
}
