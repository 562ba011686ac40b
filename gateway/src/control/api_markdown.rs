//! The API contract (`docs/openapi.yaml`) as markdown: `/llms.txt` (an index), `/llms-full.txt`
//! (everything in one file) and the README's API tables. All three are rendered from the
//! document, so none can say something it does not (a test holds the README to this output).

use serde_yaml_ng::Value;
use std::fmt::Write;

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

/// One operation of the document, in document order.
struct Op<'a> {
    method: &'static str,
    path: &'a str,
    v: &'a Value,
}

impl Op<'_> {
    fn title(&self) -> String {
        format!("{} {}", self.method.to_ascii_uppercase(), self.path)
    }
    fn text(&self, key: &str) -> &str {
        self.v[key].as_str().unwrap_or("")
    }
    fn tag(&self) -> &str {
        self.v["tags"][0].as_str().unwrap_or("")
    }
    /// The description's first paragraph: one line for tables and indexes.
    fn brief(&self) -> &str {
        self.text("description").split("\n\n").next().unwrap_or("").trim()
    }
}

/// A scalar as JSON writes it (`"a"`, `1`, `true`), for `const` and `enum` values.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => "…".into(),
    }
}

fn ops(spec: &Value) -> Vec<Op<'_>> {
    let mut out = Vec::new();
    if let Some(paths) = spec["paths"].as_mapping() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(v) = item.get(method) {
                    let path = path.as_str().unwrap_or("");
                    out.push(Op { method, path, v });
                }
            }
        }
    }
    out
}

