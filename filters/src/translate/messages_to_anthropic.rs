//! OpenAI `messages` → Anthropic `system` and `messages`.
//!
//! Leading `system`/`developer` messages become the system prompt. The others become turns;
//! Anthropic needs the roles to alternate, so consecutive messages of one role (assistant
//! after assistant, or `tool` results followed by a user message) merge into one turn. Text
//! passes through as raw JSON strings; nothing is decoded but URLs and tool arguments.

use super::blocks_to_anthropic::{
    image_block, next, part_type, string_member, text_block, text_member, tool_use_block,
};
use super::read_json::{each, required_text, Members};
use super::write_json::Object;
use super::TranslateError;
use crate::usage::ApiFormat;
use serde_json::value::RawValue;

const TARGET: ApiFormat = ApiFormat::Anthropic;

pub(super) struct Converted {
    /// The rendered `system` value (a string, or an array of text blocks), if any.
    pub system: Option<Vec<u8>>,
    /// The rendered `messages` array.
    pub messages: Vec<u8>,
}

pub(super) fn convert(messages: &RawValue) -> Result<Converted, TranslateError> {
    let mut system = Vec::new();
    let mut turns = Turns::with_capacity(messages.get().len() + 64);
    each(messages, "messages", |i, message: &RawValue| {
        let path = format!("messages[{i}]");
        let mut m = Members::of(message, &path)?;
        let role_path = format!("{path}.role");
        let role = m
            .take("role")
            .ok_or_else(|| TranslateError::invalid(&role_path, "is required"))?;
        let role = required_text(role, &role_path)?;
        match role.as_ref() {
            "system" | "developer" if turns.role.is_some() => Err(TranslateError::inexpressible(
                TARGET,
                role_path,
                "a system message after the conversation started (Anthropic takes the system prompt only before the first message)",
            )),
            "system" | "developer" => system_message(m, &path, &mut system),
            "user" => user_message(m, &path, &mut turns),
            "assistant" => assistant_message(m, &path, &mut turns),
            "tool" => tool_message(m, &path, &mut turns),
            "function" => Err(TranslateError::inexpressible(
                TARGET,
                role_path,
                "legacy function messages; use tool messages",
            )),
            _ => Err(TranslateError::invalid(
                role_path,
                "must be system, developer, user, assistant or tool",
            )),
        }
    })?;
    Ok(Converted {
        system: render_system(&system),
        messages: turns.finish(),
    })
}

/// A `name` says which participant spoke; Anthropic turns have no such field, and the model
/// would lose who said what.
fn refuse_name(m: &mut Members<'_>, path: &str) -> Result<(), TranslateError> {
    m.take_neutral(
        "name",
        path,
        TARGET,
        |_| false,
        "messages carry no participant name",
    )
}

/// One text of the system prompt and its `cache_control`.
type SystemText<'a> = (&'a RawValue, Option<&'a RawValue>);

fn system_message<'a>(
    mut m: Members<'a>,
    path: &str,
    system: &mut Vec<SystemText<'a>>,
) -> Result<(), TranslateError> {
    refuse_name(&mut m, path)?;
    let content_path = format!("{path}.content");
    let content = m
        .take_value("content")
        .ok_or_else(|| TranslateError::invalid(&content_path, "is required"))?;
    if content.get().starts_with('"') {
        system.push((content, None));
    } else {
        each(content, &content_path, |j, part: &RawValue| {
            let part_path = format!("{content_path}[{j}]");
            let mut p = Members::of(part, &part_path)?;
            part_type(&mut p, &part_path, &["text"])?;
            let cache = p.take_value("cache_control");
            system.push((text_member(&mut p, &part_path)?, cache));
            p.refuse_rest(&part_path, TARGET)
        })?;
    }
    m.refuse_rest(path, TARGET)
}

/// A single uncached text stays a string; anything else is an array of text blocks.
fn render_system(system: &[SystemText<'_>]) -> Option<Vec<u8>> {
    match system {
        [] => None,
        [(text, None)] => Some(text.get().as_bytes().to_vec()),
        texts => {
            let mut out = vec![b'['];
            for (text, cache) in texts {
                text_block(&mut out, text, *cache);
            }
            out.push(b']');
            Some(out)
        }
    }
}

fn user_message<'a>(
    mut m: Members<'a>,
    path: &str,
    turns: &mut Turns<'a>,
) -> Result<(), TranslateError> {
    refuse_name(&mut m, path)?;
    turns.start(Role::User);
    let content_path = format!("{path}.content");
    let content = m
        .take_value("content")
        .ok_or_else(|| TranslateError::invalid(&content_path, "is required"))?;
    if content.get().starts_with('"') {
        turns.add_string(content);
    } else {
        let blocks = turns.blocks();
        each(content, &content_path, |j, part: &RawValue| {
            let part_path = format!("{content_path}[{j}]");
            let mut p = Members::of(part, &part_path)?;
            let cache = p.take_value("cache_control");
            if part_type(&mut p, &part_path, &["text", "image_url"])? == "text" {
                text_block(blocks, text_member(&mut p, &part_path)?, cache);
            } else {
                image_block(blocks, &mut p, &part_path, cache)?;
            }
            p.refuse_rest(&part_path, TARGET)
        })?;
    }
    m.refuse_rest(path, TARGET)
}

