"""The ``gemini`` provider against google-genai's own types."""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import pydantic
import pytest
import toolwire
from google.genai import types
from toolwire import ToolCall
from toolwire.providers import GeminiProvider, ParsedResponse

from ..sdk_checks import answered_items, parse_sdk_response

provider = GeminiProvider()


def _parsed(load_fixture, name: str = "gemini") -> ParsedResponse:
    return parse_sdk_response(provider, types.GenerateContentResponse, load_fixture(name))


def test_function_call_parts_are_found_in_order(load_fixture):
    """Each functionCall part becomes a call with its args object and the id the API gave."""
    parsed = _parsed(load_fixture)
    assert [(p.call.name, p.call.call_id, p.call.arguments, p.incomplete)
            for p in parsed.calls] == [
        ("get_weather", "fc-7f3a9c1e", {"location": "Paris", "units": "celsius"}, None),
        ("get_weather", "fc-2b8d4e6f", {"location": "Tokyo"}, None),
    ]  # fmt: skip


def test_snake_case_dump_reads_the_same(load_fixture):
    """A google-genai object dumped without aliases (function_call) gives the same calls."""
    sdk_object = types.GenerateContentResponse.model_validate(load_fixture("gemini"))
    snake = sdk_object.model_dump(mode="json", exclude_none=True)
    assert "function_call" in snake["candidates"][0]["content"]["parts"][1]
    assert provider.detect(snake)
    assert provider.parse_response(snake).calls == _parsed(load_fixture).calls


def test_conversation_items_are_valid_contents(load_fixture, make_result):
    """The model content untouched, then one user content with a response part per call."""
    parsed = _parsed(load_fixture)
    items = answered_items(provider, parsed, make_result)

    contents = [types.Content.model_validate(item) for item in items]
    assert items[0] == load_fixture("gemini")["candidates"][0]["content"]
    assert contents[0].parts[1].thought_signature.startswith(b"\n$\x01signature")
    assert contents[1].role == "user"
    responses = [part.function_response for part in contents[1].parts]
    assert [(r.id, r.name) for r in responses] == [
        ("fc-7f3a9c1e", "get_weather"),
        ("fc-2b8d4e6f", "get_weather"),
    ]
    assert responses[0].response == {"output": {"t": 21}}
    assert responses[1].response == {
        "error": {"error": "execution_error", "message": "City not found", "retryable": False}
    }


def test_content_validation_refuses_a_wrong_shape():
    """The SDK check is real: a text response, or a misspelt key, is refused."""
    with pytest.raises(pydantic.ValidationError):
        types.Content.model_validate(
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": "text"}}]}
        )
    with pytest.raises(pydantic.ValidationError):
        types.Content.model_validate(
            {"role": "user", "parts": [{"functionResult": {"name": "f", "response": {}}}]}
        )


def test_max_tokens_flags_every_call(load_fixture):
    """With finishReason MAX_TOKENS the args may be cut off: each call is flagged incomplete."""
    parsed = _parsed(load_fixture, "gemini_max_tokens")
    assert [p.incomplete for p in parsed.calls] == ["finishReason MAX_TOKENS"]


def test_responses_carry_no_id_the_api_did_not_give(load_fixture, make_result):
    """A call without an id gets a response without one, whatever id the dispatcher assigned it."""
    parsed = _parsed(load_fixture, "gemini_max_tokens")
    assert parsed.calls[0].call.call_id == ""
    named = dataclasses.replace(parsed.calls[0].call, call_id="call_tw1")
    output = provider.format_result(named, make_result(named, True))
    items = provider.conversation_items(parsed, [output])
    content = types.Content.model_validate(items[1])
    assert content.parts[0].function_response.id is None
    assert content.parts[0].function_response.name == "get_weather"


def test_one_response_part_per_call(load_fixture, make_result):
    """The user content holds exactly as many response parts as the model made calls."""
    parsed = _parsed(load_fixture)
    outputs = [provider.format_result(p.call, make_result(p.call, True)) for p in parsed.calls]
    items = provider.conversation_items(parsed, outputs)
    assert len(items[1]["parts"]) == len(parsed.calls) == 2


def test_tool_definition_is_a_function_declaration(weather_tool):
    """A tool is a FunctionDeclaration whose parametersJsonSchema is the tool's own schema."""
    definition = provider.tool_definition(weather_tool)
    declaration = types.FunctionDeclaration.model_validate(definition.value)
    assert declaration.name == "get_weather"
    assert declaration.parameters_json_schema == weather_tool.parameters
    assert declaration.parameters is None
    types.Tool(function_declarations=[definition.value])
    assert definition.problems == ()


