//! Incremental usage metering of an upstream LLM response, fed chunk by chunk from the
//! proxy's response-body filter.
//!
//! The meter turns whatever usage objects the upstream sends into the five billed buckets
//! ([`Usage`]) and says how far the response got ([`MeterReport`]). It only meters what
//! arrives: a missing usage object is reported missing, never estimated here; the caller gets
//! [`UsageMeter::content_bytes`] to estimate from instead.
//!
//! Event streams are processed in place: complete lines are read straight from the chunk and
//! only the unfinished tail of a chunk is copied (see the `event_stream` module). JSON bodies are
//! buffered up to a limit and parsed once, when [`UsageMeter::report`] is asked.

mod event_stream;
mod payload;

use event_stream::{EventName, EventStream, PayloadSink};
use payload::{PayloadEffect, UsageUpdate};
use std::sync::OnceLock;

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

/// Default for [`UsageMeter::with_json_limit`].
pub const DEFAULT_JSON_LIMIT: usize = 8 << 20;

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
    pub fn new(format: ApiFormat, kind: BodyKind) -> Self {
        let body = match kind {
            BodyKind::EventStream => Body::EventStream {
                stream: EventStream::new(),
                metering: StreamMetering {
                    format,
                    tally: Tally::default(),
                },
            },
            BodyKind::Json => Body::Json(JsonBody {
                format,
                buffer: Vec::new(),
                limit: DEFAULT_JSON_LIMIT,
                over_limit: false,
                parsed: OnceLock::new(),
            }),
        };
        UsageMeter {
            body,
            bytes_seen: 0,
        }
    }

    /// Non-stream JSON bodies are buffered up to this many bytes (default 8 MiB) to parse
    /// usage at the end; beyond it usage is reported missing. No effect on event streams.
    pub fn with_json_limit(mut self, bytes: usize) -> Self {
        if let Body::Json(json) = &mut self.body {
            json.limit = bytes;
        }
        self
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

    pub fn bytes_seen(&self) -> u64 {
        self.bytes_seen
    }

    /// Bytes of generated text and tool-call arguments seen so far (raw JSON string length),
    /// for estimating a charge when no usage arrived. For a JSON body, 0 until it parses.
    pub fn content_bytes(&self) -> u64 {
        self.tally().content_bytes
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
            Body::Json(json) => json.tally(),
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
    format: ApiFormat,
    tally: Tally,
}

impl PayloadSink for StreamMetering {
    type Effect = PayloadEffect;

    fn parse(&self, data: &[u8]) -> Option<PayloadEffect> {
        match self.format {
            ApiFormat::OpenAi => payload::parse_openai_event(data),
            ApiFormat::Anthropic => payload::parse_anthropic_event(data),
        }
    }

    fn dispatch(&mut self, name: EventName, effect: Option<PayloadEffect>) {
        self.tally.on_event(name, effect);
    }
}

/// A non-stream body, kept until the end because usage comes last in it.
struct JsonBody {
    format: ApiFormat,
    buffer: Vec<u8>,
    limit: usize,
    over_limit: bool,
    /// The parse of `buffer`, made on the first report after the last chunk, so that
    /// `report` and `content_bytes` at the end cost one parse between them.
    parsed: OnceLock<Tally>,
}

impl JsonBody {
    fn feed(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        self.parsed.take();
        if self.over_limit {
            return;
        }
        if self.buffer.len().saturating_add(chunk.len()) > self.limit {
            self.over_limit = true;
            self.buffer = Vec::new();
            return;
        }
        self.buffer.extend_from_slice(chunk);
    }

    fn tally(&self) -> Tally {
        *self.parsed.get_or_init(|| self.parse())
    }

    fn parse(&self) -> Tally {
        let mut tally = Tally::default();
        if self.over_limit {
            return tally;
        }
        let parsed = match self.format {
            ApiFormat::OpenAi => payload::parse_openai_body(&self.buffer),
            ApiFormat::Anthropic => payload::parse_anthropic_body(&self.buffer),
        };
        match parsed {
            Ok(effect) => {
                tally.apply(&effect);
                tally.complete = true;
            }
            // A body that ends early may still be arriving, or was cut: not complete, but
            // not malformed either.
            Err(e) if e.is_eof() => {}
            Err(_) => tally.malformed_events = 1,
        }
        tally
    }
}
