"""Detection and ``to_plain``: each SDK response is recognised by exactly one built-in provider."""

from __future__ import annotations

import anthropic.types
import openai.types.chat
import openai.types.responses
import pytest
from google.genai import types as genai_types
from toolwire.providers import Provider, builtin_providers, to_plain

CASES = [
    ("openai_responses", openai.types.responses.Response, "openai-responses"),
    ("openai_responses_incomplete", openai.types.responses.Response, "openai-responses"),
    ("openai_chat", openai.types.chat.ChatCompletion, "openai-chat"),
    ("openai_chat_length", openai.types.chat.ChatCompletion, "openai-chat"),
    ("anthropic", anthropic.types.Message, "anthropic"),
    ("anthropic_max_tokens", anthropic.types.Message, "anthropic"),
    ("gemini", genai_types.GenerateContentResponse, "gemini"),
    ("gemini_max_tokens", genai_types.GenerateContentResponse, "gemini"),
]


@pytest.mark.parametrize(("fixture", "sdk_type", "expected"), CASES)
def test_exactly_one_provider_detects_each_response(load_fixture, fixture, sdk_type, expected):
    """The SDK object, made plain, is recognised by its own provider and by no other."""
    plain = to_plain(sdk_type.model_validate(load_fixture(fixture)))
    assert [p.name for p in builtin_providers() if p.detect(plain)] == [expected]


@pytest.mark.parametrize(("fixture", "sdk_type", "expected"), CASES)
def test_to_plain_gives_back_the_api_json(load_fixture, fixture, sdk_type, expected):
    """An SDK object built from the API's JSON is dumped back to exactly that JSON."""
    data = load_fixture(fixture)
    assert to_plain(sdk_type.model_validate(data)) == data


def test_to_plain_passes_mappings_through():
    """A dict is already plain: it is returned as it is, not copied."""
    data = {"object": "response", "output": []}
    assert to_plain(data) is data


def test_to_plain_refuses_other_objects():
    """Something that is neither a mapping nor a pydantic model is a host mistake, said plainly."""
    with pytest.raises(TypeError, match="cannot read a model response from list"):
        to_plain([1, 2])


@pytest.mark.parametrize(
    "response",
    [
        {"object": "chat.completion.chunk", "choices": []},
        {"object": "list", "data": []},
        {"type": "message", "role": "user", "content": []},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        {},
    ],
)
def test_other_json_is_recognised_by_no_provider(response):
    """Streaming chunks, other endpoints' objects and errors match no provider."""
    assert [p.name for p in builtin_providers() if p.detect(response)] == []


def test_a_blocked_gemini_prompt_is_still_gemini():
    """A response with only prompt feedback (a blocked prompt) is Gemini's, with no calls."""
    response = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}}
    providers = [p for p in builtin_providers() if p.detect(response)]
    assert [p.name for p in providers] == ["gemini"]
    parsed = providers[0].parse_response(response)
    assert parsed.calls == []
    assert providers[0].conversation_items(parsed, []) == []


def test_builtin_providers_are_fresh_named_providers():
    """Each call gives new instances of the four built-in providers, in a fixed order."""
    first, second = builtin_providers(), builtin_providers()
    assert [p.name for p in first] == ["openai-responses", "openai-chat", "anthropic", "gemini"]
    assert all(isinstance(p, Provider) for p in first)
    assert all(a is not b for a, b in zip(first, second, strict=True))
