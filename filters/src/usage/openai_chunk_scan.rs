//! The generated-text bytes of an ordinary OpenAI Chat Completions chunk, read by a byte
//! scanner instead of serde.
//!
//! Why hand-written: almost every event of an OpenAI stream is a chunk with `"usage":null`
//! whose only use to the meter is its generated-text length (for estimating the output of a
//! stream cut before its usage). Three memmem searches and a serde parse of its `choices` cost
//! ≈ 3,300 instructions a chunk; this one pass over the whole chunk (strings eight bytes at a
//! time) ≈ 2,000, and the meter's 19-event stream went from 78,600 to 60,300 instructions
//! (callgrind, docs/benchmarks.md, "The OpenAI stream meter").
//!
//! The scanner must never disagree with the serde parse ([`super::payload`]), which stays the
//! definition: it answers only when it is certain the parse would succeed with no usage, no
//! error and the same byte count, and says `None` (→ the parse) otherwise. So it is stricter
//! than JSON where serde's rules are subtle: the whole chunk must be UTF-8, a key on the read
//! path must have no escape (`"cont\u0065nt"` is `content` to serde), a counted value must be
//! a string or `null` (serde would count any other value's raw JSON), and containers nest at
//! most [`MAX_SKIPPED_DEPTH`] deep inside skipped values. Like serde it rejects duplicated
//! read keys, arrays where structs are expected, control characters and bad escapes in
//! strings, malformed numbers and literals, trailing commas and trailing bytes.

/// Bytes of `delta`/`message` `content`, `reasoning_content` and `tool_calls[].function.
/// arguments` (raw, escapes not decoded) when `data` is an OpenAI chunk the full parse would
/// read with no usage object and no error; `None` when not certain of that.
pub(super) fn content_bytes(data: &[u8]) -> Option<u64> {
    let mut scan = Scan {
        bytes: data,
        at: 0,
        content_bytes: 0,
    };
    scan.whitespace();
    scan.chunk()?;
    scan.whitespace();
    (scan.at == data.len()).then_some(scan.content_bytes)
}

/// How deep containers may nest inside a skipped value (a `u64` stack of their kinds).
const MAX_SKIPPED_DEPTH: u32 = 64;

struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
    content_bytes: u64,
}

/// Marks a read key as seen; `None` when it was already (serde refuses duplicated fields).
fn first_time(seen: &mut u8, key: u8) -> Option<()> {
    if *seen & key != 0 {
        return None;
    }
    *seen |= key;
    Some(())
}

// === The chunk's shape: the fields `payload::OpenAiPayload` reads ===

impl<'a> Scan<'a> {
    /// `{"choices": [choice…] | null, "usage": null, "error": null, …}`.
    fn chunk(&mut self) -> Option<()> {
        let mut seen = 0;
        self.object(|scan, key| match key {
            b"choices" => {
                first_time(&mut seen, 1)?;
                scan.nullable(|scan| scan.array(Self::choice))
            }
            b"usage" => {
                first_time(&mut seen, 2)?;
                scan.literal(b"null")
            }
            b"error" => {
                first_time(&mut seen, 4)?;
                scan.literal(b"null")
            }
            _ => scan.skip_value(),
        })
    }

    /// `{"delta": generated | null, "message": generated | null, …}`.
    fn choice(&mut self) -> Option<()> {
        let mut seen = 0;
        self.object(|scan, key| match key {
            b"delta" => {
                first_time(&mut seen, 1)?;
                scan.nullable(Self::generated)
            }
            b"message" => {
                first_time(&mut seen, 2)?;
                scan.nullable(Self::generated)
            }
            _ => scan.skip_value(),
        })
    }

    /// `{"content": text, "reasoning_content": text, "tool_calls": [call…] | null, …}`.
    fn generated(&mut self) -> Option<()> {
        let mut seen = 0;
        self.object(|scan, key| match key {
            b"content" => {
                first_time(&mut seen, 1)?;
                scan.text()
            }
            b"reasoning_content" => {
                first_time(&mut seen, 2)?;
                scan.text()
            }
            b"tool_calls" => {
                first_time(&mut seen, 4)?;
                scan.nullable(|scan| scan.array(Self::tool_call))
            }
            _ => scan.skip_value(),
        })
    }

    /// `{"function": {"arguments": text, …} | null, …}`.
    fn tool_call(&mut self) -> Option<()> {
        let mut seen = 0;
        self.object(|scan, key| match key {
            b"function" => {
                first_time(&mut seen, 1)?;
                scan.nullable(|scan| {
                    let mut seen = 0;
                    scan.object(|scan, key| match key {
                        b"arguments" => {
                            first_time(&mut seen, 1)?;
                            scan.text()
                        }
                        _ => scan.skip_value(),
                    })
                })
            }
            _ => scan.skip_value(),
        })
    }

