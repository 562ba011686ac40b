//! Provider bytes → whole server-sent events, over chunks that may be cut anywhere (WHATWG
//! "event stream interpretation": LF, CRLF and a lone CR end lines; a blank line ends an
//! event; `:` starts a comment).
//!
//! Allocation: an event that lies whole inside a chunk is read in place. Only the unfinished
//! event at the end of a chunk is copied, into `carry`, which keeps its capacity; a second
//! reusable buffer joins the data lines of the rare event that has several. An event longer
//! than [`MAX_EVENT_BYTES`] (counted up to its closing blank line, the same bytes however the
//! chunks were cut) is skipped whole, as the usage meter skips it.

use crate::usage::MAX_EVENT_BYTES;
use memchr::{memchr, memchr2, memrchr2};

const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// One event, borrowed from the chunk or the carry.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SseEvent<'a> {
    /// The `event:` field; empty for the default type.
    pub name: &'a [u8],
    /// The data lines joined with LF; `None` when the event had no `data:` line.
    pub data: Option<&'a [u8]>,
    /// The event had comment lines and no data: a keep-alive.
    pub comment_only: bool,
}

#[derive(Default)]
pub(super) struct EventSplitter {
    /// The unfinished event: its bytes from the previous chunks.
    carry: Vec<u8>,
    /// The unfinished event outgrew the limit; its bytes are dropped until it ends.
    carry_too_long: bool,
    /// Bytes have arrived since the last line end (a line end now ends a non-blank line).
    mid_line: bool,
    /// The last chunk ended with CR: an LF opening the next chunk completes that line end.
    after_cr: bool,
    /// That CR ended a blank line: the LF is not part of the next event.
    cr_ended_event: bool,
    /// An event has been read (a byte order mark may open only the first).
    started: bool,
    /// Several data lines joined.
    joined: Vec<u8>,
}

