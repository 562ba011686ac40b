//! Errors are values: no input, however broken, makes a translation panic.

mod translate_support;

use proptest::prelude::*;
use std::sync::OnceLock;
use tollgate_filters::translate::{
    translate_error_body, translate_json_response, translate_request, StreamTranslator,
};
use translate_support::{fixtures, Fixture, Kind, CREATED};

fn all() -> &'static [Fixture] {
    static ALL: OnceLock<Vec<Fixture>> = OnceLock::new();
    ALL.get_or_init(fixtures)
}

/// Runs the fixture's own translation on `input`; only a panic fails.
fn translate_any(f: &Fixture, input: &[u8]) {
    match f.kind {
        Kind::Request => drop(translate_request(f.dir, input)),
        Kind::Response => {
            drop(translate_json_response(f.dir, input, CREATED));
            drop(translate_error_body(f.dir, 500, input));
        }
        Kind::Stream => {
            let mut translator = StreamTranslator::new(f.dir, CREATED);
            let mut out = Vec::new();
            translator.feed(input, &mut out);
            translator.finish(&mut out);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn mutated_fixtures_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        truncate in any::<prop::sample::Index>(),
    ) {
        let f = which.get(all());
        let mut input = f.input.clone();
        for (at, byte) in &edits {
            let i = at.index(input.len());
            // Mostly JSON punctuation and quotes, where structure breaks.
            const BREAKERS: &[u8] = b"{}[]\":,\\0an- \n";
            input[i] = BREAKERS[usize::from(*byte) % BREAKERS.len()];
        }
        translate_any(f, &input);
        translate_any(f, &input[..truncate.index(input.len() + 1)]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), which in any::<prop::sample::Index>()) {
        translate_any(which.get(all()), &bytes);
    }
}
