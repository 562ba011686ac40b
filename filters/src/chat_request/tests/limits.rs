//! Output limits and fields that would change the price unpriced ([`super::super::limits`]).

use super::*;

fn refused(body: &str, format: ApiFormat) -> BodyError {
    ChatRequest::parse(body.as_bytes(), format)
        .err()
        .unwrap_or_else(|| panic!("{body} accepted"))
}

#[test]
fn zero_limits_are_refused_and_the_larger_limit_is_reserved() {
    for body in [
        r#"{"model":"m","messages":[],"max_tokens":0}"#,
        r#"{"model":"m","messages":[],"max_completion_tokens":0}"#,
        r#"{"model":"m","messages":[],"n":0}"#,
    ] {
        assert!(
            matches!(
                refused(body, ApiFormat::OpenAi),
                BodyError::BadField {
                    expected: "a positive integer",
                    ..
                }
            ),
            "{body}"
        );
    }
    assert!(matches!(
        refused(
            r#"{"model":"m","messages":[],"max_tokens":0}"#,
            ApiFormat::Anthropic
        ),
        BodyError::BadField {
            field: "max_tokens",
            ..
        }
    ));
    for (body, want) in [
        (
            r#"{"model":"m","messages":[],"max_tokens":900,"max_completion_tokens":9}"#,
            900,
        ),
        (
            r#"{"model":"m","messages":[],"max_tokens":9,"max_completion_tokens":900}"#,
            900,
        ),
        (
            r#"{"model":"m","messages":[],"max_tokens":null,"max_completion_tokens":5}"#,
            5,
        ),
    ] {
        let r = ChatRequest::parse(body.as_bytes(), ApiFormat::OpenAi).unwrap();
        assert_eq!(r.max_output_tokens(), Some(want), "{body}");
    }
}

#[test]
fn case_variants_and_engine_limits_are_refused_by_name() {
    for (field, format) in [
        ("MAX_TOKENS", ApiFormat::OpenAi),
        ("Max_Tokens", ApiFormat::Anthropic),
        ("N", ApiFormat::OpenAi),
        ("n", ApiFormat::Anthropic),
        ("MAX_COMPLETION_TOKENS", ApiFormat::OpenAi),
        ("max_completion_tokens", ApiFormat::Anthropic),
        ("n_predict", ApiFormat::OpenAi),
        ("best_of", ApiFormat::OpenAi),
        ("max_output_tokens", ApiFormat::Anthropic),
        ("maxOutputTokens", ApiFormat::OpenAi),
        ("max_new_tokens", ApiFormat::OpenAi),
        ("num_predict", ApiFormat::OpenAi),
        ("use_beam_search", ApiFormat::OpenAi),
    ] {
        let body = format!(r#"{{"model":"m","messages":[],"max_tokens":10,"{field}":100000}}"#);
        let body = body.replace(r#","max_tokens":10,"max_tokens""#, r#","max_tokens""#);
        match refused(&body, format) {
            BodyError::UnpricedField { field: f, .. } => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
        assert!(refused(&body, format).to_string().contains(field));
    }
}

#[test]
fn premium_switches_and_server_tools_are_refused() {
    let cases: [(&str, ApiFormat, &str); 11] = [
        (
            r#""service_tier":"priority""#,
            ApiFormat::OpenAi,
            "service_tier",
        ),
        (
            r#""service_tier":"flex""#,
            ApiFormat::OpenAi,
            "service_tier",
        ),
        (
            r#""service_tier":"priority""#,
            ApiFormat::Anthropic,
            "service_tier",
        ),
        (
            r#""modalities":["text","audio"]"#,
            ApiFormat::OpenAi,
            "modalities",
        ),
        (
            r#""audio":{"voice":"alloy","format":"wav"}"#,
            ApiFormat::OpenAi,
            "audio",
        ),
        (
            r#""prediction":{"type":"content","content":"x"}"#,
            ApiFormat::OpenAi,
            "prediction",
        ),
        (
            r#""web_search_options":{}"#,
            ApiFormat::OpenAi,
            "web_search_options",
        ),
        (r#""mcp_servers":[]"#, ApiFormat::Anthropic, "mcp_servers"),
        (
            r#""tools":[{"type":"web_search_20250305","name":"web_search"}]"#,
            ApiFormat::Anthropic,
            "tools[type=web_search_20250305]",
        ),
        (
            r#""tools":[{"type":"code_execution_20250522","name":"c"}]"#,
            ApiFormat::Anthropic,
            "tools[type=code_execution_20250522]",
        ),
        (
            r#""tools":[{"type":"web_search_preview"}]"#,
            ApiFormat::OpenAi,
            "tools[type=web_search_preview]",
        ),
    ];
    for (extra, format, field) in cases {
        let body = format!(r#"{{"model":"m","messages":[],{extra}}}"#);
        match refused(&body, format) {
            BodyError::UnpricedField { field: f, .. } => assert_eq!(f, field, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
    for ok in [
        r#"{"model":"m","messages":[],"service_tier":"auto"}"#,
        r#"{"model":"m","messages":[],"service_tier":"default","modalities":["text"],"audio":null}"#,
        r#"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}]}"#,
    ] {
        assert!(
            ChatRequest::parse(ok.as_bytes(), ApiFormat::OpenAi).is_ok(),
            "{ok}"
        );
    }
    let client_tools = r#"{"model":"m","messages":[],"service_tier":"standard_only","tools":[{"name":"f","input_schema":{"type":"object"}},{"type":"custom","name":"g","input_schema":{}},{"type":"bash_20250124","name":"bash"}]}"#;
    assert!(ChatRequest::parse(client_tools.as_bytes(), ApiFormat::Anthropic).is_ok());
}
