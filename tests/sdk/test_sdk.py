"""The official OpenAI and Anthropic Python SDKs against the gateway, as a buyer would use them.

Each test checks what the SDK saw AND that the gateway metered exactly the usage the mock
upstream reported (the mock's numbers are set per request through x-mock-* headers).
"""

import anthropic
import openai
import pytest

from conftest import API_KEY

WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}
WEATHER_TOOL_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}


def usage_headers(inp, out, cache_read=0, write_5m=0, write_1h=0):
    return {
        "x-mock-input-tokens": str(inp),
        "x-mock-output-tokens": str(out),
        "x-mock-cache-read-tokens": str(cache_read),
        "x-mock-cache-write-5m-tokens": str(write_5m),
        "x-mock-cache-write-1h-tokens": str(write_1h),
    }


def buckets(o):
    return (
        o["input_tokens"],
        o["cache_write_5m_tokens"],
        o["cache_write_1h_tokens"],
        o["cache_read_tokens"],
        o["output_tokens"],
    )


@pytest.fixture()
def oai(stack):
    return openai.OpenAI(base_url=f"{stack.base}/v1", api_key=API_KEY, max_retries=0)


@pytest.fixture()
def claude(stack):
    return anthropic.Anthropic(base_url=stack.base, api_key=API_KEY, max_retries=0)


def test_openai_non_stream(stack, oai):
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-sdk",
        messages=[{"role": "user", "content": "Say hi"}],
        extra_headers=usage_headers(40, 9, cache_read=10),
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "tok " * 9
    assert completion.usage.prompt_tokens == 50
    assert completion.usage.prompt_tokens_details.cached_tokens == 10
    o = stack.outcome(raw.headers["x-request-id"])
    assert o["status"] == "completed"
    assert buckets(o) == (40, 0, 0, 10, 9)
    # 40×1 + 10×0.5 + 9×2 = 63 micro-USDC; buyer ceil(63 / 0.7) = 90
    assert (o["provider_cost_usdc"], o["buyer_cost_usdc"]) == (63, 90)


def test_openai_stream_with_tools(stack, oai):
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-sdk",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL_OPENAI],
        tool_choice="auto",
        stream=True,
        extra_headers=usage_headers(21, 5),
    )
    name, args, usage = "", "", None
    for chunk in raw.parse():
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                name += call.function.name or ""
                args += call.function.arguments or ""
    assert name == "get_weather"
    assert args == '{"location":"Paris"}'
    # The client did not ask for usage; the gateway did (stream_options.include_usage).
    assert usage is not None and usage.completion_tokens == 5
    o = stack.outcome(raw.headers["x-request-id"])
    assert o["stream"] is True
    assert buckets(o) == (21, 0, 0, 0, 5)


def test_openai_non_stream_with_tools(stack, oai):
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-sdk",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL_OPENAI],
        extra_headers=usage_headers(17, 3),
    )
    msg = raw.parse().choices[0].message
    assert msg.tool_calls[0].function.name == "get_weather"
    assert buckets(stack.outcome(raw.headers["x-request-id"])) == (17, 0, 0, 0, 3)


def test_anthropic_non_stream_with_tools_and_cache(stack, claude):
    raw = claude.messages.with_raw_response.create(
        model="claude-sdk",
        max_tokens=64,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL_ANTHROPIC],
        extra_headers=usage_headers(11, 4, cache_read=300, write_5m=50, write_1h=70),
    )
    message = raw.parse()
    tool_use = next(b for b in message.content if b.type == "tool_use")
    assert tool_use.name == "get_weather" and tool_use.input == {"location": "Paris"}
    assert message.usage.cache_creation_input_tokens == 120
    o = stack.outcome(raw.headers["x-request-id"])
    assert buckets(o) == (11, 50, 70, 300, 4)
    # 11×3 + 50×3.75 + 70×6 + 300×0.3 + 4×15 = 33 + 187.5 + 420 + 90 + 60 = 790.5 → 791
    assert o["provider_cost_usdc"] == 791


def test_anthropic_stream(stack, claude):
    with claude.messages.stream(
        model="claude-sdk",
        max_tokens=64,
        messages=[{"role": "user", "content": "Say hi"}],
        extra_headers=usage_headers(13, 8, cache_read=2),
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    assert text == "tok " * 8
    assert final.usage.output_tokens == 8
    o = stack.outcome(request_id)
    assert o["status"] == "completed"
    assert buckets(o) == (13, 0, 0, 2, 8)


def test_anthropic_stream_with_tools(stack, claude):
    with claude.messages.stream(
        model="claude-sdk",
        max_tokens=64,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL_ANTHROPIC],
        extra_headers=usage_headers(9, 6),
    ) as stream:
        final = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    tool_use = next(b for b in final.content if b.type == "tool_use")
    assert tool_use.input == {"location": "Paris"}
    assert final.stop_reason == "tool_use"
    assert buckets(stack.outcome(request_id)) == (9, 0, 0, 0, 6)


def test_errors_surface_as_sdk_exceptions(stack):
    bad = openai.OpenAI(base_url=f"{stack.base}/v1", api_key="sk-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="gpt-sdk", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 401

    good = anthropic.Anthropic(base_url=stack.base, api_key=API_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as e:
        good.messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 400


def test_models_list(stack, oai):
    ids = {m.id for m in oai.models.list()}
    assert ids == {"gpt-sdk", "claude-sdk", "embed-sdk"}
