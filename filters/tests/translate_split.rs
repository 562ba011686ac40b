//! Chunk boundaries must not matter: every stream fixture translates to the same bytes
//! however it is cut (inside a line, inside CRLF, inside a UTF-8 character, inside the JSON).

mod translate_support;

use proptest::prelude::*;
use std::sync::OnceLock;
use translate_support::{fixtures, translate_stream, Fixture, Kind};

fn streams() -> &'static [Fixture] {
    static STREAMS: OnceLock<Vec<Fixture>> = OnceLock::new();
    STREAMS.get_or_init(|| {
        let streams: Vec<Fixture> = fixtures()
            .into_iter()
            .filter(|f| f.kind == Kind::Stream)
            .collect();
        assert!(streams.len() >= 14, "stream fixtures missing");
        streams
    })
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
fn every_two_way_split_gives_the_whole_output() {
    for f in streams() {
        let whole = translate_stream(f.dir, [&f.input[..]]);
        assert!(!whole.is_empty(), "{}", f.name);
        for cut in 0..=f.input.len() {
            let split = translate_stream(f.dir, cut_at(&f.input, &[cut]));
            assert!(split == whole, "{} cut at byte {cut}", f.name);
        }
    }
}

#[test]
fn byte_by_byte_gives_the_whole_output() {
    for f in streams() {
        let whole = translate_stream(f.dir, [&f.input[..]]);
        let bytes = translate_stream(f.dir, f.input.chunks(1));
        assert!(bytes == whole, "{}", f.name);
    }
}

/// Output appears as the events arrive, not when the stream ends: after each whole provider
/// event the output so far is a prefix of the final output.
#[test]
fn output_grows_event_by_event() {
    for f in streams() {
        let whole = translate_stream(f.dir, [&f.input[..]]);
        let mut translator =
            tollgate_filters::translate::StreamTranslator::new(f.dir, translate_support::CREATED);
        let mut out = Vec::new();
        let mut grew = 0;
        let text = &f.input[..];
        let mut start = 0;
        while let Some(end) = find_blank_line(&text[start..]) {
            let before = out.len();
            translator.feed(&text[start..start + end], &mut out);
            grew += usize::from(out.len() > before);
            assert!(whole.starts_with(&out), "{}", f.name);
            start += end;
        }
        assert!(grew >= 3, "{}: output came in {grew} steps", f.name);
    }
}

/// The length up to and including the next blank line (LF or CRLF streams).
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find_map(|i| {
        let rest = &bytes[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_multi_way_splits_give_the_whole_output(
        which in any::<prop::sample::Index>(),
        cut_fractions in prop::collection::vec(0.0f64..=1.0, 1..12),
    ) {
        let f = which.get(streams());
        let len = f.input.len();
        let mut cuts: Vec<usize> = cut_fractions
            .iter()
            .map(|fraction| ((len as f64) * fraction) as usize)
            .map(|cut| cut.min(len))
            .collect();
        cuts.sort_unstable();
        let whole = translate_stream(f.dir, [&f.input[..]]);
        let split = translate_stream(f.dir, cut_at(&f.input, &cuts));
        prop_assert!(split == whole, "{} cut at {:?}", f.name, cuts);
    }
}