impl EventSplitter {
    pub fn feed(&mut self, chunk: &[u8], mut on_event: impl FnMut(&SseEvent<'_>)) {
        if chunk.is_empty() {
            return;
        }
        let mut pos = 0;
        // Where the unfinished event starts in this chunk (0: it began in the carry).
        let mut start = 0;
        if std::mem::take(&mut self.after_cr) && chunk[0] == b'\n' {
            pos = 1;
            if self.cr_ended_event {
                start = 1;
            }
        }
        while let Some(found) = memchr2(b'\n', b'\r', &chunk[pos..]) {
            let end = pos + found;
            if end > pos {
                self.mid_line = true;
            }
            let mut after = end + 1;
            if chunk[end] == b'\r' {
                match chunk.get(after) {
                    Some(b'\n') => after += 1,
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            if self.mid_line {
                self.mid_line = false;
                self.cr_ended_event = false;
            } else {
                self.event_ends(&chunk[start..end], &mut on_event);
                start = after;
                self.cr_ended_event = true;
            }
            pos = after;
        }
        if pos < chunk.len() {
            self.mid_line = true;
        }
        self.keep_unfinished(&chunk[start..]);
    }

    /// The stream ended: the unfinished event's complete lines are read as an event (its
    /// closing blank line never came); a last line without its line end is not.
    pub fn finish(&mut self, mut on_event: impl FnMut(&SseEvent<'_>)) {
        let carry = std::mem::take(&mut self.carry);
        if !self.carry_too_long {
            if let Some(last) = memrchr2(b'\n', b'\r', &carry) {
                self.read_event(&carry[..=last], &mut on_event);
            }
        }
        *self = EventSplitter {
            carry,
            joined: std::mem::take(&mut self.joined),
            ..EventSplitter::default()
        };
        self.carry.clear();
    }

    /// A blank line ended the event whose bytes are the carry followed by `tail`.
    fn event_ends(&mut self, tail: &[u8], on_event: &mut impl FnMut(&SseEvent<'_>)) {
        if self.carry.is_empty() && !self.carry_too_long {
            if tail.len() <= MAX_EVENT_BYTES {
                self.read_event(tail, on_event);
            }
            return;
        }
        let too_long = self.carry_too_long || self.carry.len() + tail.len() > MAX_EVENT_BYTES;
        self.carry_too_long = false;
        let mut event = std::mem::take(&mut self.carry);
        if !too_long {
            event.extend_from_slice(tail);
            self.read_event(&event, on_event);
        }
        event.clear();
        self.carry = event;
    }

    fn keep_unfinished(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.carry_too_long {
            return;
        }
        if self.carry.len() + bytes.len() > MAX_EVENT_BYTES {
            self.carry_too_long = true;
            // Give the memory back: such an event is an anomaly, not the steady state.
            self.carry = Vec::new();
            return;
        }
        self.carry.extend_from_slice(bytes);
    }

    /// Reads the fields of one event's lines and hands the event on.
    fn read_event(&mut self, mut bytes: &[u8], on_event: &mut impl FnMut(&SseEvent<'_>)) {
        if !std::mem::replace(&mut self.started, true) {
            bytes = bytes.strip_prefix(BYTE_ORDER_MARK).unwrap_or(bytes);
        }
        let mut name: &[u8] = b"";
        let mut first_data: Option<&[u8]> = None;
        let mut joined = false;
        let mut comment = false;
        self.joined.clear();
        while !bytes.is_empty() {
            let (line, rest) = match memchr2(b'\n', b'\r', bytes) {
                None => (bytes, &b""[..]),
                Some(i) if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') => {
                    (&bytes[..i], &bytes[i + 2..])
                }
                Some(i) => (&bytes[..i], &bytes[i + 1..]),
            };
            bytes = rest;
            let (field, value) = match memchr(b':', line) {
                Some(0) => {
                    comment = true;
                    continue;
                }
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &b""[..]),
            };
            match field {
                b"event" => name = value,
                b"data" => match first_data {
                    None => first_data = Some(value),
                    Some(first) => {
                        if !joined {
                            joined = true;
                            self.joined.extend_from_slice(first);
                        }
                        self.joined.push(b'\n');
                        self.joined.extend_from_slice(value);
                    }
                },
                _ => {} // id, retry and unknown fields do not matter here
            }
        }
        let data = if joined {
            Some(&self.joined[..])
        } else {
            first_data
        };
        on_event(&SseEvent {
            name,
            data,
            comment_only: comment && data.is_none(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, data, comment_only) of every event, fed in `chunks`, then finished.
    fn events_of(chunks: &[&[u8]]) -> Vec<(String, Option<String>, bool)> {
        let mut splitter = EventSplitter::default();
        let mut events = Vec::new();
        let mut record = |e: &SseEvent<'_>| {
            events.push((
                String::from_utf8_lossy(e.name).into_owned(),
                e.data.map(|d| String::from_utf8_lossy(d).into_owned()),
                e.comment_only,
            ))
        };
        for chunk in chunks {
            splitter.feed(chunk, &mut record);
        }
        splitter.finish(&mut record);
        events
    }

    fn every_split_agrees(body: &[u8]) -> Vec<(String, Option<String>, bool)> {
        let whole = events_of(&[body]);
        for cut in 0..=body.len() {
            assert_eq!(
                events_of(&[&body[..cut], &body[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(events_of(&bytes), whole, "byte by byte");
        whole
    }

    fn data(name: &str, data: &str) -> (String, Option<String>, bool) {
        (name.to_owned(), Some(data.to_owned()), false)
    }

    #[test]
    fn lf_crlf_and_cr_line_ends_give_the_same_events() {
        let expected = vec![data("a", "1"), data("", "2")];
        for body in [
            &b"event: a\ndata: 1\n\ndata: 2\n\n"[..],
            b"event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n",
            b"event: a\rdata: 1\r\rdata: 2\r\r",
            b"event: a\r\ndata: 1\n\r\ndata: 2\r\r\n",
        ] {
            assert_eq!(every_split_agrees(body), expected, "{body:?}");
        }
    }

    #[test]
    fn data_lines_join_with_lf_and_comments_alone_are_keep_alives() {
        let events = every_split_agrees(b": hi\n\ndata: a\n: note\ndata:b\nid: 3\n\n");
        assert_eq!(events, [("".into(), None, true), data("", "a\nb")]);
    }

    #[test]
    fn finish_reads_complete_lines_of_an_unended_event_only() {
        assert_eq!(
            every_split_agrees(b"data: a\n\ndata: b\n"),
            [data("", "a"), data("", "b")]
        );
        assert_eq!(every_split_agrees(b"data: a\n\ndata: b"), [data("", "a")]);
        assert_eq!(every_split_agrees(b"data: a\r"), [data("", "a")]);
    }

    #[test]
    fn byte_order_mark_is_dropped_before_the_first_event_only() {
        let events = every_split_agrees(b"\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n");
        assert_eq!(events[0], data("", "a"));
        assert_eq!(events[1].1, None, "a later mark makes an unknown field");
    }

    /// The limit counts the same bytes however the event is cut, also when a cut falls
    /// between the CR and LF of a line end.
    #[test]
    fn an_event_over_the_limit_is_skipped_whole_however_it_is_cut() {
        for eol in ["\n", "\r\n"] {
            let e = eol.len();
            for (len, kept) in [(MAX_EVENT_BYTES, true), (MAX_EVENT_BYTES + 1, false)] {
                // "data: " + payload + eol is `len` bytes: the event before its blank line.
                let payload = len - 6 - e;
                let first = format!("data: x{eol}{eol}");
                let mut body = first.clone().into_bytes();
                body.extend_from_slice(b"data: ");
                body.extend(std::iter::repeat_n(b'y', payload));
                body.extend_from_slice(format!("{eol}{eol}data: z{eol}{eol}").as_bytes());
                let data_end = first.len() + len; // just after the data line's line end
                let cuts = [
                    vec![],
                    vec![12],
                    vec![len / 2],
                    vec![data_end - 1],
                    vec![data_end + e - 1],
                    vec![3, data_end + 1],
                ];
                for cuts in cuts {
                    let mut chunks = Vec::new();
                    let mut at = 0;
                    for cut in cuts.iter().copied().chain([body.len()]) {
                        chunks.push(&body[at..cut]);
                        at = cut;
                    }
                    let events = events_of(&chunks);
                    let datas: Vec<usize> =
                        events.iter().map(|e| e.1.as_ref().unwrap().len()).collect();
                    let expected = if kept {
                        vec![1, payload, 1]
                    } else {
                        vec![1, 1]
                    };
                    assert_eq!(datas, expected, "{eol:?}, len {len}, cuts {cuts:?}");
                }
            }
        }
    }

    #[test]
    fn the_carry_keeps_its_capacity() {
        let mut splitter = EventSplitter::default();
        let mut capacity = None;
        for _ in 0..3 {
            let mut n = 0;
            splitter.feed(b"data: {\"a\"", |_| unreachable!());
            splitter.feed(b":1}\n\n", |e| {
                assert_eq!(e.data, Some(&b"{\"a\":1}"[..]));
                n += 1;
            });
            assert_eq!(n, 1);
            assert!(splitter.carry.is_empty());
            let now = splitter.carry.capacity();
            assert!(now > 0);
            assert_eq!(*capacity.get_or_insert(now), now);
        }
    }
}
