//! `GET /openapi.yaml`, `/llms.txt` and `/llms-full.txt`: the API contract built into the binary
//! (`docs/openapi.yaml`, the one source) and the two markdown files rendered from it once, at
//! start-up.

use super::api_markdown;
use bytes::Bytes;
use serde_yaml_ng::Value;

/// `docs/openapi.yaml`, as this binary was built with it.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.yaml");

/// The three documents, ready to send.
pub struct ApiDocs {
    pub openapi: Bytes,
    pub llms: Bytes,
    pub llms_full: Bytes,
}

/// The parsed contract (its mappings keep the document's order).
pub fn spec() -> Value {
    serde_yaml_ng::from_str(OPENAPI).expect("docs/openapi.yaml parses (a unit test checks it)")
}

impl ApiDocs {
    /// `public_url`: where `/llms.txt` points its links (relative links without it).
    pub fn new(public_url: Option<&str>) -> ApiDocs {
        let spec = spec();
        ApiDocs {
            openapi: Bytes::from_static(OPENAPI.as_bytes()),
            llms: Bytes::from(api_markdown::llms_txt(&spec, public_url.unwrap_or(""))),
            llms_full: Bytes::from(api_markdown::llms_full(&spec)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    type Render = fn(&Value) -> String;

    /// The README's generated sections: `<!-- NAME:begin … -->` … `<!-- NAME:end -->`.
    const SECTIONS: [(&str, Render); 2] = [
        ("api", api_markdown::readme_endpoints),
        ("errors", api_markdown::readme_errors),
    ];

    /// The README's API tables are the spec's rendering: change `docs/openapi.yaml`, then run
    /// with `TOLLGATE_BLESS=1` to rewrite them.
    #[test]
    fn readme_api_tables_are_rendered_from_the_spec() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
        let mut readme = std::fs::read_to_string(&path).unwrap();
        let spec = spec();
        let mut stale = Vec::new();
        for (name, render) in SECTIONS {
            let begin = format!("<!-- {name}:begin (generated from docs/openapi.yaml) -->\n");
            let end_marker = format!("<!-- {name}:end -->");
            let start = readme.find(&begin).unwrap_or_else(|| panic!("README lacks {begin}"))
                + begin.len();
            let end = readme[start..].find(&end_marker).expect("end marker") + start;
            let want = render(&spec);
            if readme[start..end] != want {
                stale.push(name);
                readme.replace_range(start..end, &want);
            }
        }
        if stale.is_empty() {
            return;
        }
        if std::env::var_os("TOLLGATE_BLESS").is_some() {
            std::fs::write(&path, readme).unwrap();
            return;
        }
        panic!(
            "README.md's {stale:?} tables differ from docs/openapi.yaml's rendering: run \
             `TOLLGATE_BLESS=1 cargo test -p tollgate-gateway --lib readme` and review the diff"
        );
    }

    #[test]
    fn every_document_names_every_operation() {
        let docs = ApiDocs::new(Some("https://gw.example"));
        let (llms, full) = (
            String::from_utf8(docs.llms.to_vec()).unwrap(),
            String::from_utf8(docs.llms_full.to_vec()).unwrap(),
        );
        let spec = spec();
        let mut n = 0;
        for (path, item) in spec["paths"].as_mapping().unwrap() {
            for (method, op) in item.as_mapping().unwrap() {
                let (path, method) = (path.as_str().unwrap(), method.as_str().unwrap());
                let title = format!("{} {path}", method.to_uppercase());
                assert!(llms.contains(&title), "llms.txt lacks {title}");
                assert!(full.contains(&title), "llms-full.txt lacks {title}");
                for key in ["summary", "description", "x-auth"] {
                    assert!(op[key].is_string(), "{title} has no {key}");
                }
                n += 1;
            }
        }
        assert!(n >= 35, "{n} operations");
        assert!(llms.contains("(https://gw.example/openapi.yaml)"));
        assert!(full.contains("`INSUFFICIENT_BALANCE`"));
    }
}
