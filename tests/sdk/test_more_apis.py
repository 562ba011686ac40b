"""The official SDKs on the rest of the surface: OpenAI Responses (stream and not, and a
continuation), Embeddings (float and base64), Anthropic count_tokens — each metered (or not)
exactly as the mock reported, with the charge in the usage object."""

import anthropic
import openai
import pytest

from conftest import API_KEY
from test_sdk import buckets, usage_headers


@pytest.fixture()
def oai(stack):
    return openai.OpenAI(base_url=f"{stack.base}/v1", api_key=API_KEY, max_retries=0)


@pytest.fixture()
def claude(stack):
    return anthropic.Anthropic(base_url=stack.base, api_key=API_KEY, max_retries=0)


def extra(model, name):
    return (model.model_extra or {}).get(name)


def test_responses_non_stream_and_a_continuation(stack, oai):
    raw = oai.responses.with_raw_response.create(
        model="gpt-sdk",
        instructions="Be brief.",
        input="Say hi",
        extra_headers={**usage_headers(40, 6, cache_read=10), "x-mock-reasoning-tokens": "3"},
    )
    response = raw.parse()
    assert response.output_text == "tok " * 6
    # input_tokens includes the cached ones; output_tokens the reasoning ones.
    assert (response.usage.input_tokens, response.usage.input_tokens_details.cached_tokens) == (50, 10)
    assert response.usage.output_tokens == 9
    o = stack.outcome(raw.headers["x-request-id"])
    assert (o["api"], buckets(o)) == ("openai_responses", (40, 0, 0, 10, 9))
    assert extra(response.usage, "cost_microusdc") == o["buyer_cost_usdc"] > 0
    assert o["response_id"] == response.id

    follow = oai.responses.with_raw_response.create(
        model="gpt-sdk", previous_response_id=response.id, input="And again"
    )
    assert follow.parse().output_text
    assert stack.outcome(follow.headers["x-request-id"])["provider"] == o["provider"]


def test_responses_stream(stack, oai):
    with oai.responses.stream(
        model="gpt-sdk",
        input=[{"role": "user", "content": "Say hi"}],
        max_output_tokens=32,
        extra_headers=usage_headers(12, 4),
    ) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == "tok " * 4
    assert final.usage.output_tokens == 4
    o = next(x for x in stack.outcomes() if x.get("response_id") == final.id)
    assert buckets(o) == (12, 0, 0, 0, 4)
    assert extra(final.usage, "cost_microusdc") == o["buyer_cost_usdc"]


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings(stack, oai, encoding):
    raw = oai.embeddings.with_raw_response.create(
        model="embed-sdk",
        input=["first", "second"],
        encoding_format=encoding,
        dimensions=8,
        extra_headers={"x-mock-input-tokens": "30"},
    )
    result = raw.parse()
    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    assert result.usage.prompt_tokens == 30
    o = stack.outcome(raw.headers["x-request-id"])
    # 30 × 0.1 = 3 micro-USDC provider cost, ceil(3 / 0.7) = 5 for the buyer.
    assert (o["input_tokens"], o["output_tokens"], o["buyer_cost_usdc"]) == (30, 0, 5)
    assert extra(result.usage, "cost_microusdc") == 5


def test_count_tokens_is_unbilled(stack, claude):
    raw = claude.messages.with_raw_response.count_tokens(
        model="claude-sdk",
        system="Be brief.",
        messages=[{"role": "user", "content": "Count me"}],
        extra_headers={"x-mock-input-tokens": "77"},
    )
    assert raw.parse().input_tokens == 77
    o = stack.outcome(raw.headers["x-request-id"])
    assert (o["api"], o["buyer_cost_usdc"], o["status"]) == ("anthropic_count_tokens", 0, "completed")


def test_an_embedding_model_is_not_a_chat_model(stack, oai):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model="embed-sdk", messages=[{"role": "user", "content": "hi"}])
    assert "not served over the OpenAI Chat Completions" in e.value.response.json()["message"]
