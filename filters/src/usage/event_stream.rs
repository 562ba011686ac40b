//! Server-sent events (WHATWG "event stream interpretation"), as far as metering needs it,
//! over chunks that may split anywhere.
//!
//! Allocation: complete lines are handed on as slices of the chunk. Only the unfinished tail
//! of a chunk is copied, into `carry`, which keeps its capacity; the next chunk completes it
//! and it is handed on and cleared. An event's data is parsed from its first `data:` line on
//! its own, so the usual one-line event is never copied; only when that line does not parse
//! by itself (a payload spread over several `data:` lines, or a broken one) are the lines
//! joined in a second reusable buffer.

use memchr::{memchr, memchr2};

/// Longest line, and longest joined event data, that is kept. Bounds the memory one stream
/// can pin; a longer event is skipped and counted malformed.
pub(crate) const MAX_EVENT_BYTES: usize = 8 << 20;

const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// The event types that change how an event is metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventName {
    /// `event: ping`: keep-alive, ignored.
    Ping,
    /// `event: error`: the upstream failed mid-stream.
    Error,
    /// Any other type, including the default `message`.
    Other,
}

impl EventName {
    fn from_field(value: &[u8]) -> EventName {
        match value {
            b"ping" => EventName::Ping,
            b"error" => EventName::Error,
            _ => EventName::Other,
        }
    }
}

/// Where an event stream's data payloads go.
pub(crate) trait PayloadSink {
    /// What a parsed payload amounts to; small, so it can be kept until the event ends.
    type Effect: Copy;

    /// Parses one event's data; `None` when it is not a valid payload.
    fn parse(&self, data: &[u8]) -> Option<Self::Effect>;

    /// Receives one finished event; `effect` is `None` when its data could not be parsed.
    fn dispatch(&mut self, name: EventName, effect: Option<Self::Effect>);
}

/// An event stream being read.
pub(crate) struct EventStream<E> {
    lines: LineSplitter,
    event: EventAssembler<E>,
}

impl<E: Copy> EventStream<E> {
    pub(crate) fn new() -> Self {
        EventStream {
            lines: LineSplitter::default(),
            event: EventAssembler {
                name: EventName::Other,
                data: EventData::None,
                joined: Vec::new(),
            },
        }
    }

    pub(crate) fn feed<S: PayloadSink<Effect = E>>(&mut self, chunk: &[u8], sink: &mut S) {
        let event = &mut self.event;
        self.lines.split(chunk, |line| event.on_line(line, sink));
    }

    /// The event under way, if all its data lines have arrived and parse: what it would
    /// dispatch if its closing blank line came now.
    pub(crate) fn pending_event<S: PayloadSink<Effect = E>>(
        &self,
        sink: &S,
    ) -> Option<(EventName, E)> {
        let effect = match &self.event.data {
            EventData::Alone {
                effect,
                more_text: false,
            } => *effect,
            EventData::Joined => sink.parse(&self.event.joined)?,
            _ => return None,
        };
        Some((self.event.name, effect))
    }
}

/// One line, without its terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line<'a> {
    Text(&'a [u8]),
    /// A line longer than [`MAX_EVENT_BYTES`]; its bytes were dropped.
    TooLong,
}

/// Cuts chunks into lines ended by LF, CRLF or a lone CR.
#[derive(Default)]
struct LineSplitter {
    /// The unfinished last line of the chunks so far.
    carry: Vec<u8>,
    /// The unfinished line outgrew [`MAX_EVENT_BYTES`]; its bytes are dropped until it ends.
    carry_too_long: bool,
    /// The last chunk ended with CR: an LF opening the next chunk belongs to that CR.
    after_cr: bool,
    /// A line has been handed on (a byte order mark may open only the first one).
    started: bool,
}

