//! Recorded response bodies (tests/fixtures/) and the reports they must give.
//!
//! The expected numbers are read off the fixtures by hand: usage from the usage objects,
//! content bytes as the raw (escaped) length of every generated string.

use tollgate_filters::usage::{ApiFormat, BodyKind, MeterReport, Usage, UsageMeter};

struct Expected {
    fixture: &'static str,
    format: ApiFormat,
    kind: BodyKind,
    report: MeterReport,
    content_bytes: u64,
}

fn finished(usage: Usage) -> MeterReport {
    MeterReport {
        usage,
        usage_seen: true,
        complete: true,
        upstream_error: false,
        malformed_events: 0,
    }
}

fn expectations() -> Vec<Expected> {
    use ApiFormat::{Anthropic, OpenAi};
    use BodyKind::{EventStream, Json};
    let anthropic_cache_split = finished(Usage {
        input: 14,
        cache_write_5m: 51,
        cache_write_1h: 2000,
        cache_read: 4870,
        // 3 at message_start, 61 then 97 in the two message_deltas: the last total wins.
        output: 97,
    });
    vec![
        Expected {
            fixture: "openai_stream_cached.sse",
            format: OpenAi,
            kind: EventStream,
            // prompt_tokens 2406 includes cached_tokens 2304.
            report: finished(Usage {
                input: 102,
                cache_read: 2304,
                output: 31,
                ..Usage::default()
            }),
            content_bytes: 105,
        },
        Expected {
            fixture: "openai_stream_tool_calls.sse",
            format: OpenAi,
            kind: EventStream,
            report: finished(Usage {
                input: 412,
                output: 58,
                ..Usage::default()
            }),
            content_bytes: 68,
        },
        Expected {
            fixture: "openai_stream_comments.sse",
            format: OpenAi,
            kind: EventStream,
            report: finished(Usage {
                input: 6,
                cache_read: 1024,
                output: 27,
                ..Usage::default()
            }),
            content_bytes: 86,
        },
        Expected {
            fixture: "anthropic_stream_cache_split.sse",
            format: Anthropic,
            kind: EventStream,
            report: anthropic_cache_split,
            content_bytes: 184,
        },
        Expected {
            fixture: "anthropic_stream_cache_split_crlf.sse",
            format: Anthropic,
            kind: EventStream,
            report: anthropic_cache_split,
            content_bytes: 184,
        },
        Expected {
            fixture: "anthropic_stream_error.sse",
            format: Anthropic,
            kind: EventStream,
            // Only message_start's usage arrived; no split, so all cache writes are 5m.
            report: MeterReport {
                usage: Usage {
                    input: 2210,
                    cache_write_5m: 1536,
                    output: 1,
                    ..Usage::default()
                },
                usage_seen: true,
                complete: false,
                upstream_error: true,
                malformed_events: 0,
            },
            content_bytes: 51,
        },
        Expected {
            fixture: "openai_body.json",
            format: OpenAi,
            kind: Json,
            report: finished(Usage {
                input: 80,
                cache_read: 5120,
                output: 12,
                ..Usage::default()
            }),
            // Not measured for JSON bodies: one without usage is charged its bound.
            content_bytes: 0,
        },
        Expected {
            fixture: "anthropic_body.json",
            format: Anthropic,
            kind: Json,
            report: finished(Usage {
                input: 96,
                cache_write_1h: 3300,
                output: 71,
                ..Usage::default()
            }),
            content_bytes: 0,
        },
    ]
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_fixture_gives_its_expected_report() {
    for expected in expectations() {
        let body = fixture(expected.fixture);
        let mut meter = UsageMeter::new(expected.format, expected.kind);
        meter.feed(&body);
        assert_eq!(meter.report(), expected.report, "{}", expected.fixture);
        assert_eq!(
            meter.content_bytes(),
            expected.content_bytes,
            "{}",
            expected.fixture
        );
        assert_eq!(
            meter.bytes_seen(),
            body.len() as u64,
            "{}",
            expected.fixture
        );
    }
}

#[test]
fn every_fixture_has_an_expectation() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let known: Vec<&str> = expectations().iter().map(|e| e.fixture).collect();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".sse") || name.ends_with(".json") {
            assert!(known.contains(&name.as_str()), "no expectation for {name}");
        }
    }
}

#[test]
fn crlf_fixture_differs_from_its_lf_twin_only_in_line_endings() {
    let lf = fixture("anthropic_stream_cache_split.sse");
    let crlf = fixture("anthropic_stream_cache_split_crlf.sse");
    assert!(
        crlf.windows(2).any(|w| w == b"\r\n"),
        "line endings were converted"
    );
    let mut converted = Vec::new();
    for &byte in &lf {
        if byte == b'\n' {
            converted.push(b'\r');
        }
        converted.push(byte);
    }
    assert_eq!(converted, crlf);
}

#[test]
fn fixtures_cut_before_their_terminator_are_incomplete_with_usage_so_far() {
    // Everything up to (not including) the terminator event.
    let cases = [
        (
            "openai_stream_cached.sse",
            ApiFormat::OpenAi,
            &b"data: [DONE]"[..],
        ),
        (
            "anthropic_stream_cache_split.sse",
            ApiFormat::Anthropic,
            &b"event: message_stop"[..],
        ),
    ];
    for (name, format, terminator) in cases {
        let body = fixture(name);
        let cut = body
            .windows(terminator.len())
            .position(|w| w == terminator)
            .unwrap();
        let mut whole = UsageMeter::new(format, BodyKind::EventStream);
        whole.feed(&body);
        let mut meter = UsageMeter::new(format, BodyKind::EventStream);
        meter.feed(&body[..cut]);
        let report = meter.report();
        assert!(!report.complete, "{name}");
        assert_eq!(report.usage, whole.report().usage, "{name}");
        assert_eq!(meter.content_bytes(), whole.content_bytes(), "{name}");
    }
}
