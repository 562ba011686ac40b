//! What the client receives, from what the provider sent: translated into the client's
//! format when the two differ, with the call's cost written into the final usage object, and
//! the response id of a Responses call noted on the way.
//!
//! The usage meter reads the provider's own bytes before any of this (metering is always on
//! the provider's usage); the shaper only changes what the client sees.
//!
//! | case | what happens to the bytes |
//! | --- | --- |
//! | same format, event stream | passed through chunk by chunk; only while the cost is still to be written is an unfinished last line held back until its end arrives, and only the one chunk holding the final usage event is rebuilt |
//! | same format, JSON 2xx | held until the end (the client needs all of it anyway), then the cost is written into `usage`; a body over [`MAX_HELD_JSON`] is sent on unstamped |
//! | other format | each provider event is translated as it arrives; a JSON body (2xx or error) is translated whole at its end |
//! | anything else (an error body in the client's format) | passed through |

mod usage_stamp;

pub use usage_stamp::{usd_decimal, Stamp};

use crate::translate::{translate_error_body, translate_json_response, Direction, StreamTranslator};
use crate::usage::{BodyKind, ResponseShape};
use bytes::Bytes;
use memchr::{memchr2, memrchr2};
use std::sync::Arc;

/// A JSON body held for its cost stamp beyond this is sent on without it.
pub const MAX_HELD_JSON: usize = 16 << 20;
/// A JSON body held for translation beyond this cannot be translated (an error body replaces
/// it); a completion this large would need millions of output tokens.
pub const MAX_TRANSLATED_JSON: usize = 64 << 20;

/// How to shape one response.
#[derive(Debug, Clone)]
pub struct ShaperOptions {
    /// The shape the client reads.
    pub client: ResponseShape,
    pub framing: BodyKind,
    /// The provider answered 2xx.
    pub ok: bool,
    /// The provider's status (for translated error bodies).
    pub status: u16,
    /// The provider speaks the other chat format.
    pub translate: Option<Direction>,
    /// Write the cost into the final usage object, naming this request id.
    pub stamp: Option<Arc<str>>,
    /// Note the id of a Responses object.
    pub capture_response_id: bool,
    /// `created` of translated OpenAI objects.
    pub created_unix: u64,
}

/// What to send the client for one chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum Shaped {
    /// The chunk as it came.
    Unchanged,
    /// These bytes instead.
    Replace(Bytes),
    /// Nothing yet (held until more arrives).
    Hold,
}

enum Mode {
    PassThrough,
    Lines,
    TranslateStream(Box<StreamTranslator>),
    WholeJson { translate: Option<Direction>, limit: usize },
}

pub struct ResponseShaper {
    mode: Mode,
    opts: ShaperOptions,
    stamped: bool,
    response_id: Option<String>,
    /// Bytes held back: an unfinished line (event streams) or the body so far (JSON).
    held: Vec<u8>,
}

impl ResponseShaper {
    pub fn new(opts: ShaperOptions) -> Self {
        let mode = match (opts.translate, opts.framing, opts.ok) {
            (Some(dir), BodyKind::EventStream, true) => {
                Mode::TranslateStream(Box::new(StreamTranslator::new(dir, opts.created_unix)))
            }
            (Some(dir), _, _) => Mode::WholeJson {
                translate: Some(dir),
                limit: MAX_TRANSLATED_JSON,
            },
            (None, _, false) => Mode::PassThrough,
            (None, _, true) if opts.stamp.is_none() && !opts.capture_response_id => {
                Mode::PassThrough
            }
            (None, BodyKind::EventStream, true) => Mode::Lines,
            (None, BodyKind::Json, true) => Mode::WholeJson {
                translate: None,
                limit: MAX_HELD_JSON,
            },
        };
        ResponseShaper {
            mode,
            opts,
            stamped: false,
            response_id: None,
            held: Vec::new(),
        }
    }

    /// Whether the body the client gets may differ in length from the provider's (its
    /// `Content-Length` must go).
    pub fn changes_body(&self) -> bool {
        !matches!(self.mode, Mode::PassThrough)
    }

    /// The id of the Responses object, once seen.
    pub fn response_id(&self) -> Option<&str> {
        self.response_id.as_deref()
    }

    /// The cost was written into the client's usage object.
    pub fn stamped(&self) -> bool {
        self.stamped
    }

    /// Shape one chunk of the provider's body. `quote` is asked at most once, when the final
    /// usage object passes, for the buyer's charge in micro-USDC (`None`: write nothing).
    pub fn feed(&mut self, chunk: &Bytes, end: bool, quote: &mut dyn FnMut() -> Option<i64>) -> Shaped {
        match &mut self.mode {
            Mode::PassThrough => Shaped::Unchanged,
            Mode::Lines => self.feed_lines(chunk, end, quote),
            Mode::TranslateStream(t) => {
                let mut out = Vec::with_capacity(chunk.len() + 64);
                t.feed(chunk, &mut out);
                if end {
                    t.finish(&mut out);
                }
                if let Some(stamped) = self.scan(&out, quote) {
                    out = stamped;
                }
                if out.is_empty() {
                    Shaped::Hold
                } else {
                    Shaped::Replace(Bytes::from(out))
                }
            }
            Mode::WholeJson { translate, limit } => {
                let (translate, limit) = (*translate, *limit);
                self.held.extend_from_slice(chunk);
                if self.held.len() > limit {
                    return self.give_up_holding(translate);
                }
                if !end {
                    return Shaped::Hold;
                }
                let body = std::mem::take(&mut self.held);
                Shaped::Replace(Bytes::from(self.finish_json(body, translate, quote)))
            }
        }
    }

