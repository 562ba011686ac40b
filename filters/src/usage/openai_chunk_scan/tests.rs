//! The scanner against its definition, the full serde parse: hand-written traps, every
//! recorded fixture, and generated chunks (valid ones, and the same with a byte broken).

use super::content_bytes;
use crate::usage::payload::{parse_openai_event, parse_openai_payload, PayloadEffect};
use proptest::prelude::*;

/// The scanner's answer is the full parse's, or it gives none. Returns the answer.
fn agreed(chunk: &[u8]) -> Option<u64> {
    let scanned = content_bytes(chunk);
    if let Some(bytes) = scanned {
        let expected = PayloadEffect {
            content_bytes: bytes,
            ..PayloadEffect::default()
        };
        assert_eq!(
            parse_openai_payload(chunk),
            Some(expected),
            "the scanner read {bytes} bytes in {}",
            String::from_utf8_lossy(chunk)
        );
    }
    scanned
}

fn check(cases: &[(&str, Option<u64>)]) {
    for (chunk, expected) in cases {
        assert_eq!(agreed(chunk.as_bytes()), *expected, "{chunk}");
    }
}

const MOCK_PREFIX: &str = r#"{"id":"chatcmpl-mock-17","object":"chat.completion.chunk","created":1758731011,"model":"mock-1","#;