def test_tool_definition_validation_refuses_a_wrong_shape(weather_tool):
    """FunctionDeclaration refuses Anthropic's ``input_schema`` key."""
    value = dict(provider.tool_definition(weather_tool).value)
    value["input_schema"] = value.pop("parametersJsonSchema")
    with pytest.raises(pydantic.ValidationError):
        types.FunctionDeclaration.model_validate(value)


def test_error_text_that_is_not_json_is_sent_as_text():
    """An error output that is not JSON (a plugin's own text) still goes under "error"."""
    from toolwire import DispatchResult

    call = ToolCall("f", {}, "id1")
    result = DispatchResult(False, "id1", "f", output="plain failure")
    part = provider.format_result(call, result)
    assert part == {"functionResponse": {"name": "f", "response": {"error": "plain failure"},
                                         "id": "id1"}}  # fmt: skip


_WITH_REFS = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "home": {"$ref": "#/$defs/Place", "description": "Where you live."},
        "work": {"$ref": "#/$defs/Place", "properties": {"floor": {"type": "integer"}}},
        "trips": {"type": "array", "items": {"$ref": "#/$defs/Place"}},
    },
    "required": ["home"],
    "$defs": {
        "Place": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        }
    },
}


def _refs_in(node):
    text = json.dumps(node)
    return [key for key in ("$ref", "$defs", "$schema", "definitions") if f'"{key}"' in text]


def test_refs_defs_and_schema_are_inlined_for_gemini():
    """Gemini gets no $schema and no $ref/$defs, and the inlined schema accepts what the tool does."""
    tool = toolwire.tool(name="travel", schema=_WITH_REFS)(lambda **kwargs: kwargs)
    definition = provider.tool_definition(tool)
    declaration = types.FunctionDeclaration.model_validate(definition.value)
    inlined = declaration.parameters_json_schema
    assert _refs_in(inlined) == [] and definition.problems == ()
    assert inlined["properties"]["home"] == {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
        "additionalProperties": False, "description": "Where you live.",
    }  # fmt: skip
    original = jsonschema.Draft202012Validator(tool.parameters)
    sent = jsonschema.Draft202012Validator(inlined)
    for call in (
        {"home": {"city": "Oslo"}},
        {"home": {"city": "Oslo"}, "work": {"city": "Rome", "floor": 3}},
        {"home": {"city": "Oslo", "floor": 3}},
        {"home": {}},
        {"home": {"city": "Oslo"}, "trips": [{"city": "Paris"}, {"town": "Lyon"}]},
    ):
        assert original.is_valid(call) == sent.is_valid(call), call


class Place(pydantic.BaseModel):
    city: str


def test_a_pydantic_model_parameter_is_inlined(weather_tool):
    """Models, which pydantic describes through $defs, reach Gemini inlined."""

    @toolwire.tool
    def visit(place: Place, also: list[Place] | None = None) -> None:
        """Visit."""

    value = provider.tool_definition(visit).value
    assert _refs_in(value) == []
    assert value["parametersJsonSchema"]["properties"]["place"]["properties"] == {
        "city": {"type": "string"}
    }
    assert (
        provider.tool_definition(weather_tool).value["parametersJsonSchema"]
        is weather_tool.parameters
    )


def test_a_recursive_ref_is_kept_with_its_definition_and_noted():
    """A $ref that would inline forever stays, with only the definitions it needs, and a note."""
    schema = {
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/Node"}, "tag": {"$ref": "#/$defs/Tag"}},
        "$defs": {
            "Node": {"type": "object", "properties": {
                "label": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}},
            "Tag": {"type": "string"},
        },
    }  # fmt: skip
    tool = toolwire.tool(name="outline", schema=schema)(lambda **kwargs: kwargs)
    definition = provider.tool_definition(tool)
    value = definition.value["parametersJsonSchema"]
    assert value["properties"]["tag"] == {"type": "string"}
    assert value["properties"]["root"]["properties"]["children"]["items"] == {
        "$ref": "#/$defs/Node"
    }
    assert list(value["$defs"]) == ["Node"]
    assert definition.problems == (
        "gemini: the recursive $ref '#/$defs/Node' is sent as a $ref with its definition "
        "(a copy would never end); Gemini may refuse it",
    )
    types.FunctionDeclaration.model_validate(definition.value)
