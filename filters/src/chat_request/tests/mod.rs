//! Parsing, sanitising and rendering; limits and prompt bounds have their own files.

mod limits;
mod operations;
mod prompt_bound;

use super::*;

const RULES: BodyRules = BodyRules {
    thinking: ThinkingPolicy::Reject,
    default_max_tokens: 1024,
};

fn upstream_json(
    body: &str,
    format: ApiFormat,
    rules: BodyRules,
    model: &str,
) -> serde_json::Value {
    let mut req = ChatRequest::parse(body.as_bytes(), format).unwrap();
    req.sanitize(&rules).unwrap();
    let up = req.render();
    let bytes = up.to_bytes_for(model);
    assert_eq!(bytes.len(), up.len_for(model));
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn rewrites_model_and_strips_forbidden_fields() {
    let v = upstream_json(
        r#"{"messages":[{"role":"user","content":"hi"}],"model":"pub","api_key":"x","api_base":"http://evil","base_url":"y","custom_llm_provider":"z","temperature":0.2,"tools":[{"type":"function"}]}"#,
        ApiFormat::OpenAi,
        RULES,
        "gpt-up",
    );
    assert_eq!(v["model"], "gpt-up");
    for f in FORBIDDEN_FIELDS {
        assert!(v.get(f).is_none(), "{f} survived");
    }
    assert_eq!(v["temperature"], 0.2);
    assert_eq!(v["tools"][0]["type"], "function");
    assert_eq!(v["max_tokens"], 1024);
}

#[test]
fn openai_stream_gets_include_usage_and_keeps_other_options() {
    let v = upstream_json(
        r#"{"model":"m","messages":[],"stream":true,"stream_options":{"foo":1}}"#,
        ApiFormat::OpenAi,
        RULES,
        "m",
    );
    assert_eq!(v["stream_options"]["include_usage"], true);
    assert_eq!(v["stream_options"]["foo"], 1);
    let v = upstream_json(
        r#"{"model":"m","messages":[],"stream":true}"#,
        ApiFormat::OpenAi,
        RULES,
        "m",
    );
    assert_eq!(v["stream_options"]["include_usage"], true);
    // Anthropic streams carry usage anyway; nothing is added.
    let v = upstream_json(
        r#"{"model":"m","messages":[],"stream":true,"max_tokens":5}"#,
        ApiFormat::Anthropic,
        RULES,
        "m",
    );
    assert!(v.get("stream_options").is_none());
    assert_eq!(v["max_tokens"], 5);
}

#[test]
fn output_limits_and_choices() {
    let r = ChatRequest::parse(
        br#"{"model":"m","messages":[],"max_tokens":7,"max_completion_tokens":9,"n":3}"#,
        ApiFormat::OpenAi,
    )
    .unwrap();
    assert_eq!(r.max_output_tokens(), Some(9));
    assert_eq!(r.choices(), 3);
    let e = ChatRequest::parse(
        br#"{"model":"m","messages":[],"max_tokens":-1}"#,
        ApiFormat::OpenAi,
    )
    .err()
    .unwrap();
    assert!(matches!(
        e,
        BodyError::BadField {
            field: "max_tokens",
            ..
        }
    ));
    let e = ChatRequest::parse(
        br#"{"model":"m","messages":[],"max_tokens":"5"}"#,
        ApiFormat::Anthropic,
    )
    .err()
    .unwrap();
    assert!(matches!(
        e,
        BodyError::BadField {
            field: "max_tokens",
            ..
        }
    ));
}

#[test]
fn thinking_policy() {
    let body = r#"{"model":"m","messages":[],"thinking":{"type":"enabled","budget_tokens":2000}}"#;
    let mut r = ChatRequest::parse(body.as_bytes(), ApiFormat::Anthropic).unwrap();
    assert_eq!(
        r.sanitize(&RULES),
        Err(BodyError::ThinkingNotAllowed("thinking"))
    );

    let strip = BodyRules {
        thinking: ThinkingPolicy::Strip,
        ..RULES
    };
    let v = upstream_json(body, ApiFormat::Anthropic, strip, "m");
    assert!(v.get("thinking").is_none());

    let allow = BodyRules {
        thinking: ThinkingPolicy::Allow,
        ..RULES
    };
    let v = upstream_json(body, ApiFormat::Anthropic, allow, "m");
    assert_eq!(v["thinking"]["budget_tokens"], 2000);

    let mut r = ChatRequest::parse(
        br#"{"model":"m","messages":[],"reasoning_effort":"high"}"#,
        ApiFormat::OpenAi,
    )
    .unwrap();
    assert_eq!(
        r.sanitize(&RULES),
        Err(BodyError::ThinkingNotAllowed("reasoning_effort"))
    );

    // Explicitly disabled thinking is not a request for thinking.
    let v = upstream_json(
        r#"{"model":"m","messages":[],"thinking":{"type":"disabled"}}"#,
        ApiFormat::Anthropic,
        RULES,
        "m",
    );
    assert!(v.get("thinking").is_none());
}

#[test]
fn refuses_malformed_bodies() {
    type Check = fn(&BodyError) -> bool;
    let cases: [(&str, Check); 9] = [
        ("", |e| matches!(e, BodyError::InvalidJson(_))),
        ("{", |e| matches!(e, BodyError::InvalidJson(_))),
        ("[1,2]", |e| matches!(e, BodyError::NotAnObject)),
        (r#"{"messages":[]}"#, |e| {
            matches!(e, BodyError::MissingModel)
        }),
        (r#"{"model":42,"messages":[]}"#, |e| {
            matches!(e, BodyError::BadModel)
        }),
        (r#"{"model":"m"}"#, |e| {
            matches!(e, BodyError::MissingMessages)
        }),
        (r#"{"model":"m","messages":"hi"}"#, |e| {
            matches!(e, BodyError::BadMessages)
        }),
        (r#"{"model":"a","model":"b","messages":[]}"#, |e| {
            matches!(e, BodyError::DuplicateField(_))
        }),
        (r#"{"model":"m","messages":[]} trailing"#, |e| {
            matches!(e, BodyError::InvalidJson(_))
        }),
    ];
    for (body, check) in cases {
        let e = ChatRequest::parse(body.as_bytes(), ApiFormat::OpenAi)
            .err()
            .unwrap_or_else(|| panic!("{body} accepted"));
        assert!(check(&e), "{body}: {e:?}");
    }
}

