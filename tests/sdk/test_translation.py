"""Any SDK to any provider: the official `openai` SDK against an Anthropic-kind provider and
the official `anthropic` SDK against an OpenAI-kind one, stream and not, with tools.

Each test checks what the SDK parsed, that the gateway metered exactly the usage the mock
reported (its five buckets are set per request by x-mock-* headers), and that the usage object
the SDK received carries the charge that was recorded.
"""

import json

import anthropic
import openai
import pytest

from conftest import API_KEY
from test_sdk import WEATHER_TOOL_ANTHROPIC, WEATHER_TOOL_OPENAI, buckets, usage_headers


@pytest.fixture()
def oai(stack):
    return openai.OpenAI(base_url=f"{stack.base}/v1", api_key=API_KEY, max_retries=0)


@pytest.fixture()
def claude(stack):
    return anthropic.Anthropic(base_url=stack.base, api_key=API_KEY, max_retries=0)


def extra(usage, name):
    """A member the gateway added to a usage model (pydantic keeps unknown members)."""
    return (usage.model_extra or {}).get(name)


def test_openai_sdk_to_an_anthropic_provider(stack, oai):
    raw = oai.chat.completions.with_raw_response.create(
        model="claude-sdk",
        max_tokens=64,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}],
        extra_headers=usage_headers(40, 9, cache_read=10, write_5m=20, write_1h=5),
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "tok " * 9
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 75
    assert completion.usage.completion_tokens == 9
    assert completion.usage.prompt_tokens_details.cached_tokens == 10
    request_id = raw.headers["x-request-id"]
    o = stack.outcome(request_id)
    assert (o["provider"], o["status"]) == ("mock-anthropic", "completed")
    assert buckets(o) == (40, 20, 5, 10, 9)
    assert extra(completion.usage, "cost_microusdc") == o["buyer_cost_usdc"] > 0
    assert extra(completion.usage, "request_id") == request_id


def test_openai_sdk_stream_with_tools_to_an_anthropic_provider(stack, oai):
    raw = oai.chat.completions.with_raw_response.create(
        model="claude-sdk",
        max_tokens=64,
        stream=True,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL_OPENAI],
        extra_headers=usage_headers(30, 7, cache_read=4, write_5m=6),
    )
    arguments, finish, usage = "", None, None
    for chunk in raw.parse():
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if call.function.name:
                    assert call.function.name == "get_weather"
                arguments += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert json.loads(arguments) == {"location": "Paris"}
    assert finish == "tool_calls"
    assert (usage.prompt_tokens, usage.completion_tokens) == (40, 7)
    o = stack.outcome(raw.headers["x-request-id"])
    assert buckets(o) == (30, 6, 0, 4, 7)
    assert extra(usage, "cost_microusdc") == o["buyer_cost_usdc"]


def test_anthropic_sdk_to_an_openai_provider(stack, claude):
    raw = claude.messages.with_raw_response.create(
        model="gpt-sdk",
        max_tokens=64,
        system="Be brief.",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL_ANTHROPIC],
        extra_headers=usage_headers(30, 7, cache_read=20),
    )
    message = raw.parse()
    assert message.stop_reason == "tool_use"
    tool = next(b for b in message.content if b.type == "tool_use")
    assert (tool.name, tool.input) == ("get_weather", {"location": "Paris"})
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (30, 20, 7)
    o = stack.outcome(raw.headers["x-request-id"])
    assert (o["provider"], buckets(o)) == ("mock-openai", (30, 0, 0, 20, 7))
    assert extra(message.usage, "cost_microusdc") == o["buyer_cost_usdc"] > 0


def test_anthropic_sdk_stream_to_an_openai_provider(stack, claude):
    with claude.messages.stream(
        model="gpt-sdk",
        max_tokens=64,
        messages=[{"role": "user", "content": "Say hi"}],
        extra_headers=usage_headers(12, 5, cache_read=3),
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    assert text == "tok " * 5
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (12, 3, 5)
    o = stack.outcome(request_id)
    assert buckets(o) == (12, 0, 0, 3, 5)


def test_what_anthropic_cannot_express_is_a_400_naming_the_field(stack, oai):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(
            model="claude-sdk",
            n=3,
            messages=[{"role": "user", "content": "Say hi"}],
        )
    assert e.value.status_code == 400
    body = e.value.response.json()
    assert body["error"] == "VALIDATION_ERROR"
    assert "`n`" in body["message"]
