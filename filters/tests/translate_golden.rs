//! Every fixture under `tests/fixtures/translate/` translates to its expected file: request
//! bodies and responses compared as JSON values (member order is incidental), streams event
//! by event (the sequence must match exactly, each payload as a JSON value).

mod translate_support;

use serde_json::Value;
use tollgate_filters::translate::{translate_json_response, translate_request};
use translate_support::{blessing, events, fixtures, tail_value, translate_stream, Kind, CREATED};

#[test]
fn every_fixture_translates_to_its_expected_file() {
    let all = fixtures();
    assert!(all.len() >= 25, "fixtures missing: {}", all.len());
    let mut failures = Vec::new();
    for f in &all {
        let (got, expected_text): (String, Option<String>) = match f.kind {
            Kind::Request | Kind::Response => {
                let out = if f.kind == Kind::Request {
                    translate_request(f.dir, &f.input).map(|tail| tail_value(&tail))
                } else {
                    translate_json_response(f.dir, &f.input, CREATED).map(|body| {
                        serde_json::from_slice::<Value>(&body).expect("response is JSON")
                    })
                };
                let value = out.unwrap_or_else(|e| panic!("{}: {e}", f.name));
                let pretty = serde_json::to_string_pretty(&value).unwrap() + "\n";
                let expected = std::fs::read_to_string(&f.expected_path).ok();
                let same = expected
                    .as_deref()
                    .is_some_and(|e| serde_json::from_str::<Value>(e).unwrap() == value);
                (
                    pretty,
                    if same {
                        None
                    } else {
                        expected.or(Some(String::new()))
                    },
                )
            }
            Kind::Stream => {
                let out = translate_stream(f.dir, [&f.input[..]]);
                let got = String::from_utf8(out).unwrap();
                let expected = std::fs::read_to_string(&f.expected_path).ok();
                let same = expected
                    .as_deref()
                    .is_some_and(|e| events(e.as_bytes()) == events(got.as_bytes()));
                (
                    got,
                    if same {
                        None
                    } else {
                        expected.or(Some(String::new()))
                    },
                )
            }
        };
        if let Some(expected) = expected_text {
            if blessing() {
                std::fs::write(&f.expected_path, &got).unwrap();
            } else {
                failures.push(format!(
                    "{}\n--- expected\n{expected}\n--- got\n{got}",
                    f.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
