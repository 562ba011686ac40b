//! Incremental usage metering of an upstream LLM response, fed chunk by chunk from the
//! proxy's response-body filter.
//!
//! The meter turns whatever usage objects the upstream sends into the five billed buckets
//! ([`Usage`]) and says how far the response got ([`MeterReport`]). It only meters what
//! arrives: a missing usage object is reported missing, never estimated here; the caller gets
//! [`UsageMeter::content_bytes`] to estimate from instead.
//!
//! Event streams are processed in place: complete lines are read straight from the chunk and
//! only the unfinished tail of a chunk is copied (see the `event_stream` module). JSON bodies
//! are scanned as they pass, keeping only their top-level `usage` and error members (see the
//! `json_body` module), so memory stays bounded whatever the body's size.

mod event_stream;
mod json_body;
mod openai_chunk_scan;
mod payload;
mod responses_payload;

pub(crate) use event_stream::MAX_EVENT_BYTES;
use event_stream::{EventName, EventStream, PayloadSink};
use json_body::JsonBody;
use payload::{PayloadEffect, UsageUpdate};

/// Tokens of one request in the five buckets that are priced separately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens that were neither read from nor written to the cache.
    pub input: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub cache_read: u64,
    pub output: u64,
}

impl Usage {
    /// All tokens of the request. Saturates: the counts come from the upstream.
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
            .saturating_add(self.cache_read)
            .saturating_add(self.output)
    }
}

/// Which API's response shape the body has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFormat {
    /// OpenAI Chat Completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// Which response shape a body has, i.e. which usage objects and events the meter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseShape {
    /// OpenAI Chat Completions (and Embeddings, whose usage has the same `prompt_tokens`).
    OpenAiChat,
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Responses: `usage.input_tokens` (+ `input_tokens_details.cached_tokens`) and
    /// `output_tokens`; streamed in `response.completed` (or `.incomplete` / `.failed`).
    OpenAiResponses,
}

impl From<ApiFormat> for ResponseShape {
    fn from(f: ApiFormat) -> Self {
        match f {
            ApiFormat::OpenAi => ResponseShape::OpenAiChat,
            ApiFormat::Anthropic => ResponseShape::Anthropic,
        }
    }
}

/// How the response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `text/event-stream` (a streaming response).
    EventStream,
    /// One JSON document (a non-streaming response).
    Json,
}

/// What the meter has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeterReport {
    pub usage: Usage,
    /// Some usage object with at least one known count was parsed. When false, `usage` is
    /// all zeros and means "unknown", not "free".
    pub usage_seen: bool,
    /// The stream reached its terminator (OpenAI `data: [DONE]`, Anthropic `message_stop`),
    /// or the JSON body parsed whole.
    pub complete: bool,
    /// The upstream reported an error inside the body: an SSE `error` event, an Anthropic
    /// `"type":"error"` payload, an OpenAI payload with a top-level `error`, or a JSON
    /// error body.
    pub upstream_error: bool,
    /// Data payloads that could not be parsed. They are skipped; metering goes on.
    pub malformed_events: u32,
}

/// Meters one response body. Feed it every chunk in order, then ask for the report.
pub struct UsageMeter {
    body: Body,
    bytes_seen: u64,
}

enum Body {
    EventStream {
        stream: EventStream<PayloadEffect>,
        metering: StreamMetering,
    },
    Json(JsonBody),
}