#[test]
fn escapes_upstream_model_and_keeps_unicode_intact() {
    let body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"h\u{e9}llo \u{1F600} \\\"q\\\"\"}]}";
    let v = upstream_json(body, ApiFormat::OpenAi, RULES, "we\"ird");
    assert_eq!(v["model"], "we\"ird");
    assert_eq!(v["messages"][0]["content"], "h\u{e9}llo \u{1F600} \"q\"");
}

#[test]
fn a_null_limit_does_not_become_a_duplicate_key_upstream() {
    for body in [
        r#"{"model":"m","messages":[],"max_tokens":null}"#,
        r#"{"model":"m","messages":[],"max_completion_tokens":null,"max_tokens":null}"#,
    ] {
        let mut req = ChatRequest::parse(body.as_bytes(), ApiFormat::OpenAi).unwrap();
        req.sanitize(&RULES).unwrap();
        let text = String::from_utf8(req.render().to_bytes_for("m").to_vec()).unwrap();
        assert_eq!(text.matches("max_tokens").count(), 1, "{text}");
        assert!(!text.contains("null"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["max_tokens"], 1024);
    }
}

#[test]
fn stream_options_reach_the_upstream_once_with_usage_on() {
    // A parser that keeps the first key would have read include_usage: false.
    let dup = r#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":false,"include_usage":true}}"#;
    let mut req = ChatRequest::parse(dup.as_bytes(), ApiFormat::OpenAi).unwrap();
    assert_eq!(
        req.sanitize(&RULES),
        Err(BodyError::DuplicateField(
            "stream_options.include_usage".into()
        ))
    );
    let already =
        r#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#;
    let mut req = ChatRequest::parse(already.as_bytes(), ApiFormat::OpenAi).unwrap();
    req.sanitize(&RULES).unwrap();
    let text = String::from_utf8(req.render().to_bytes_for("m").to_vec()).unwrap();
    assert_eq!(text.matches("include_usage").count(), 1, "{text}");
}

#[test]
fn parsed_fields_are_what_the_body_says() {
    fn parse(b: &str) -> Result<ChatRequest<'_>, BodyError> {
        ChatRequest::parse(b.as_bytes(), ApiFormat::OpenAi)
    }
    let r = parse(r#"{"model":"gpt-x","messages":[],"stream":true,"tools":[]}"#).unwrap();
    assert_eq!((r.model(), r.stream()), ("gpt-x", true));
    assert!(r.has_field("tools") && !r.has_field("tool_choice"));
    for off in [r#""stream":false"#, r#""stream":null"#] {
        let body = format!(r#"{{"model":"m","messages":[],{off}}}"#);
        assert!(!parse(&body).unwrap().stream(), "{off}");
    }
    assert!(!parse(r#"{"model":"m","messages":[]}"#).unwrap().stream());
    for blank in [r#""""#, r#""  ""#] {
        let body = format!(r#"{{"model":{blank},"messages":[]}}"#);
        assert_eq!(parse(&body).err(), Some(BodyError::BadModel), "{blank}");
    }
}

#[test]
fn null_fields_are_absent_fields() {
    // A null tier or modality list is the default, not a refusal.
    for (body, format) in [
        (
            r#"{"model":"m","messages":[],"service_tier":null,"modalities":null}"#,
            ApiFormat::OpenAi,
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[],"service_tier":null}"#,
            ApiFormat::Anthropic,
        ),
    ] {
        let mut req = ChatRequest::parse(body.as_bytes(), format).unwrap();
        assert!(req.sanitize(&RULES).is_ok(), "{body}");
    }
    // Only null *limits* are dropped (beside the inserted one); other nulls are forwarded.
    let v = upstream_json(
        r#"{"model":"m","messages":[],"stop":null,"max_tokens":null}"#,
        ApiFormat::OpenAi,
        RULES,
        "up",
    );
    assert!(v.as_object().unwrap().contains_key("stop"), "{v}");
    assert_eq!(v["max_tokens"], 1024);
}