    /// A body too large to hold: sent on as it is (no stamp), or — when it had to be
    /// translated — replaced by an error in the client's format.
    fn give_up_holding(&mut self, translate: Option<Direction>) -> Shaped {
        self.mode = Mode::PassThrough;
        let held = std::mem::take(&mut self.held);
        match translate {
            None => Shaped::Replace(Bytes::from(held)),
            Some(dir) => Shaped::Replace(Bytes::from(translate_error_body(
                dir,
                502,
                br#"{"error":{"message":"the provider's response is too large to translate"}}"#,
            ))),
        }
    }

    fn finish_json(&mut self, body: Vec<u8>, translate: Option<Direction>, quote: &mut dyn FnMut() -> Option<i64>) -> Vec<u8> {
        let body = match translate {
            Some(dir) if self.opts.ok => translate_json_response(dir, &body, self.opts.created_unix)
                .unwrap_or_else(|e| {
                    let msg = serde_json::json!({"error": {"message": format!("the provider's response could not be translated: {e}")}});
                    translate_error_body(dir, 502, msg.to_string().as_bytes())
                }),
            Some(dir) => return translate_error_body(dir, self.opts.status, &body),
            None => body,
        };
        if self.opts.capture_response_id {
            self.response_id = usage_stamp::response_id(&body, false);
        }
        if let (Some(id), Some(at)) = (&self.opts.stamp, usage_stamp::usage_insert_point(&body, usage_stamp::Payload::Whole)) {
            if let Some(cost) = quote() {
                self.stamped = true;
                let stamp = Stamp { cost_microusdc: cost, request_id: id.clone() };
                return usage_stamp::insert(&body, at, &stamp.members());
            }
        }
        body
    }

    /// Event streams in the client's format: whole lines only while something is still to
    /// be found in them; then everything passes untouched.
    fn feed_lines(&mut self, chunk: &Bytes, end: bool, quote: &mut dyn FnMut() -> Option<i64>) -> Shaped {
        let looking = self.looking();
        if !looking && self.held.is_empty() {
            return Shaped::Unchanged;
        }
        let data: Bytes = if self.held.is_empty() {
            chunk.clone()
        } else {
            let mut joined = std::mem::take(&mut self.held);
            joined.extend_from_slice(chunk);
            Bytes::from(joined)
        };
        let joined = data.len() != chunk.len();
        let cut = if end || !looking {
            data.len()
        } else {
            memrchr2(b'\n', b'\r', &data).map_or(0, |i| i + 1)
        };
        let complete = data.slice(..cut);
        self.held.extend_from_slice(&data[cut..]);
        let rewritten = self.scan(&complete, quote);
        match rewritten {
            Some(bytes) => Shaped::Replace(Bytes::from(bytes)),
            None if !joined && cut == data.len() => Shaped::Unchanged,
            None if complete.is_empty() => Shaped::Hold,
            None => Shaped::Replace(complete),
        }
    }

    fn looking(&self) -> bool {
        (self.opts.stamp.is_some() && !self.stamped)
            || (self.opts.capture_response_id && self.response_id.is_none())
    }

    /// Whole client-format events: note a response id; write the cost into the final usage
    /// event. Returns the rewritten bytes when they changed.
    fn scan(&mut self, bytes: &[u8], quote: &mut dyn FnMut() -> Option<i64>) -> Option<Vec<u8>> {
        if self.opts.capture_response_id && self.response_id.is_none() {
            let at = usage_stamp::created_event(bytes).or_else(|| usage_stamp::candidate(self.opts.client, bytes));
            if let Some(payload) = at.and_then(|at| data_payload(bytes, at)) {
                self.response_id = usage_stamp::response_id(&bytes[payload.0..payload.1], true);
            }
        }
        let id = self.opts.stamp.clone().filter(|_| !self.stamped)?;
        let mut from = 0;
        while let Some(at) = usage_stamp::candidate(self.opts.client, &bytes[from..]) {
            let at = from + at;
            let Some((start, end)) = data_payload(bytes, at) else {
                from = at + 1;
                continue;
            };
            let payload = &bytes[start..end];
            if let Some(point) = usage_stamp::usage_insert_point(payload, usage_stamp::Payload::Event(self.opts.client)) {
                let cost = quote()?;
                self.stamped = true;
                let stamp = Stamp { cost_microusdc: cost, request_id: id };
                let mut out = Vec::with_capacity(bytes.len() + 96);
                out.extend_from_slice(&bytes[..start]);
                out.extend_from_slice(&usage_stamp::insert(payload, point, &stamp.members()));
                out.extend_from_slice(&bytes[end..]);
                return Some(out);
            }
            from = end;
        }
        None
    }
}

/// The `data:` payload of the line around `at`: its start and end in `bytes`.
fn data_payload(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let start = memrchr2(b'\n', b'\r', &bytes[..at]).map_or(0, |i| i + 1);
    let end = memchr2(b'\n', b'\r', &bytes[at..]).map_or(bytes.len(), |i| at + i);
    let line = &bytes[start..end];
    let rest = line.strip_prefix(b"data:")?;
    let skip = usize::from(rest.first() == Some(&b' '));
    Some((start + 5 + skip, end))
}

#[cfg(test)]
mod tests;
