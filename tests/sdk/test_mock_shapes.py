"""The official SDKs pointed straight at mock-llm (no gateway): the mock's replies must have
the shapes the SDKs expect, since the gateway's translation tests trust them.

Beyond the SDK parsing a reply (which tolerates missing fields), every body and event is
validated strictly against the SDK's own pydantic types.
"""

import base64
import struct
import subprocess

import anthropic
import openai
import pydantic
import pytest
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
from openai.types import CreateEmbeddingResponse
from openai.types.responses import Response, ResponseStreamEvent

from conftest import BIN_DIR, free_port

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}
STREAM_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
ANTHROPIC_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)


@pytest.fixture(scope="module")
def mock_url():
    port = free_port()
    mock = subprocess.Popen(
        [str(BIN_DIR / "mock-llm"), "--listen", f"127.0.0.1:{port}", "--threads", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening" in mock.stdout.readline()
        yield f"http://127.0.0.1:{port}"
    finally:
        mock.terminate()
        mock.wait(timeout=10)


@pytest.fixture
def oai(mock_url):
    return openai.OpenAI(base_url=f"{mock_url}/v1", api_key="sk-mock", max_retries=0)


@pytest.fixture
def claude(mock_url):
    return anthropic.Anthropic(base_url=mock_url, api_key="sk-ant-mock", max_retries=0)


def mock_value(index, d):
    """Component d of embedding `index`, as the mock computes it (embeddings.rs)."""
    return ((index * 5 + d) % 16 - 8) / 16


def test_responses_reply(oai):
    raw = oai.responses.with_raw_response.create(
        model="gpt-mock@output_tokens=3,reasoning_tokens=5,cache_read_tokens=4", input="hi"
    )
    strict = Response.model_validate(raw.http_response.json())
    resp = raw.parse()
    for r in (strict, resp):
        assert r.object == "response" and r.status == "completed"
        assert r.id.startswith("resp_mock_")
        assert r.output_text == "tok " * 3
        assert [item.type for item in r.output] == ["reasoning", "message"]
        assert r.usage.input_tokens == 12 + 4
        assert r.usage.input_tokens_details.cached_tokens == 4
        assert r.usage.output_tokens == 3 + 5
        assert r.usage.output_tokens_details.reasoning_tokens == 5
        assert r.usage.total_tokens == 16 + 8
    # The id is known to this mock: a follow-up may name it; an unknown one is refused.
    follow = oai.responses.create(model="gpt-mock", input="more", previous_response_id=resp.id)
    assert follow.previous_response_id == resp.id
    with pytest.raises(openai.BadRequestError) as refused:
        oai.responses.create(model="gpt-mock", input="more", previous_response_id="resp_elsewhere")
    assert refused.value.code == "previous_response_not_found"
    assert refused.value.param == "previous_response_id"


def test_responses_stream_with_text_then_tool_call(oai):
    model = "gpt-mock@output_tokens=4,text_before_tool,tool_calls=2"
    # The raw events, each validated; then the SDK's stream helper, which checks their order.
    raw = oai.responses.create(model=model, input="weather?", tools=[WEATHER_TOOL], stream=True)
    kinds = [STREAM_EVENT.validate_python(event.to_dict()).type for event in raw]
    with oai.responses.stream(model=model, input="weather?", tools=[WEATHER_TOOL]) as stream:
        assert [event.type for event in stream] == kinds
        final = stream.get_final_response()
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds.count("response.output_text.delta") == 4
    assert kinds.count("response.function_call_arguments.delta") == 4
    assert kinds[-1] == "response.completed"
    assert final.output_text == "tok " * 4
    calls = [item for item in final.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_weather"]
    assert [c.arguments for c in calls] == ['{"location":"Paris"}'] * 2
    assert len({c.call_id for c in calls}) == 2
    assert final.usage.output_tokens == 4


def test_responses_stream_cut_short_is_incomplete(oai):
    stream = oai.responses.create(model="gpt-mock@stop_reason=max_tokens,output_tokens=2", input="x", stream=True)
    events = list(stream)
    for event in events:
        STREAM_EVENT.validate_python(event.to_dict())
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.status == "incomplete"
    assert last.response.incomplete_details.reason == "max_output_tokens"
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_embeddings_float_and_base64(oai):
    # The SDK asks for base64 unless told otherwise, and decodes it to floats.
    decoded = oai.embeddings.create(model="emb-mock", input=["a", "b"], dimensions=5)
    floats = oai.embeddings.create(model="emb-mock", input=["a", "b"], dimensions=5, encoding_format="float")
    for reply in (decoded, floats):
        CreateEmbeddingResponse.model_validate(reply.to_dict())
        assert [e.index for e in reply.data] == [0, 1]
        for e in reply.data:
            assert e.embedding == [mock_value(e.index, d) for d in range(5)]
        assert reply.usage.prompt_tokens == 12
    raw = oai.embeddings.create(model="emb-mock@dimensions=3", input=[[1, 2, 3]], encoding_format="base64")
    packed = base64.b64decode(raw.data[0].embedding)
    assert list(struct.unpack("<3f", packed)) == [mock_value(0, d) for d in range(3)]
    counted = oai.embeddings.create(model="emb-mock@count_prompt", input=[[1, 2, 3], [4, 5]])
    assert counted.usage.prompt_tokens == 5


def test_anthropic_count_tokens(claude):
    count = claude.messages.count_tokens(
        model="claude-mock@input_tokens=321", messages=[{"role": "user", "content": "hello"}]
    )
    MessageTokensCount.model_validate(count.to_dict())
    assert count.input_tokens == 321
    with pytest.raises(anthropic.BadRequestError):
        claude.post("/v1/messages/count_tokens", body={"model": "claude-mock"}, cast_to=MessageTokensCount)


def test_anthropic_thinking_text_and_tool_stream(claude):
    with claude.messages.stream(
        model="claude-mock@thinking=3,output_tokens=2,text_before_tool,cache_read_tokens=7,cache_write_1h_tokens=2",
        max_tokens=1024,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[{"name": "get_weather", "input_schema": WEATHER_TOOL["parameters"]}],
    ) as stream:
        for event in stream:
            if event.type in ("message_start", "content_block_start", "content_block_delta", "message_delta"):
                ANTHROPIC_EVENT.validate_python(event.to_dict())
        final = stream.get_final_message()
    Message.model_validate(final.to_dict())
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[0].thinking == "hmm " * 3 and final.content[0].signature
    assert final.content[1].text == "tok " * 2
    assert final.content[2].input == {"location": "Paris"}
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 2 + 3
    assert final.usage.cache_read_input_tokens == 7
    assert final.usage.cache_creation_input_tokens == 2
