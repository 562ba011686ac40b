//! A non-stream (JSON) response body, metered as it streams past with bounded memory.
//!
//! The body is never buffered: a structural scanner follows strings, escapes and nesting
//! depth across chunks, notices the top-level members that matter (`usage`, `error`, and
//! Anthropic's `type`) and copies only their values, each up to [`MAX_MEMBER_BYTES`]. A
//! 9 MB completion costs the same few hundred bytes of memory as a 1 KB one, and its usage is
//! read wherever in the object it sits. Generated text is not measured: a JSON response whose
//! usage cannot be read is charged its reservation (`billing::charging`), so no estimate from
//! its content is needed.

use super::payload::{self, UsageUpdate};
use super::ResponseShape;
use memchr::memchr2;

/// A captured member larger than this is not read (a usage object is ~200 bytes).
pub(crate) const MAX_MEMBER_BYTES: usize = 64 * 1024;

/// The top-level members whose values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Usage,
    Error,
    Type,
}

impl Member {
    fn of(key: &[u8]) -> Option<Member> {
        match key {
            b"usage" => Some(Member::Usage),
            b"error" => Some(Member::Error),
            b"type" => Some(Member::Type),
            _ => None,
        }
    }
}

/// Longest top-level key that is compared (longer keys are none of ours).
const MAX_KEY: usize = 8;

/// What the scan has found.
#[derive(Debug, Default, Clone)]
pub(crate) struct JsonBody {
    format: Option<ResponseShape>,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The opening `{` was seen.
    started: bool,
    /// The top-level object closed.
    closed: bool,
    /// Something other than whitespace outside the top-level object (or no object at all).
    malformed: bool,
    /// At depth 1, the next string is a key.
    expect_key: bool,
    /// The top-level key being read (its first [`MAX_KEY`] bytes) and whether it fits.
    key: [u8; MAX_KEY],
    key_len: usize,
    key_too_long: bool,
    reading_key: bool,
    /// A key of interest was read; its value starts after the `:`.
    pending: Option<Member>,
    /// The value being copied.
    capture: Option<(Member, Vec<u8>, bool)>,
    usage: Option<Vec<u8>>,
    error: Option<Vec<u8>>,
    kind: Option<Vec<u8>>,
}

/// What a finished (or cut) body amounts to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonVerdict {
    pub usage: Option<UsageUpdate>,
    pub complete: bool,
    pub is_error: bool,
    pub malformed: bool,
}

