//! Prompt tokens as OpenAI reports them for chat models, so the mock can stand in for a real
//! provider when a test compares the gateway's own count with the provider's: `o200k_base`,
//! and the rule OpenAI documents (the cookbook's `num_tokens_from_messages`): every message
//! costs 3 tokens plus its fields' tokens (a name 1 more), and the reply is primed with 3.

use serde_json::Value;

pub(crate) fn openai_chat_prompt(body: &[u8]) -> Option<u64> {
    let bpe = tiktoken_rs::o200k_base_singleton();
    let tokens = |s: &str| bpe.encode_ordinary(s).len() as u64;
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut n = 3;
    for message in v.get("messages")?.as_array()? {
        n += 3;
        for (key, value) in message.as_object()? {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p.get("text")?.as_str())
                    .collect::<Vec<_>>()
                    .concat(),
                _ => continue,
            };
            n += tokens(&text) + u64::from(key == "name");
        }
    }
    Some(n)
}