impl LineSplitter {
    fn split(&mut self, chunk: &[u8], mut on_line: impl FnMut(Line<'_>)) {
        let mut rest = chunk;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(end) = memchr2(b'\n', b'\r', rest) {
            self.finish_line(&rest[..end], &mut on_line);
            let after = end + 1;
            if rest[end] == b'\r' {
                match rest.get(after) {
                    Some(b'\n') => {
                        rest = &rest[after + 1..];
                        continue;
                    }
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            rest = &rest[after..];
        }
        self.keep_unfinished(rest);
    }

    /// Hands on the line that ends with `tail` (the carry, if any, is its start).
    fn finish_line(&mut self, tail: &[u8], on_line: &mut impl FnMut(Line<'_>)) {
        let first = !self.started;
        self.started = true;
        if self.carry_too_long {
            self.carry_too_long = false;
            on_line(Line::TooLong);
            return;
        }
        if self.carry.is_empty() {
            on_line(checked_line(tail, first));
            return;
        }
        if self.carry.len() + tail.len() > MAX_EVENT_BYTES {
            self.carry.clear();
            on_line(Line::TooLong);
            return;
        }
        self.carry.extend_from_slice(tail);
        on_line(checked_line(&self.carry, first));
        self.carry.clear();
    }

    fn keep_unfinished(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.carry_too_long {
            return;
        }
        if self.carry.len() + bytes.len() > MAX_EVENT_BYTES {
            self.carry_too_long = true;
            // Give the memory back: such a line is an anomaly, not the steady state.
            self.carry = Vec::new();
            return;
        }
        self.carry.extend_from_slice(bytes);
    }
}

/// The same length limit for a line whether it came whole or in pieces, so the outcome
/// never depends on where chunks were cut.
fn checked_line(line: &[u8], first: bool) -> Line<'_> {
    if line.len() > MAX_EVENT_BYTES {
        return Line::TooLong;
    }
    let line = if first {
        line.strip_prefix(BYTE_ORDER_MARK).unwrap_or(line)
    } else {
        line
    };
    Line::Text(line)
}

/// The fields of the event under way.
struct EventAssembler<E> {
    name: EventName,
    data: EventData<E>,
    /// The event's data lines joined with LF, only in the [`EventData::Joined`] state.
    joined: Vec<u8>,
}

enum EventData<E> {
    /// No `data:` line yet.
    None,
    /// The first data line parsed on its own. A later data line with any non-whitespace
    /// (`more_text`) makes the joined data a JSON value followed by more text, which is
    /// invalid; whitespace-only lines leave the value as it is.
    Alone { effect: E, more_text: bool },
    /// The data lines are joined in `joined`, to be parsed when the event ends.
    Joined,
    /// A line of the event was too long; the event is malformed.
    TooLong,
}

impl<E: Copy> EventAssembler<E> {
    fn on_line<S: PayloadSink<Effect = E>>(&mut self, line: Line<'_>, sink: &mut S) {
        let line = match line {
            Line::Text(line) => line,
            Line::TooLong => {
                self.data = EventData::TooLong;
                return;
            }
        };
        if line.is_empty() {
            self.dispatch(sink);
            return;
        }
        let (field, value) = match memchr(b':', line) {
            Some(0) => return, // a comment
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => self.on_data(value, sink),
            b"event" => self.name = EventName::from_field(value),
            _ => {} // id, retry and unknown fields do not matter here
        }
    }

    fn on_data<S: PayloadSink<Effect = E>>(&mut self, value: &[u8], sink: &S) {
        match &mut self.data {
            EventData::None => {
                self.data = match sink.parse(value) {
                    Some(effect) => EventData::Alone {
                        effect,
                        more_text: false,
                    },
                    None => {
                        self.joined.clear();
                        self.joined.extend_from_slice(value);
                        EventData::Joined
                    }
                };
            }
            EventData::Alone { more_text, .. } => {
                if !value.iter().all(|b| matches!(b, b' ' | b'\t')) {
                    *more_text = true;
                }
            }
            EventData::Joined => {
                if self.joined.len() + 1 + value.len() > MAX_EVENT_BYTES {
                    self.joined = Vec::new();
                    self.data = EventData::TooLong;
                } else {
                    self.joined.push(b'\n');
                    self.joined.extend_from_slice(value);
                }
            }
            EventData::TooLong => {}
        }
    }

    fn dispatch<S: PayloadSink<Effect = E>>(&mut self, sink: &mut S) {
        let name = std::mem::replace(&mut self.name, EventName::Other);
        match std::mem::replace(&mut self.data, EventData::None) {
            EventData::None => {} // an event without data is not dispatched
            EventData::Alone { effect, more_text } => {
                sink.dispatch(name, (!more_text).then_some(effect))
            }
            EventData::Joined => {
                let effect = sink.parse(&self.joined);
                self.joined.clear();
                sink.dispatch(name, effect);
            }
            EventData::TooLong => sink.dispatch(name, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records events as (name, data) with data taken verbatim.
    #[derive(Default)]
    struct Recorder {
        events: Vec<(EventName, Option<String>)>,
    }

    impl PayloadSink for Recorder {
        // The effect of a payload is its length and first byte. Like JSON, an empty payload
        // does not parse; nor does one starting with `!`, the stand-in for broken JSON.
        type Effect = (usize, u8);

        fn parse(&self, data: &[u8]) -> Option<(usize, u8)> {
            match data.first() {
                None | Some(b'!') => None,
                Some(&first) => Some((data.len(), first)),
            }
        }

        fn dispatch(&mut self, name: EventName, effect: Option<(usize, u8)>) {
            let shown = effect.map(|(len, first)| format!("{len}:{}", first as char));
            self.events.push((name, shown));
        }
    }

    fn events_of(chunks: &[&[u8]]) -> Vec<(EventName, Option<String>)> {
        let mut stream = EventStream::new();
        let mut recorder = Recorder::default();
        for chunk in chunks {
            stream.feed(chunk, &mut recorder);
        }
        recorder.events
    }

    fn lines_of(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.split(chunk, |line| match line {
                Line::Text(text) => lines.push(text.to_vec()),
                Line::TooLong => lines.push(b"<too long>".to_vec()),
            });
        }
        lines
    }

    #[test]
    fn lf_crlf_and_lone_cr_all_end_lines() {
        let lines = lines_of(&[b"a\nb\r\nc\rd\n"]);
        assert_eq!(lines, [&b"a"[..], b"b", b"c", b"d"]);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_terminator() {
        let lines = lines_of(&[b"a\r", b"\nb\r", b"", b"\n"]);
        assert_eq!(lines, [&b"a"[..], b"b"]);
    }

    #[test]
    fn cr_at_chunk_end_followed_by_text_is_a_lone_cr() {
        let lines = lines_of(&[b"a\r", b"b\n"]);
        assert_eq!(lines, [&b"a"[..], b"b"]);
    }

    #[test]
    fn unfinished_line_is_carried_and_keeps_its_capacity() {
        let mut splitter = LineSplitter::default();
        let mut capacity = None;
        for _ in 0..3 {
            let mut seen = Vec::new();
            splitter.split(b"data: {\"a\"", |_| unreachable!());
            splitter.split(b":1}\n", |line| {
                seen.push(line == Line::Text(b"data: {\"a\":1}"))
            });
            assert_eq!(seen, [true]);
            assert!(splitter.carry.is_empty());
            // Cleared, not freed: later rounds reuse the same buffer.
            let now = splitter.carry.capacity();
            assert!(now > 0);
            assert_eq!(*capacity.get_or_insert(now), now);
        }
    }

    #[test]
    fn byte_order_mark_is_stripped_from_the_first_line_only() {
        let lines = lines_of(&[b"\xEF\xBB", b"\xBFa\n\xEF\xBB\xBFb\n"]);
        assert_eq!(lines, [&b"a"[..], b"\xEF\xBB\xBFb"]);
    }

    #[test]
    fn over_long_line_is_dropped_whole_however_it_arrives() {
        let long = vec![b'x'; MAX_EVENT_BYTES + 1];
        let mut whole = long.clone();
        whole.extend_from_slice(b"\nok\n");
        let (head, tail) = whole.split_at(10);
        for chunks in [vec![&whole[..]], vec![head, tail]] {
            assert_eq!(lines_of(&chunks), [&b"<too long>"[..], b"ok"]);
        }
    }

    #[test]
    fn blank_line_dispatches_and_comments_and_unknown_fields_are_ignored() {
        let events = events_of(&[b": keep-alive\nid: 7\nretry: 10\ndata: abc\n\n"]);
        assert_eq!(events, [(EventName::Other, Some("3:a".into()))]);
    }

    #[test]
    fn data_colon_space_is_optional_and_only_one_space_is_dropped() {
        let events = events_of(&[b"data:abc\n\ndata:  abc\n\ndata\n\n"]);
        assert_eq!(
            events,
            [
                (EventName::Other, Some("3:a".into())),
                (EventName::Other, Some("4: ".into())),
                (EventName::Other, None),
            ]
        );
    }

    #[test]
    fn event_name_applies_to_its_event_only() {
        let events = events_of(&[b"event: ping\ndata: p\n\nevent: error\ndata: e\n\ndata: m\n\n"]);
        let names: Vec<_> = events.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, [EventName::Ping, EventName::Error, EventName::Other]);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        assert!(events_of(&[b"event: ping\n\n\n"]).is_empty());
    }

    #[test]
    fn data_lines_that_only_parse_joined_are_joined_with_lf() {
        // An empty first line does not parse alone; joined with `cd` it is `\ncd`.
        let events = events_of(&[b"data:\ndata: cd\n\n"]);
        assert_eq!(events, [(EventName::Other, Some("3:\n".into()))]);
        // A first line that does not parse alone, and whose join does not parse either.
        let events = events_of(&[b"data: !ab\ndata: cd\n\n"]);
        assert_eq!(events, [(EventName::Other, None)]);
    }

    #[test]
    fn text_after_a_complete_first_line_makes_the_event_malformed() {
        let events = events_of(&[b"data: ab\ndata: cd\n\ndata: ab\ndata:  \n\n"]);
        assert_eq!(
            events,
            [
                (EventName::Other, None),
                (EventName::Other, Some("2:a".into()))
            ]
        );
    }

    #[test]
    fn pending_event_is_reported_until_its_blank_line() {
        let mut stream = EventStream::new();
        let mut recorder = Recorder::default();
        stream.feed(b"event: error\ndata: abc\n", &mut recorder);
        assert_eq!(
            stream.pending_event(&recorder),
            Some((EventName::Error, (3, b'a')))
        );
        stream.feed(b"\n", &mut recorder);
        assert_eq!(stream.pending_event(&recorder), None);
        assert_eq!(recorder.events.len(), 1);
    }

    /// A line of exactly the limit is kept and one byte more is too long, whether it arrives
    /// whole or cut anywhere (the bill must not depend on where the network cut it).
    #[test]
    fn the_line_limit_is_exact_however_the_line_is_cut() {
        for len in [MAX_EVENT_BYTES, MAX_EVENT_BYTES + 1] {
            let mut body = vec![b'x'; len];
            body.push(b'\n');
            let expected = if len > MAX_EVENT_BYTES {
                b"<too long>".len()
            } else {
                len
            };
            for cuts in [
                vec![],
                vec![1],
                vec![len / 2],
                vec![len - 1],
                vec![len],
                vec![3, len - 3],
            ] {
                let mut chunks = Vec::new();
                let mut at = 0;
                for c in cuts.iter().copied().chain([body.len()]) {
                    chunks.push(&body[at..c]);
                    at = c;
                }
                let lines = lines_of(&chunks);
                assert_eq!(lines.len(), 1, "len {len}, cuts {cuts:?}");
                assert_eq!(lines[0].len(), expected, "len {len}, cuts {cuts:?}");
            }
        }
    }

    /// Multi-line data joined past the limit is too long too, at the same exact boundary. (An
    /// empty first line does not parse alone, so the lines are joined with "\n".)
    #[test]
    fn joined_data_is_limited_at_the_same_boundary() {
        let a = MAX_EVENT_BYTES - 5; // "data:" + a is a line of exactly the limit
        for (b, fits) in [(3, true), (4, false)] {
            let mut body = b"data:\ndata:".to_vec();
            body.extend(std::iter::repeat_n(b'a', a));
            body.extend_from_slice(b"\ndata:");
            body.extend(std::iter::repeat_n(b'b', b));
            body.extend_from_slice(b"\n\n");
            let events = events_of(&[&body]);
            assert_eq!(events.len(), 1, "last line {b}");
            let shown = fits.then(|| format!("{}:\n", 2 + a + b));
            assert_eq!(events[0].1, shown, "last line {b}");
        }
    }
}