impl UsageMeter {
    pub fn new(format: impl Into<ResponseShape>, kind: BodyKind) -> Self {
        let format = format.into();
        let body = match kind {
            BodyKind::EventStream => Body::EventStream {
                stream: EventStream::new(),
                metering: StreamMetering {
                    format,
                    tally: Tally::default(),
                },
            },
            BodyKind::Json => Body::Json(JsonBody::new(format)),
        };
        UsageMeter {
            body,
            bytes_seen: 0,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.bytes_seen = self.bytes_seen.saturating_add(chunk.len() as u64);
        match &mut self.body {
            Body::EventStream { stream, metering } => stream.feed(chunk, metering),
            Body::Json(json) => json.feed(chunk),
        }
    }

    /// What has been seen so far; may be called at any time, e.g. after the client went away
    /// mid-stream. For a JSON body the first call after a chunk parses the buffered body.
    pub fn report(&self) -> MeterReport {
        self.tally().report()
    }

    /// The body is an event stream (as opposed to one JSON document).
    pub fn is_event_stream(&self) -> bool {
        matches!(self.body, Body::EventStream { .. })
    }

    pub fn bytes_seen(&self) -> u64 {
        self.bytes_seen
    }

    /// Bytes of generated text and tool-call arguments seen so far in an event stream (raw
    /// JSON string length, so never fewer than their tokens), for charging a stream cut before
    /// its usage arrived. Always 0 for a JSON body (one without usage is charged its bound).
    pub fn content_bytes(&self) -> u64 {
        self.tally().content_bytes
    }

    /// A JSON body's top-level `usage` value: its `[start, end)` byte offsets in the body
    /// (whitespace around it included), once it has ended. `None` for event streams.
    pub fn json_usage_span(&self) -> Option<(usize, usize)> {
        match &self.body {
            Body::Json(json) => json.usage_span(),
            Body::EventStream { .. } => None,
        }
    }

    /// An event carrying generated content (text, tool-call arguments) has been dispatched.
    /// Cheap enough per chunk: it reads a running total and parses nothing.
    pub fn has_content(&self) -> bool {
        match &self.body {
            Body::EventStream { metering, .. } => metering.tally.content_bytes > 0,
            Body::Json(_) => false,
        }
    }

    fn tally(&self) -> Tally {
        match &self.body {
            Body::EventStream { stream, metering } => {
                // An event whose data lines all arrived but whose closing blank line did not
                // (cut stream, or an upstream that ends without it) has still been seen.
                let mut tally = metering.tally;
                if let Some((name, effect)) = stream.pending_event(metering) {
                    tally.on_event(name, Some(effect));
                }
                tally
            }
            Body::Json(json) => {
                let v = json.verdict();
                let mut tally = Tally {
                    complete: v.complete,
                    upstream_error: v.is_error,
                    malformed_events: u32::from(v.malformed),
                    ..Tally::default()
                };
                if let Some(update) = v.usage.filter(UsageUpdate::has_counts) {
                    tally.usage_seen = true;
                    tally.apply_usage(&update);
                }
                tally
            }
        }
    }
}

/// Running totals of what the parsed payloads said.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    usage: Usage,
    usage_seen: bool,
    complete: bool,
    upstream_error: bool,
    malformed_events: u32,
    content_bytes: u64,
}

impl Tally {
    fn report(&self) -> MeterReport {
        MeterReport {
            usage: self.usage,
            usage_seen: self.usage_seen,
            complete: self.complete,
            upstream_error: self.upstream_error,
            malformed_events: self.malformed_events,
        }
    }

    /// One dispatched SSE event; `None` when its data could not be parsed.
    fn on_event(&mut self, name: EventName, effect: Option<PayloadEffect>) {
        match name {
            EventName::Ping => return,
            EventName::Error => self.upstream_error = true,
            EventName::Other => {}
        }
        match effect {
            Some(effect) => self.apply(&effect),
            None => self.malformed_events = self.malformed_events.saturating_add(1),
        }
    }

    fn apply(&mut self, effect: &PayloadEffect) {
        self.content_bytes = self.content_bytes.saturating_add(effect.content_bytes);
        self.complete |= effect.terminates;
        self.upstream_error |= effect.is_error;
        if let Some(update) = &effect.usage {
            if update.has_counts() {
                self.usage_seen = true;
                self.apply_usage(update);
            }
        }
    }

    /// Usage objects carry running totals (Anthropic's `message_delta` repeats and raises
    /// them), so every field present overwrites; nothing is ever added.
    fn apply_usage(&mut self, update: &UsageUpdate) {
        let usage = &mut self.usage;
        if let Some(v) = update.input {
            usage.input = v;
        }
        if let Some(v) = update.cache_read {
            usage.cache_read = v;
        }
        if let Some(v) = update.output {
            usage.output = v;
        }
        if let Some((five_minutes, one_hour)) = update.cache_write_split {
            usage.cache_write_5m = five_minutes;
            usage.cache_write_1h = one_hour;
        } else if let Some(total) = update.cache_write_total {
            // A total without a split: keep a 1h share already known (a `message_delta`
            // repeats the total but not the split) and put the rest in 5m, so the buckets
            // always add up to the latest total. With no split ever seen, all of it is 5m.
            if usage.cache_write_5m.saturating_add(usage.cache_write_1h) != total {
                usage.cache_write_1h = usage.cache_write_1h.min(total);
                usage.cache_write_5m = total - usage.cache_write_1h;
            }
        }
    }
}

/// The metering side of an event stream: parses each event's data for the stream's format
/// and folds the result into the tally.
struct StreamMetering {
    format: ResponseShape,
    tally: Tally,
}

impl PayloadSink for StreamMetering {
    type Effect = PayloadEffect;

    fn parse(&self, data: &[u8]) -> Option<PayloadEffect> {
        match self.format {
            ResponseShape::OpenAiChat => payload::parse_openai_event(data),
            ResponseShape::Anthropic => payload::parse_anthropic_event(data),
            ResponseShape::OpenAiResponses => payload::parse_responses_event(data),
        }
    }

    fn dispatch(&mut self, name: EventName, effect: Option<PayloadEffect>) {
        self.tally.on_event(name, effect);
    }
}
