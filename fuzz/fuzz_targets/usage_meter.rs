//! The SSE and JSON usage meters: never panic, and report the same usage however the body
//! is cut into chunks (the network decides the cuts; the bill must not depend on them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_filters::usage::{ApiFormat, BodyKind, UsageMeter};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (head, body) = data.split_at(3);
    let format = if head[0] & 1 == 0 {
        ApiFormat::OpenAi
    } else {
        ApiFormat::Anthropic
    };
    let kind = if head[0] & 2 == 0 {
        BodyKind::EventStream
    } else {
        BodyKind::Json
    };
    let mut whole = UsageMeter::new(format, kind);
    whole.feed(body);

    let a = (head[1] as usize).min(body.len());
    let b = (a + head[2] as usize).min(body.len());
    let mut cut = UsageMeter::new(format, kind);
    for piece in [&body[..a], &body[a..b], &body[b..]] {
        cut.feed(piece);
    }
    assert_eq!(whole.report(), cut.report(), "cuts at {a} and {b} changed the usage");
    assert_eq!(whole.bytes_seen(), body.len() as u64);
});
