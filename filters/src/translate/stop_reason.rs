//! Anthropic `stop_reason` ⇄ OpenAI `finish_reason`.

/// end_turn / stop_sequence → stop, max_tokens → length, tool_use → tool_calls, refusal →
/// content_filter. `pause_turn` only follows server tools (never requested through
/// translation) and ends the turn like `end_turn`; a context-window stop is a length stop.
pub(super) fn finish_reason_of(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// stop → end_turn (OpenAI does not say whether a stop sequence matched), length →
/// max_tokens, tool_calls (and legacy function_call) → tool_use, content_filter → refusal.
pub(super) fn stop_reason_of(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}
