"""`server.error_shape`: what the official SDKs make of the gateway's own errors in each shape —
the exception class (by status, the same in every shape), `e.status_code`, `e.body` and the
message. `tollgate` (the default) is the documented `{"error":"CODE","message"}`; `openai` and
`anthropic` are those APIs' shapes, for drop-in clients that read `e.code` / `e.type`.
"""

import anthropic
import openai
import pytest

from conftest import API_KEY, Stack

HELLO = [{"role": "user", "content": "Hello"}]
UNAUTHORIZED = "Missing or invalid API key (send Authorization: Bearer sk-… or x-api-key: sk-…)"


@pytest.fixture(scope="module", params=["tollgate", "openai", "anthropic"])
def shaped(request):
    # Two requests per minute (the 400 counts: limits apply before the body is read), so the
    # third call of the last test is a 429 from the gateway itself.
    s = Stack(
        server=f"  error_shape: {request.param}\n",
        extra="limits:\n  requests_per_minute: 2\n",
    ).start()
    yield request.param, s
    s.stop()


def oa(s: Stack, key: str = API_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{s.base}/v1", api_key=key, max_retries=0)


def an(s: Stack, key: str = API_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=s.base, api_key=key, max_retries=0)


def test_openai_sdk_reads_a_401(shaped):
    shape, s = shaped
    with pytest.raises(openai.AuthenticationError) as e:
        oa(s, "sk-wrong").chat.completions.create(model="gpt-sdk", messages=HELLO)
    e = e.value
    assert e.status_code == 401
    assert e.response.headers["x-request-id"].startswith("req_")
    if shape == "tollgate":
        # The SDK takes body["error"] (here the code, a string) and finds no message in it:
        # the gateway's words are lost. This is what `error_shape: openai` is for.
        assert e.body == "UNAUTHORIZED"
        assert (e.code, e.type) == (None, None)
        assert e.message == "Error code: 401"
    elif shape == "openai":
        assert e.body == {
            "message": UNAUTHORIZED,
            "type": "authentication_error",
            "code": "UNAUTHORIZED",
            "param": None,
        }
        assert (e.code, e.type) == ("UNAUTHORIZED", "authentication_error")
        assert e.message == f"Error code: 401 - {UNAUTHORIZED}"
    else:
        assert e.body == {"type": "authentication_error", "message": UNAUTHORIZED}
        assert (e.code, e.type) == (None, "authentication_error")
        assert e.message == f"Error code: 401 - {UNAUTHORIZED}"


def test_anthropic_sdk_reads_a_401(shaped):
    shape, s = shaped
    with pytest.raises(anthropic.AuthenticationError) as e:
        an(s, "sk-wrong").messages.create(model="claude-sdk", max_tokens=8, messages=HELLO)
    e = e.value
    assert e.status_code == 401
    # The Anthropic SDK keeps the whole body and reads `error.type` / `error.message` from it.
    assert e.message.startswith("Error code: 401 - {") and UNAUTHORIZED in e.message
    if shape == "tollgate":
        assert e.body == {"error": "UNAUTHORIZED", "message": UNAUTHORIZED}
        assert (e.type, e.api_message) == (None, None)
    elif shape == "openai":
        assert e.body["error"]["code"] == "UNAUTHORIZED"
        assert (e.type, e.api_message) == ("authentication_error", UNAUTHORIZED)
    else:
        assert e.body == {
            "type": "error",
            "error": {"type": "authentication_error", "message": UNAUTHORIZED},
        }
        assert (e.type, e.api_message) == ("authentication_error", UNAUTHORIZED)


def test_a_400_and_a_429_in_each_shape(shaped):
    shape, s = shaped
    client = oa(s)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="no-such-model", messages=HELLO, max_tokens=8)
    bad = bad.value
    assert bad.status_code == 400
    client.chat.completions.create(model="gpt-sdk", messages=HELLO, max_tokens=8)
    with pytest.raises(anthropic.RateLimitError) as limited:
        an(s).messages.create(model="claude-sdk", max_tokens=8, messages=HELLO)
    e = limited.value
    assert e.status_code == 429
    assert int(e.response.headers["retry-after"]) >= 1, "headers are the same in every shape"
    if shape == "tollgate":
        assert (bad.body, bad.message) == ("VALIDATION_ERROR", "Error code: 400")
        assert e.body == {"error": "RATE_LIMITED", "message": "Rate limit exceeded"}
    elif shape == "openai":
        assert (bad.type, bad.code) == ("invalid_request_error", "VALIDATION_ERROR")
        assert "no-such-model" in bad.message
        assert e.type == "rate_limit_error"
    else:
        assert bad.type == "invalid_request_error" and "no-such-model" in bad.message
        assert e.body == {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": "Rate limit exceeded"},
        }
