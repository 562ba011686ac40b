//! A whole SSE stream rendered into one buffer up front, with the event
//! boundaries and the pause before each event kept beside it. Rendering once
//! keeps the per-token cost to a memcpy; pacing and cut-offs happen later in
//! [`super::body::MockBody`].

use bytes::Bytes;

/// Where an event ends in the buffer and how long to wait before sending it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventMark {
    pub end: usize,
    pub delay_ms: u64,
}

pub(crate) struct EventList {
    buf: Vec<u8>,
    marks: Vec<EventMark>,
}

impl EventList {
    pub fn with_capacity(bytes: usize, events: usize) -> Self {
        EventList {
            buf: Vec::with_capacity(bytes),
            marks: Vec::with_capacity(events),
        }
    }

    /// Appends one event; `write` must write the complete event, framing included.
    pub fn push(&mut self, delay_ms: u64, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.buf);
        self.marks.push(EventMark {
            end: self.buf.len(),
            delay_ms,
        });
    }

    /// Appends `times` more copies of the last event, each after `delay_ms`.
    pub fn repeat_last(&mut self, times: u64, delay_ms: u64) {
        let start = match self.marks.len() {
            0 => return,
            1 => 0,
            n => self.marks[n - 2].end,
        };
        let end = self.buf.len();
        self.buf.reserve((end - start) * times as usize);
        for _ in 0..times {
            self.buf.extend_from_within(start..end);
            self.marks.push(EventMark {
                end: self.buf.len(),
                delay_ms,
            });
        }
    }

    /// A line no SSE field matches, then a `data:` event cut mid-JSON.
    pub fn push_malformed(&mut self, truncated_event: &str) {
        self.push(0, |b| {
            b.extend_from_slice(b"}{ mock garbage line, not SSE\n\n")
        });
        self.push(0, |b| {
            b.extend_from_slice(truncated_event.as_bytes());
            b.extend_from_slice(b"\n\n");
        });
    }

    pub fn into_parts(self) -> (Bytes, Vec<EventMark>) {
        (Bytes::from(self.buf), self.marks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_copies_the_last_event() {
        let mut list = EventList::with_capacity(64, 4);
        list.push(0, |b| b.extend_from_slice(b"a\n\n"));
        list.push(5, |b| b.extend_from_slice(b"bb\n\n"));
        list.repeat_last(2, 7);
        let (data, marks) = list.into_parts();
        assert_eq!(&data[..], b"a\n\nbb\n\nbb\n\nbb\n\n");
        let ends: Vec<_> = marks.iter().map(|m| (m.end, m.delay_ms)).collect();
        assert_eq!(ends, vec![(3, 0), (7, 5), (11, 7), (15, 7)]);
    }
}