fn assistant_message<'a>(
    mut m: Members<'a>,
    path: &str,
    turns: &mut Turns<'a>,
) -> Result<(), TranslateError> {
    refuse_name(&mut m, path)?;
    m.take_neutral(
        "function_call",
        path,
        TARGET,
        |_| false,
        "legacy function calling; use tool_calls",
    )?;
    m.take_neutral(
        "audio",
        path,
        TARGET,
        |_| false,
        "audio responses cannot be replayed",
    )?;
    turns.start(Role::Assistant);
    let content_path = format!("{path}.content");
    match m.take_value("content") {
        None => {}
        Some(content) if content.get().starts_with('"') => turns.add_string(content),
        Some(content) => {
            let blocks = turns.blocks();
            // Assistant parts are text or a refusal, which was said as text.
            each(content, &content_path, |j, part: &RawValue| {
                let part_path = format!("{content_path}[{j}]");
                let mut p = Members::of(part, &part_path)?;
                let kind = part_type(&mut p, &part_path, &["text", "refusal"])?;
                let cache = p.take_value("cache_control");
                let said = p
                    .take_value(kind)
                    .filter(|s| s.get().starts_with('"'))
                    .ok_or_else(|| {
                        TranslateError::invalid(format!("{part_path}.{kind}"), "must be a string")
                    })?;
                text_block(blocks, said, cache);
                p.refuse_rest(&part_path, TARGET)
            })?;
        }
    }
    if let Some(refusal) = m.take_value("refusal") {
        required_text(refusal, &format!("{path}.refusal"))?;
        text_block(turns.blocks(), refusal, None);
    }
    if let Some(calls) = m.take_value("tool_calls") {
        let calls_path = format!("{path}.tool_calls");
        let blocks = turns.blocks();
        each(calls, &calls_path, |j, call: &RawValue| {
            tool_use_block(blocks, call, &format!("{calls_path}[{j}]"))
        })?;
    }
    m.refuse_rest(path, TARGET)
}

/// A `tool` message → a `tool_result` block in a user turn (consecutive results share one).
fn tool_message<'a>(
    mut m: Members<'a>,
    path: &str,
    turns: &mut Turns<'a>,
) -> Result<(), TranslateError> {
    // The call is identified by `tool_call_id`; a `name` beside it repeats the function name.
    m.take("name");
    let id = string_member(&mut m, "tool_call_id", path)?;
    let content_path = format!("{path}.content");
    let content = m
        .take_value("content")
        .ok_or_else(|| TranslateError::invalid(&content_path, "is required"))?;
    m.refuse_rest(path, TARGET)?;
    turns.start(Role::User);
    let mut inner = std::mem::take(&mut turns.scratch);
    inner.clear();
    let result = if content.get().starts_with('"') {
        inner.extend_from_slice(content.get().as_bytes());
        Ok(())
    } else {
        inner.push(b'[');
        let parts = each(content, &content_path, |j, part: &RawValue| {
            let part_path = format!("{content_path}[{j}]");
            let mut p = Members::of(part, &part_path)?;
            part_type(&mut p, &part_path, &["text"])?;
            let cache = p.take_value("cache_control");
            text_block(&mut inner, text_member(&mut p, &part_path)?, cache);
            p.refuse_rest(&part_path, TARGET)
        });
        inner.push(b']');
        parts
    };
    if result.is_ok() {
        let mut block = Object::open(next(turns.blocks()));
        block.raw("type", "\"tool_result\"");
        block.raw("tool_use_id", id.get());
        block.key("content").extend_from_slice(&inner);
        block.close();
    }
    turns.scratch = inner;
    result
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
}

/// The `messages` array being written, one turn at a time.
struct Turns<'a> {
    /// The finished turns: `[` and the turns so far, comma-separated.
    out: Vec<u8>,
    /// The role of the turn under way.
    role: Option<Role>,
    /// The turn's content while it is a single string (kept as a string, as the client sent it).
    single_string: Option<&'a RawValue>,
    /// The turn's content blocks, comma-separated.
    blocks: Vec<u8>,
    /// Reused for nested content (a tool result's parts).
    scratch: Vec<u8>,
}

impl<'a> Turns<'a> {
    fn with_capacity(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(b'[');
        Turns {
            out,
            role: None,
            single_string: None,
            blocks: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// A message of `role` starts: a new turn, or more of the current one.
    fn start(&mut self, role: Role) {
        if self.role != Some(role) {
            self.flush();
            self.role = Some(role);
        }
    }

    /// String content: kept as a string when it is the whole turn.
    fn add_string(&mut self, s: &'a RawValue) {
        if self.single_string.is_none() && self.blocks.is_empty() {
            self.single_string = Some(s);
        } else {
            text_block(self.blocks(), s, None);
        }
    }

    /// The turn's block list; a single string turns into a text block first.
    fn blocks(&mut self) -> &mut Vec<u8> {
        if let Some(s) = self.single_string.take() {
            text_block(&mut self.blocks, s, None);
        }
        &mut self.blocks
    }

    fn flush(&mut self) {
        let Some(role) = self.role.take() else { return };
        let mut turn = Object::open(next(&mut self.out));
        turn.raw(
            "role",
            if role == Role::User {
                "\"user\""
            } else {
                "\"assistant\""
            },
        );
        let content = turn.key("content");
        match self.single_string.take() {
            Some(s) => content.extend_from_slice(s.get().as_bytes()),
            None => {
                content.push(b'[');
                content.extend_from_slice(&self.blocks);
                content.push(b']');
            }
        }
        turn.close();
        self.blocks.clear();
    }

    fn finish(mut self) -> Vec<u8> {
        self.flush();
        self.out.push(b']');
        self.out
    }
}
