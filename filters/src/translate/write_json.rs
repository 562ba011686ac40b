//! Writing JSON text straight into a byte buffer. Values that pass through unchanged are
//! copied as their raw JSON; only strings the translation builds are escaped here.

use serde_json::value::RawValue;
use std::io::Write;

/// `s` as a JSON string literal.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping into a Vec cannot fail.
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec");
}

pub(super) fn number(out: &mut Vec<u8>, n: u64) {
    write!(out, "{n}").expect("writing to a Vec");
}

/// The JSON strings `parts` (raw, quoted) joined into one string literal, without decoding:
/// the text between the quotes of each is already valid escaped JSON.
pub(super) fn joined_strings<'a>(out: &mut Vec<u8>, parts: impl IntoIterator<Item = &'a RawValue>) {
    out.push(b'"');
    for part in parts {
        let raw = part.get();
        out.extend_from_slice(&raw.as_bytes()[1..raw.len() - 1]);
    }
    out.push(b'"');
}

/// The members of an object being written; the commas between them come by themselves.
pub(super) struct Object<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Object<'o> {
    pub fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// The rest of an object whose opening someone else writes (a request body tail, after
    /// the gateway's `{"model":…`): every member starts with a comma.
    pub fn tail(out: &'o mut Vec<u8>) -> Self {
        Object { out, empty: false }
    }

    /// Writes `"key":` and returns the buffer for the value. Keys are plain identifiers.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub fn raw(&mut self, key: &str, raw: &str) {
        self.key(key).extend_from_slice(raw.as_bytes());
    }

    pub fn string(&mut self, key: &str, s: &str) {
        string(self.key(key), s);
    }

    pub fn number(&mut self, key: &str, n: u64) {
        number(self.key(key), n);
    }

    pub fn close(self) {
        self.out.push(b'}');
    }
}

/// The elements of an array being written.
pub(super) struct Array<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Array<'o> {
    pub fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'[');
        Array { out, empty: true }
    }

    /// Returns the buffer for the next element.
    pub fn item(&mut self) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out
    }

    pub fn close(self) {
        self.out.push(b']');
    }
}