#[test]
fn reads_what_the_full_parse_counts_and_nothing_else() {
    let mock = |delta: &str| {
        format!(
            r#"{MOCK_PREFIX}"choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":null}}],"usage":null}}"#
        )
    };
    let mock_role = mock(r#"{"role":"assistant","content":"tok "}"#);
    let mock_tool_head = mock(
        r#"{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_mock_1","type":"function","function":{"name":"get_weather","arguments":""}}]}"#,
    );
    let mock_arguments = mock(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\":"}}]}"#);
    let deep = format!(r#"{{"x":{}1{},"choices":[]}}"#, "[".repeat(60), "]".repeat(60));
    check(&[
        (&mock_role, Some(4)),
        (&mock_tool_head, Some(0)),
        (&mock_arguments, Some(14)),
        (&mock("{}"), Some(0)),
        (r#"{"choices":[{"delta":{"content":""}}]}"#, Some(0)),
        // Raw lengths: escapes are not decoded, a string may end in backslashes.
        (r#"{"choices":[{"delta":{"content":"a\\"}}]}"#, Some(3)),
        (r#"{"choices":[{"delta":{"content":"\\\""}}]}"#, Some(4)),
        (r#"{"choices":[{"delta":{"content":"\"\\\\"}}]}"#, Some(6)),
        (r#"{"choices":[{"delta":{"content":"\u00e9\ud83d\ude00 \/\b\f\n\r\t"}}]}"#, Some(31)),
        ("{\"choices\":[{\"delta\":{\"content\":\"é東😀\"}}]}", Some(9)),
        // Only `choices[].delta|message` and `tool_calls[].function.arguments` count.
        (
            r#"{"choices":[{"delta":{"content":"ab"},"logprobs":{"content":[{"token":"ab","logprob":-0.1,"bytes":[97,98],"top_logprobs":[]}]}}]}"#,
            Some(2),
        ),
        (
            r#"{"choices":[{"delta":{"tool_calls":[{"content":"zz","arguments":"x","function":{"arguments":"ab","content":"q"}},{"function":null},{}]}}]}"#,
            Some(2),
        ),
        (r#"{"choices":[{"message":{"content":"abc","reasoning_content":"r"},"delta":{"content":"d"}}]}"#, Some(5)),
        (r#"{"content":"xx","delta":{"content":"y"},"message":{"content":"z"},"choices":[]}"#, Some(0)),
        (r#"{"x":{"choices":[{"delta":{"content":"zz"}}]},"choices":[{"delta":{"content":"a"}}]}"#, Some(1)),
        (r#"{"choices":[{"delta":{"x":{"cont\u0065nt":"zzz"}}}]}"#, Some(0)),
        (r#"{"choices":[{"delta":{"content":"a"}}],"x_groq":{"usage":{"queue_time":0.1}},"usage":null}"#, Some(1)),
        (" {\n\"choices\" :\t[ {\"delta\" : { \"content\" : \"ab\" } } , {} ] ,\r\n\"usage\" : null , \"error\":null } \n", Some(2)),
        (r#"{"choices":null}"#, Some(0)),
        (r#"{"id":"a","id":"b","choices":[{"delta":null,"message":null}]}"#, Some(0)),
        (r#"{"choices":[{"delta":{"content":null,"reasoning_content":null,"tool_calls":null}}]}"#, Some(0)),
        (r#"{"a":-0.5e+10,"b":0,"c":1E5,"d":[true,false,null,{},[]],"e":{"":""}}"#, Some(0)),
        (&deep, Some(0)),
        // Left to the full parse: usage, errors, values counted as raw JSON, escaped keys.
        (r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#, None),
        (r#"{"choices":[],"error":{"message":"boom"}}"#, None),
        (r#"{"choices":[{"delta":{"content":[{"type":"text","text":"hi"}]}}]}"#, None),
        (r#"{"choices":[{"delta":{"content":5}}]}"#, None),
        (r#"{"choices":[{"delta":{"cont\u0065nt":"abc"}}]}"#, None),
        (r#"{"us\u0061ge":{"prompt_tokens":3},"choices":[]}"#, None),
        (&format!(r#"{{"x":{}1{},"choices":[]}}"#, "[".repeat(70), "]".repeat(70)), None),
        // What serde refuses or reads another way: duplicated fields, structs as arrays.
        (r#"{"choices":[],"choices":[]}"#, None),
        (r#"{"usage":null,"usage":null}"#, None),
        (r#"{"error":null,"error":null}"#, None),
        (r#"{"choices":[{"delta":{},"delta":{}}]}"#, None),
        (r#"{"choices":[{"message":{},"message":null}]}"#, None),
        (r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#, None),
        (r#"{"choices":[{"delta":{"reasoning_content":null,"reasoning_content":null}}]}"#, None),
        (r#"{"choices":[{"delta":{"tool_calls":[],"tool_calls":[]}}]}"#, None),
        (r#"{"choices":[{"delta":{"tool_calls":[{"function":{},"function":{}}]}}]}"#, None),
        (r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"","arguments":""}}]}}]}"#, None),
        (r#"{"choices":[[{"content":"ab"}]]}"#, None),
        (r#"[[{"delta":{"content":"x"}}]]"#, None),
        (r#"{"choices":{}}"#, None),
        (r#"{"choices":[null]}"#, None),
        (r#"{"choices":[{"delta":"x"}]}"#, None),
        (r#"{"choices":[{"delta":{"tool_calls":[null]}}]}"#, None),
        // Not JSON.
        ("", None),
        ("42", None),
        ("\x0c{\"choices\":[]}", None),
        (r#"{"choices":[]} x"#, None),
        (r#"{"choices":[],}"#, None),
        (r#"{"choices":[1,]}"#, None),
        (r#"{"choices" []}"#, None),
        (r#"{'choices':[]}"#, None),
        (r#"{"choices":[{"delta":{"content":"ab}}]}"#, None),
        ("{\"choices\":[{\"delta\":{\"content\":\"a\tb\"}}]}", None),
        (r#"{"choices":[{"delta":{"content":"\x"}}]}"#, None),
        (r#"{"choices":[{"delta":{"content":"\u12G4"}}]}"#, None),
        (r#"{"choices":[{"delta":{"content":"\u12"}}]}"#, None),
        (r#"{"n":01,"choices":[]}"#, None),
        (r#"{"n":1.,"choices":[]}"#, None),
        (r#"{"n":-,"choices":[]}"#, None),
        (r#"{"n":1e,"choices":[]}"#, None),
        (r#"{"n":+1,"choices":[]}"#, None),
        (r#"{"n":nul,"choices":[]}"#, None),
        (r#"{"usage":nullx}"#, None),
        (r#"{"n":[1}"#, None),
        (r#"{"n":{"a":1]}"#, None),
        (r#"{"n":{"a"}}"#, None),
        (r#"{"n":{1:2}}"#, None),
    ]);
    // Not UTF-8 (serde accepts it in an ignored string; the scanner does not judge).
    assert_eq!(agreed(b"{\"id\":\"\xff\",\"choices\":[]}"), None);
}

/// Where the memmem fast path this scanner replaced misread a chunk (it took the first
/// `"choices"` at any depth, parsed only that value, trimmed form feeds and did not see an
/// escaped `usage` key); now the answer is the full parse's.
#[test]
fn chunks_the_previous_fast_path_misread() {
    let nested = br#"{"x":{"choices":[{"delta":{"content":"zz"}}]},"choices":[{"delta":{"content":"a"}}]}"#;
    assert_eq!(parse_openai_event(nested).unwrap().content_bytes, 1);
    let escaped = br#"{"us\u0061ge":{"prompt_tokens":3,"completion_tokens":4},"choices":[]}"#;
    let usage = parse_openai_event(escaped).unwrap().usage.unwrap();
    assert_eq!((usage.input, usage.output), (Some(3), Some(4)));
    assert_eq!(parse_openai_event(br#"{"choices":[]} x"#), None);
    assert_eq!(parse_openai_event(b"\x0c{\"choices\":[]}"), None);
}

#[test]
fn agrees_on_every_recorded_payload() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut files = vec![];
    let mut dirs = vec![std::path::PathBuf::from(dir)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let (mut payloads, mut scanned) = (0, 0);
    for path in files {
        let text = std::fs::read(&path).unwrap();
        let mut check = |payload: &[u8]| {
            payloads += 1;
            scanned += usize::from(agreed(payload).is_some());
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => check(&text),
            Some("sse") => text
                .split(|&b| b == b'\n')
                .filter_map(|line| line.strip_prefix(b"data:"))
                .for_each(|data| check(data.trim_ascii())),
            _ => {}
        }
    }
    assert!(payloads > 200 && scanned > 100, "{scanned} of {payloads}");
}

// === Generated chunks ===

/// Pieces of generated text: plain, every escape, backslashes before quotes, raw UTF-8, and
/// text that looks like the keys the scanner reads.
const PIECES: [&str; 18] = [
    "tok ",
    "a",
    " ",
    r#"\""#,
    r#"\\"#,
    r#"\\\""#,
    r#"\\\\"#,
    r#"\n"#,
    r#"\/\b\f\r\t"#,
    r#"\u00e9"#,
    r#"\ud83d\ude00"#,
    r#"\\u0041"#,
    "é",
    "東京",
    "😀",
    "{}[],:",
    r#"\"usage\":{\"prompt_tokens\":1}"#,
    r#"\"content\":\"x\""#,
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&PIECES[..]), 0..10).prop_map(|p| p.concat())
}

/// Renders a random chunk from a seed (layout, key order, whitespace, which fields appear)
/// and a pool of texts, and adds up by itself what the meter must count.
struct Chunk<'t> {
    state: u64,
    texts: &'t [String],
    next_text: usize,
    expected: u64,
}

impl Chunk<'_> {
    fn roll(&mut self, sides: u64) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) % sides
    }

    fn ws(&mut self) -> &'static str {
        [" ", "\t", "\n", "\r\n  ", "", "", "", ""][self.roll(8) as usize]
    }

    fn string(&mut self, counted: bool) -> String {
        let text = &self.texts[self.next_text % self.texts.len()];
        self.next_text += 1;
        if counted {
            self.expected += text.len() as u64;
        }
        format!("\"{text}\"")
    }

    fn maybe(&mut self, members: &mut Vec<String>, key: &str, value: impl FnOnce(&mut Self) -> String) {
        if self.roll(3) > 0 {
            let value = value(self);
            let (a, b) = (self.ws(), self.ws());
            members.push(format!("\"{key}\"{a}:{b}{value}"));
        }
    }

    /// The members in a random order, with random whitespace around every token.
    fn object(&mut self, mut members: Vec<String>) -> String {
        for i in (1..members.len()).rev() {
            members.swap(i, self.roll(i as u64 + 1) as usize);
        }
        let mut out = String::from("{");
        for (i, member) in members.iter().enumerate() {
            let (a, b) = (self.ws(), self.ws());
            out += &format!("{}{a}{member}{b}", if i > 0 { "," } else { "" });
        }
        out + "}"
    }

    fn array(&mut self, max: u64, mut element: impl FnMut(&mut Self) -> String) -> String {
        let mut out = String::from("[");
        for i in 0..self.roll(max + 1) {
            let (a, b) = (self.ws(), self.ws());
            out += &format!("{}{a}{}{b}", if i > 0 { "," } else { "" }, element(self));
        }
        out + "]"
    }

    fn counted(&mut self) -> String {
        match self.roll(4) {
            0 => "null".into(),
            _ => self.string(true),
        }
    }

    fn chunk(&mut self) -> String {
        let mut m = vec![];
        self.maybe(&mut m, "id", |c| c.string(false));
        m.push(r#""object":"chat.completion.chunk""#.into());
        self.maybe(&mut m, "created", |_| "1758731011".into());
        self.maybe(&mut m, "model", |c| c.string(false));
        self.maybe(&mut m, "choices", |c| match c.roll(6) {
            0 => "null".into(),
            _ => c.array(3, Self::choice),
        });
        self.maybe(&mut m, "usage", |_| "null".into());
        self.maybe(&mut m, "error", |_| "null".into());
        self.maybe(&mut m, "x_decoy", |c| {
            let content = c.string(false);
            format!(r#"{{"content":{content},"choices":[{{"delta":{{"content":{content}}}}}]}}"#)
        });
        self.object(m)
    }

    fn choice(&mut self) -> String {
        let mut m = vec![];
        self.maybe(&mut m, "index", |c| c.roll(4).to_string());
        self.maybe(&mut m, "delta", Self::generated);
        self.maybe(&mut m, "message", Self::generated);
        self.maybe(&mut m, "logprobs", |c| {
            let token = c.string(false);
            format!(r#"{{"content":[{{"token":{token},"logprob":-0.25,"bytes":[116,111],"top_logprobs":[]}}],"refusal":null}}"#)
        });
        self.maybe(&mut m, "finish_reason", |_| "null".into());
        self.object(m)
    }

    fn generated(&mut self) -> String {
        let mut m = vec![];
        self.maybe(&mut m, "role", |_| r#""assistant""#.into());
        self.maybe(&mut m, "content", Self::counted);
        self.maybe(&mut m, "reasoning_content", Self::counted);
        self.maybe(&mut m, "refusal", |c| c.string(false));
        self.maybe(&mut m, "tool_calls", |c| c.array(2, Self::tool_call));
        self.object(m)
    }

    fn tool_call(&mut self) -> String {
        let mut m = vec![];
        self.maybe(&mut m, "index", |c| c.roll(3).to_string());
        self.maybe(&mut m, "content", |c| c.string(false));
        self.maybe(&mut m, "function", |c| {
            let mut f = vec![];
            c.maybe(&mut f, "name", |c| c.string(false));
            c.maybe(&mut f, "arguments", Self::counted);
            c.object(f)
        });
        self.object(m)
    }
}

fn generated_chunk(seed: u64, texts: &[String]) -> (String, u64) {
    let mut chunk = Chunk {
        state: seed | 1,
        texts,
        next_text: 0,
        expected: 0,
    };
    let json = chunk.chunk();
    (json, chunk.expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn generated_chunks_are_scanned_as_the_full_parse_reads_them(
        seed: u64,
        texts in prop::collection::vec(text(), 1..6),
    ) {
        let (chunk, expected) = generated_chunk(seed, &texts);
        prop_assert_eq!(agreed(chunk.as_bytes()), Some(expected), "{}", chunk);
    }

    #[test]
    fn broken_chunks_are_scanned_as_the_full_parse_reads_them_or_left_to_it(
        seed: u64,
        texts in prop::collection::vec(text(), 1..4),
        at: prop::sample::Index,
        edit in 0..4u8,
        byte in prop::sample::select(&b"\"\\{}[],: 0n\t\x01"[..]),
    ) {
        let (chunk, _) = generated_chunk(seed, &texts);
        let mut bytes = chunk.into_bytes();
        let at = at.index(bytes.len());
        match edit {
            0 => { bytes.remove(at); }
            1 => bytes.insert(at, byte),
            2 => bytes[at] = byte,
            _ => bytes.truncate(at),
        }
        agreed(&bytes);
    }
}
