//! Shared by the `translate_*` tests: the fixtures under `tests/fixtures/translate/`, and
//! reading translated output back as JSON values and SSE events.
//!
//! Layout: `openai_client/` holds what an OpenAI-format client sends and what an Anthropic
//! provider answers (`Direction::OpenAiToAnthropic`), `anthropic_client/` the reverse. Each
//! input `request_*.json`, `response_*.json`, `stream_*.sse` has its expected translation
//! beside it as `*.expected.json` / `*.expected.sse`.

#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use tollgate_filters::translate::{Direction, StreamTranslator};

/// `created` for every translated response.
pub const CREATED: u64 = 1_758_732_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    Stream,
}

pub struct Fixture {
    pub dir: Direction,
    pub kind: Kind,
    /// `openai_client/request_tools.json`
    pub name: String,
    pub input: Vec<u8>,
    pub expected_path: PathBuf,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/translate")
}

/// Every input fixture, sorted by name.
pub fn fixtures() -> Vec<Fixture> {
    let mut all = Vec::new();
    for (sub, dir) in [
        ("openai_client", Direction::OpenAiToAnthropic),
        ("anthropic_client", Direction::AnthropicToOpenAi),
    ] {
        for entry in std::fs::read_dir(root().join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_str().unwrap().to_owned();
            if file.contains(".expected.") {
                continue;
            }
            let kind = match file.split('_').next().unwrap() {
                "request" => Kind::Request,
                "response" => Kind::Response,
                "stream" => Kind::Stream,
                other => panic!("unknown fixture kind {other} ({file})"),
            };
            let (stem, ext) = file.rsplit_once('.').unwrap();
            all.push(Fixture {
                dir,
                kind,
                name: format!("{sub}/{file}"),
                input: std::fs::read(&path).unwrap(),
                expected_path: path.with_file_name(format!("{stem}.expected.{ext}")),
            });
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

pub fn fixture(name: &str) -> Fixture {
    fixtures()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

/// A request tail as the gateway completes it (`{"model":"m"` + tail), without `model`.
pub fn tail_value(tail: &[u8]) -> Value {
    let mut body = br#"{"model":"upstream-model""#.to_vec();
    body.extend_from_slice(tail);
    let mut value: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "tail is not JSON once completed ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    value.as_object_mut().unwrap().remove("model");
    value
}

/// The provider stream fed in `chunks`, then finished.
pub fn translate_stream<'a>(dir: Direction, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut translator = StreamTranslator::new(dir, CREATED);
    let mut out = Vec::new();
    for chunk in chunks {
        translator.feed(chunk, &mut out);
    }
    translator.finish(&mut out);
    out
}

/// One event of translated output: its `event:` name, and its data as JSON (`[DONE]` as the
/// string "[DONE]"), or a comment line.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Data { name: Option<String>, data: Value },
    Comment(String),
}

/// Reads translated output strictly: every event must be whole (ended by a blank line) and
/// every data payload JSON or `[DONE]`; output uses LF only.
pub fn events(output: &[u8]) -> Vec<Event> {
    let text = std::str::from_utf8(output).expect("output is UTF-8");
    assert!(!text.contains('\r'), "output uses LF line ends");
    if text.is_empty() {
        return Vec::new();
    }
    assert!(
        text.ends_with("\n\n"),
        "output ends with a whole event: {text:?}"
    );
    text[..text.len() - 2]
        .split("\n\n")
        .map(|block| {
            if let Some(comment) = block.strip_prefix(':') {
                assert!(
                    !block.contains('\n'),
                    "a comment event is one line: {block:?}"
                );
                return Event::Comment(comment.trim().to_owned());
            }
            let mut name = None;
            let mut data = None;
            for line in block.split('\n') {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    assert!(data.is_none(), "one data line per event: {block:?}");
                    data = Some(if d == "[DONE]" {
                        Value::String("[DONE]".into())
                    } else {
                        serde_json::from_str(d)
                            .unwrap_or_else(|e| panic!("data is not JSON ({e}): {d}"))
                    });
                } else {
                    panic!("unexpected line {line:?}");
                }
            }
            Event::Data {
                name,
                data: data.expect("an event has data"),
            }
        })
        .collect()
}

/// Set `TRANSLATE_BLESS=1` to write the expected files from the current output (then review
/// every change by hand).
pub fn blessing() -> bool {
    std::env::var_os("TRANSLATE_BLESS").is_some()
}
