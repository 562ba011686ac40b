//! Chunk boundaries must not matter: every fixture gives the same report however it is cut
//! (inside a line, inside CRLF, inside a UTF-8 character, inside the JSON).

use proptest::prelude::*;
use std::sync::OnceLock;
use tollgate_filters::usage::{ApiFormat, BodyKind, MeterReport, UsageMeter};

struct Fixture {
    name: String,
    format: ApiFormat,
    kind: BodyKind,
    body: Vec<u8>,
}

/// Every fixture, read once; format and framing follow from the file name
/// (`openai_*`/`anthropic_*`, `.sse`/`.json`).
fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(read_fixtures)
}

fn read_fixtures() -> Vec<Fixture> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut fixtures: Vec<Fixture> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name()?.to_str()?.to_owned();
            let format = if name.starts_with("openai_") {
                ApiFormat::OpenAi
            } else if name.starts_with("anthropic_") {
                ApiFormat::Anthropic
            } else {
                return None;
            };
            let kind = match path.extension()?.to_str()? {
                "sse" => BodyKind::EventStream,
                "json" => BodyKind::Json,
                _ => return None,
            };
            let body = std::fs::read(&path).unwrap();
            Some(Fixture {
                name,
                format,
                kind,
                body,
            })
        })
        .collect();
    fixtures.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(fixtures.len() >= 8, "fixtures missing from {dir}");
    fixtures
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    report: MeterReport,
    content_bytes: u64,
    bytes_seen: u64,
}

fn meter_in_chunks<'a>(fixture: &Fixture, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut meter = UsageMeter::new(fixture.format, fixture.kind);
    for chunk in chunks {
        meter.feed(chunk);
    }
    Outcome {
        report: meter.report(),
        content_bytes: meter.content_bytes(),
        bytes_seen: meter.bytes_seen(),
    }
}

/// The body cut at the given positions (sorted, may repeat: empty chunks are fed too).
fn cut_at<'a>(body: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &cut in cuts {
        chunks.push(&body[start..cut]);
        start = cut;
    }
    chunks.push(&body[start..]);
    chunks
}

#[test]
fn every_two_way_split_matches_the_whole_body() {
    for fixture in fixtures() {
        let whole = meter_in_chunks(fixture, [&fixture.body[..]]);
        assert!(whole.report.usage_seen, "{}", fixture.name);
        for cut in 0..=fixture.body.len() {
            let split = meter_in_chunks(fixture, cut_at(&fixture.body, &[cut]));
            assert_eq!(split, whole, "{} cut at byte {cut}", fixture.name);
        }
    }
}

#[test]
fn byte_by_byte_matches_the_whole_body() {
    for fixture in fixtures() {
        let whole = meter_in_chunks(fixture, [&fixture.body[..]]);
        let bytes = meter_in_chunks(fixture, fixture.body.chunks(1));
        assert_eq!(bytes, whole, "{}", fixture.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_multi_way_splits_match_the_whole_body(
        which in any::<prop::sample::Index>(),
        cut_fractions in prop::collection::vec(0.0f64..=1.0, 1..10),
    ) {
        let fixture = which.get(fixtures());
        let len = fixture.body.len();
        let mut cuts: Vec<usize> = cut_fractions
            .iter()
            .map(|f| ((len as f64) * f) as usize)
            .map(|cut| cut.min(len))
            .collect();
        cuts.sort_unstable();
        let whole = meter_in_chunks(fixture, [&fixture.body[..]]);
        let split = meter_in_chunks(fixture, cut_at(&fixture.body, &cuts));
        prop_assert_eq!(split, whole, "{} cut at {:?}", fixture.name, cuts);
    }
}
