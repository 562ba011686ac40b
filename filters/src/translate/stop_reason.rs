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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_maps_both_ways() {
        let anthropic_to_openai = [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("pause_turn", "stop"),
            ("max_tokens", "length"),
            ("model_context_window_exceeded", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
        ];
        for (stop, finish) in anthropic_to_openai {
            assert_eq!(finish_reason_of(stop), finish, "{stop}");
        }
        let openai_to_anthropic = [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("tool_calls", "tool_use"),
            ("function_call", "tool_use"),
            ("content_filter", "refusal"),
        ];
        for (finish, stop) in openai_to_anthropic {
            assert_eq!(stop_reason_of(finish), stop, "{finish}");
            assert_eq!(
                finish_reason_of(stop),
                if finish == "function_call" {
                    "tool_calls"
                } else {
                    finish
                }
            );
        }
    }
}