fn tags(spec: &Value) -> Vec<(&str, &str)> {
    spec["tags"]
        .as_sequence()
        .map(|t| {
            t.iter()
                .map(|t| {
                    let s = |k: &str| t[k].as_str().unwrap_or("");
                    (s("name"), s("description"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `#/components/schemas/X` → the schema.
fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
        Some(path) => path.split('/').fold(spec, |at, key| &at[key]),
        None => v,
    }
}

/// A short type for a schema: `string`, `integer`, `"a" | "b"`, `array of object`.
fn type_of(spec: &Value, v: &Value) -> String {
    let v = resolve(spec, v);
    if let Some(c) = v.get("const") {
        return scalar(c);
    }
    if let Some(e) = v["enum"].as_sequence() {
        return e.iter().map(scalar).collect::<Vec<_>>().join(" | ");
    }
    if let Some(alts) = v["oneOf"].as_sequence().or(v["anyOf"].as_sequence()) {
        return alts.iter().map(|a| type_of(spec, a)).collect::<Vec<_>>().join(" or ");
    }
    match &v["type"] {
        Value::String(t) if t == "array" => format!("array of {}", type_of(spec, &v["items"])),
        Value::String(t) => t.clone(),
        Value::Sequence(ts) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
        _ if v.get("allOf").is_some() || v.get("properties").is_some() => "object".into(),
        _ => "any".into(),
    }
}

/// The properties of an object schema (through `allOf`), with whether each is required.
fn fields<'a>(spec: &'a Value, v: &'a Value) -> Vec<(&'a str, &'a Value, bool)> {
    let v = resolve(spec, v);
    let mut out = Vec::new();
    for part in v["allOf"].as_sequence().into_iter().flatten() {
        out.extend(fields(spec, part));
    }
    let required: Vec<&str> = v["required"]
        .as_sequence()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = v["properties"].as_mapping() {
        for (name, p) in props {
            let name = name.as_str().unwrap_or("");
            out.push((name, p, required.contains(&name)));
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The error table (`Error.x-codes`).
fn error_table(spec: &Value) -> String {
    let mut s = String::from("| status | code | when |\n|---|---|---|\n");
    for c in spec["components"]["schemas"]["Error"]["x-codes"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        let code = c["code"].as_str().unwrap_or("");
        let code = if code.contains(' ') {
            code.to_string()
        } else {
            format!("`{code}`")
        };
        let _ = writeln!(s, "| {} | {} | {} |", scalar(&c["status"]), code, c["when"].as_str().unwrap_or(""));
    }
    s
}

/// `/llms.txt`: the title, what Tollgate is, and one link per endpoint (llmstxt.org's format).
pub fn llms_txt(spec: &Value, base: &str) -> String {
    let info = &spec["info"];
    let mut s = format!(
        "# {}\n\n> {}\n\n{}\n\n## Docs\n\n",
        info["title"].as_str().unwrap_or(""),
        info["summary"].as_str().unwrap_or(""),
        info["description"].as_str().unwrap_or("").split("\n\n").next().unwrap_or(""),
    );
    let _ = writeln!(s, "- [The API in one file]({base}/llms-full.txt): every endpoint, credential, header and error, in markdown");
    let _ = writeln!(s, "- [OpenAPI 3.1]({base}/openapi.yaml): the machine-readable contract");
    let all = ops(spec);
    for (tag, description) in tags(spec) {
        let _ = write!(s, "\n## {tag}\n\n{description}\n\n");
        for op in all.iter().filter(|o| o.tag() == tag) {
            let _ = writeln!(s, "- [{}]({base}/llms-full.txt): {}", op.title(), op.text("summary"));
        }
    }
    s
}

/// `/llms-full.txt`: the whole document as one markdown file.
pub fn llms_full(spec: &Value) -> String {
    let info = &spec["info"];
    let mut s = format!(
        "# {} API\n\n> {}\n\n{}\n\n## Errors\n\n{}\n\n{}\n",
        info["title"].as_str().unwrap_or(""),
        info["summary"].as_str().unwrap_or(""),
        info["description"].as_str().unwrap_or(""),
        one_line(spec["components"]["schemas"]["Error"]["description"].as_str().unwrap_or("")),
        error_table(spec),
    );
    let all = ops(spec);
    for (tag, description) in tags(spec) {
        let _ = write!(s, "\n## {tag}\n\n{description}\n");
        for op in all.iter().filter(|o| o.tag() == tag) {
            operation(&mut s, spec, op);
        }
    }
    s
}

fn operation(s: &mut String, spec: &Value, op: &Op) {
    let _ = write!(
        s,
        "\n### `{}`: {}\n\nAuth: {}.\n\n{}\n",
        op.title(),
        op.text("summary"),
        op.text("x-auth"),
        op.text("description")
    );
    let params: Vec<&Value> = op.v["parameters"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|p| resolve(spec, p))
        .collect();
    if !params.is_empty() {
        s.push_str("\nParameters:\n\n");
        for p in params {
            let req = if p["required"] == Value::Bool(true) { ", required" } else { "" };
            let _ = writeln!(
                s,
                "- `{}` ({}, {}{req}): {}",
                p["name"].as_str().unwrap_or(""),
                p["in"].as_str().unwrap_or(""),
                type_of(spec, &p["schema"]),
                one_line(p["description"].as_str().unwrap_or(""))
            );
        }
    }
    let body = &op.v["requestBody"]["content"]["application/json"]["schema"];
    if !body.is_null() {
        s.push_str("\nBody (JSON):\n\n");
        for (name, p, required) in fields(spec, body) {
            let req = if required { ", required" } else { "" };
            let about = one_line(resolve(spec, p)["description"].as_str().unwrap_or(""));
            let _ = writeln!(s, "- `{name}` ({}{req}){}", type_of(spec, p), if about.is_empty() { String::new() } else { format!(": {about}") });
        }
    }
    s.push_str("\nResponses:\n\n");
    if let Some(responses) = op.v["responses"].as_mapping() {
        for (status, r) in responses {
            let r = resolve(spec, r);
            let status = status.as_str().unwrap_or("");
            let _ = writeln!(s, "- {status}: {}", one_line(r["description"].as_str().unwrap_or("")));
        }
    }
}

/// The README's endpoint table (between its `api:begin` / `api:end` markers).
pub fn readme_endpoints(spec: &Value) -> String {
    let mut s = String::from("| endpoint | auth | notes |\n|---|---|---|\n");
    for op in ops(spec) {
        let _ = writeln!(s, "| `{}` | {} | {} |", op.title(), op.text("x-auth"), op.brief());
    }
    s
}

/// The README's error table (between its `errors:begin` / `errors:end` markers).
pub fn readme_errors(spec: &Value) -> String {
    error_table(spec)
}