    /// A counted value: a string adds its raw length (what `payload::raw_len` counts), `null`
    /// nothing. Anything else is left to the full parse.
    fn text(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                let (raw, _) = self.string()?;
                self.content_bytes = self.content_bytes.saturating_add(raw.len() as u64);
                Some(())
            }
            _ => self.literal(b"null"),
        }
    }
}

// === JSON grammar ===

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    /// JSON's whitespace (not `trim_ascii`'s, which also takes form feeds).
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.at..].starts_with(word).then(|| {
            self.at += word.len();
        })
    }

    /// `null`, or what `value` reads.
    fn nullable(&mut self, value: impl FnOnce(&mut Self) -> Option<()>) -> Option<()> {
        match self.peek()? {
            b'n' => self.literal(b"null"),
            _ => value(self),
        }
    }

    /// An object whose keys are read: `member` gets each key (it has no escape) with the scan
    /// at its value, and must consume the value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        self.whitespace();
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let (key, escaped) = self.string()?;
            if escaped {
                return None;
            }
            self.whitespace();
            if !self.eat(b':') {
                return None;
            }
            self.whitespace();
            member(self, key)?;
            self.whitespace();
            match self.next()? {
                b',' => self.whitespace(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// An array whose elements `element` reads.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        self.whitespace();
        if self.eat(b']') {
            return Some(());
        }
        loop {
            element(self)?;
            self.whitespace();
            match self.next()? {
                b',' => self.whitespace(),
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A string: its raw text between the quotes and whether it has an escape. Control
    /// characters, unknown escapes and text that is not UTF-8 are refused (serde refuses the
    /// first two everywhere, the last in keys and counted values).
    #[inline(always)]
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        let bytes = self.bytes;
        if bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            at += plain_run(bytes, at);
            match *bytes.get(at)? {
                b'"' => {
                    self.at = at + 1;
                    return Some((&bytes[start..at], escaped));
                }
                0x80.. => {
                    // Multi-byte characters, checked as UTF-8 up to the next quote, backslash
                    // or control character (ASCII bytes, never inside a character).
                    let rest = &bytes[at..];
                    let run = rest
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                        .unwrap_or(rest.len());
                    std::str::from_utf8(&rest[..run]).ok()?;
                    at += run;
                }
                b'\\' => {
                    escaped = true;
                    match *bytes.get(at + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
                        b'u' => {
                            let hex = bytes.get(at + 2..at + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            at += 6;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.') {
            self.next().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.next().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    /// Any value, validated and not read. Iterative: open containers are a stack of bits
    /// (1 = object), so a deep value cannot overflow the call stack.
    fn skip_value(&mut self) -> Option<()> {
        let mut open: u64 = 0;
        let mut depth = 0;
        loop {
            // At a value.
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                container @ (b'{' | b'[') => {
                    self.at += 1;
                    self.whitespace();
                    let is_object = container == b'{';
                    if !self.eat(if is_object { b'}' } else { b']' }) {
                        if depth == MAX_SKIPPED_DEPTH {
                            return None;
                        }
                        open = open << 1 | u64::from(is_object);
                        depth += 1;
                        if is_object {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                _ => return None,
            }
            // After a value: close containers until one goes on.
            loop {
                if depth == 0 {
                    return Some(());
                }
                self.whitespace();
                let in_object = open & 1 == 1;
                match self.next()? {
                    b',' => {
                        self.whitespace();
                        if in_object {
                            self.member_key()?;
                        }
                        break;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return None,
                }
                open >>= 1;
                depth -= 1;
            }
        }
    }

    /// A skipped object's `"key":`, leaving the scan at the value.
    fn member_key(&mut self) -> Option<()> {
        self.string()?;
        self.whitespace();
        if !self.eat(b':') {
            return None;
        }
        self.whitespace();
        Some(())
    }
}

/// How many bytes from `from` on need no look in a string: up to the first `"`,
/// `\` or control character (or the end). Eight bytes at a time (a byte-wise loop cost about
/// ten instructions a byte): in each 64-bit word, a byte equal to `"` or `\` is a zero after
/// an xor, and the has-a-zero-byte trick marks the lowest such byte exactly (a borrow only
/// flags bytes above a real zero); a control character is a byte below 0x20, found the same
/// way. serde_json's `skip_to_escape` does the same.
fn plain_run(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH_BITS: u64 = ONES << 7;
    let mut at = from;
    while at + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // Non-ASCII bytes stop the run too (their high bit is set in `word` itself).
        let stops = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word)
            | word;
        let stops = stops & HIGH_BITS;
        if stops != 0 {
            return at - from + (stops.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' || !(0x20..0x80).contains(&byte) {
            break;
        }
        at += 1;
    }
    at - from
}

#[cfg(test)]
mod tests;