impl JsonBody {
    pub(crate) fn new(format: ResponseShape) -> Self {
        JsonBody {
            format: Some(format),
            ..JsonBody::default()
        }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        let mut i = 0;
        // Where the current capture's bytes start in this chunk.
        let mut copy_from = self.capture.as_ref().map(|_| 0);
        while i < chunk.len() {
            if self.in_string {
                // Skip to the next quote or backslash: strings are the bulk of a body.
                if self.escaped {
                    self.escaped = false;
                    self.key_byte(chunk[i]);
                    i += 1;
                    continue;
                }
                let Some(at) = memchr2(b'"', b'\\', &chunk[i..]) else {
                    self.key_bytes(&chunk[i..]);
                    break;
                };
                self.key_bytes(&chunk[i..i + at]);
                i += at;
                if chunk[i] == b'\\' {
                    self.escaped = true;
                    self.key_byte(b'\\');
                } else {
                    self.in_string = false;
                    self.end_key();
                }
                i += 1;
                continue;
            }
            let b = chunk[i];
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                _ if self.closed => self.malformed = true,
                b'"' => {
                    self.in_string = true;
                    if self.depth == 1 && self.expect_key {
                        self.reading_key = true;
                        self.expect_key = false;
                        self.key_len = 0;
                        self.key_too_long = false;
                    }
                }
                b'{' | b'[' => {
                    if self.depth == 0 {
                        if b == b'[' || self.started {
                            self.malformed = true;
                        }
                        self.started = true;
                        self.expect_key = true;
                    }
                    self.depth += 1;
                }
                b'}' | b']' => {
                    if self.depth == 1 {
                        self.end_capture(chunk, &mut copy_from, i);
                        self.closed = true;
                    }
                    self.depth = self.depth.saturating_sub(1);
                }
                b':' if self.depth == 1 => {
                    if let Some(m) = self.pending.take() {
                        self.capture = Some((m, Vec::new(), false));
                        copy_from = Some(i + 1);
                    }
                }
                b',' if self.depth == 1 => {
                    self.end_capture(chunk, &mut copy_from, i);
                    self.expect_key = true;
                }
                _ if self.depth == 0 => self.malformed = true,
                _ => {}
            }
            i += 1;
        }
        if let (Some(from), Some((_, buf, too_big))) = (copy_from, self.capture.as_mut()) {
            append(buf, too_big, &chunk[from.min(chunk.len())..]);
        }
    }

    fn key_byte(&mut self, b: u8) {
        self.key_bytes(std::slice::from_ref(&b));
    }

    fn key_bytes(&mut self, bytes: &[u8]) {
        if !self.reading_key || bytes.is_empty() {
            return;
        }
        if self.key_len + bytes.len() > MAX_KEY {
            self.key_too_long = true;
            return;
        }
        self.key[self.key_len..self.key_len + bytes.len()].copy_from_slice(bytes);
        self.key_len += bytes.len();
    }

    fn end_key(&mut self) {
        if !self.reading_key {
            return;
        }
        self.reading_key = false;
        self.pending = if self.key_too_long {
            None
        } else {
            Member::of(&self.key[..self.key_len])
        };
    }

    /// The value being copied ends before `chunk[end]`.
    fn end_capture(&mut self, chunk: &[u8], copy_from: &mut Option<usize>, end: usize) {
        let Some((member, mut buf, mut too_big)) = self.capture.take() else {
            return;
        };
        if let Some(from) = copy_from.take() {
            append(&mut buf, &mut too_big, &chunk[from.min(end)..end]);
        }
        let value = (!too_big).then(|| trim(buf));
        match member {
            // A later duplicate wins, as in every JSON parser the upstream's client uses.
            Member::Usage => self.usage = value.or(Some(Vec::new())),
            Member::Error => self.error = value.or(Some(b"{}".to_vec())),
            Member::Type => self.kind = value,
        }
    }

    /// What the body says so far (it may still be arriving, or have been cut).
    pub(crate) fn verdict(&self) -> JsonVerdict {
        let format = self.format.unwrap_or(ResponseShape::OpenAiChat);
        let usage = self
            .usage
            .as_deref()
            .filter(|u| *u != b"null")
            .map(|u| payload::parse_usage(format, u));
        let is_error = self.error.as_deref().is_some_and(|e| e != b"null")
            || self.kind.as_deref() == Some(b"\"error\"");
        JsonVerdict {
            usage: usage.flatten(),
            complete: self.closed && !self.malformed,
            is_error,
            // Not one JSON object, or a usage object that does not parse.
            malformed: self.malformed || usage.is_some_and(|u| u.is_none()),
        }
    }
}

fn append(buf: &mut Vec<u8>, too_big: &mut bool, bytes: &[u8]) {
    if *too_big {
        return;
    }
    if buf.len() + bytes.len() > MAX_MEMBER_BYTES {
        *too_big = true;
        *buf = Vec::new();
        return;
    }
    buf.extend_from_slice(bytes);
}

fn trim(mut v: Vec<u8>) -> Vec<u8> {
    let end = v.len()
        - v.iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    v.truncate(end);
    let start = v.iter().take_while(|b| b.is_ascii_whitespace()).count();
    v.drain(..start);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{"usage":` + `pad` spaces + the usage object + `}`: a member of `pad + usage` bytes.
    fn with_member_of(len: usize) -> JsonVerdict {
        let usage = r#"{"prompt_tokens":3,"completion_tokens":4}"#;
        let body = format!(r#"{{"usage":{}{usage}}}"#, " ".repeat(len - usage.len()));
        let mut scan = JsonBody::new(ResponseShape::OpenAiChat);
        scan.feed(body.as_bytes());
        scan.verdict()
    }

    #[test]
    fn a_member_of_exactly_the_limit_is_read_and_one_byte_more_is_not() {
        assert!(with_member_of(MAX_MEMBER_BYTES).usage.is_some());
        assert!(with_member_of(MAX_MEMBER_BYTES + 1).usage.is_none());
    }
}
