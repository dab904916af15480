"""Property names a provider refuses: renamed in that provider's definition only, at any depth,
and mapped back before validation when the model calls with the new names.

Every definition is checked with the official SDK's param types and every round trip goes
through the SDK's own response objects.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
import toolwire
from anthropic.types import Message, MessageParam, ToolParam
from google.genai import types as genai_types
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.responses import FunctionToolParam, Response, ResponseInputParam
from toolwire._names import RenamedArguments, safe_names
from toolwire.testing import build_response, schema_keys

from ..sdk_checks import sdk_validate

ANTHROPIC_RULE = re.compile(r"[a-zA-Z0-9_.-]{1,64}")
GEMINI_RULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

#: An OData-style operation as MCP servers generated from OpenAPI describe it.
ODATA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "$top": {"type": "integer", "minimum": 1, "maximum": 50, "description": "page size"},
        "$filter": {"type": "string"},
        "filter[status]": {"type": "string", "enum": ["open", "closed"]},
        "first-name": {"type": "string"},
        "query": {"type": "string"},
        "where": {"$ref": "#/$defs/Where"},
        "rows": {"type": "array", "items": {"$ref": "#/$defs/Row"}},
    },
    "required": ["filter[status]"],
    "$defs": {
        "Where": {
            "type": "object",
            "properties": {"@odata.type": {"type": "string"}, "field name": {"type": "string"}},
            "required": ["@odata.type"],
        },
        "Row": {"type": "object", "properties": {"$id": {"type": "integer"}}},
    },
}

SENT = {
    "$top": 5,
    "filter[status]": "open",
    "first-name": "Ada",
    "where": {"@odata.type": "#x.Person", "field name": "name"},
    "rows": [{"$id": 1}, {"$id": 2}],
}


@pytest.fixture
def received() -> list[dict[str, Any]]:
    """What the tool function was called with, call by call."""
    return []


@pytest.fixture
def dispatcher(received: list[dict[str, Any]]) -> toolwire.Dispatcher:
    """A dispatcher with the OData-style tool, which records the arguments it receives."""

    def search(**arguments: Any) -> str:
        received.append(arguments)
        return "ok"

    pack = toolwire.Toolset("odata")
    pack.add(toolwire.Tool(search, name="search", description="Search.", schema=ODATA))
    return toolwire.Dispatcher().add(pack)


def test_anthropic_definition_takes_only_keys_its_rule_allows(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """Every property key Anthropic's definition holds, at any depth, matches its rule; the
    ones it already takes (dots, dashes) keep their names; the SDK's ToolParam takes it."""
    (definition,) = dispatcher.tool_definitions("anthropic")
    sdk_validate(ToolParam, definition)
    keys = schema_keys(definition["input_schema"])
    assert all(ANTHROPIC_RULE.fullmatch(k) for k in keys), keys
    assert {"first-name", "query", "@odata.type"} - keys == {"@odata.type"}
    assert {"top", "filter", "filter_status", "odata_type", "field_name", "id"} <= keys
    assert definition["input_schema"]["required"] == ["filter_status"]
    assert definition["input_schema"]["$defs"]["Where"]["required"] == ["odata_type"]


def test_gemini_definition_takes_only_keys_its_rule_allows(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """Gemini's parameter-name rule (no dots, no dashes) holds for every key, inlined $defs
    included, and google-genai's FunctionDeclaration takes the definition."""
    (definition,) = dispatcher.tool_definitions("gemini")
    genai_types.FunctionDeclaration.model_validate(definition)
    keys = schema_keys(definition["parametersJsonSchema"])
    assert all(GEMINI_RULE.fullmatch(k) for k in keys), keys
    assert {"first_name", "odata_type", "filter_status"} <= keys


def test_openai_definitions_keep_the_tools_own_names(dispatcher: toolwire.Dispatcher) -> None:
    """OpenAI documents no rule for property names: both OpenAI definitions keep them as the
    tool has them, and the SDKs' param types take them."""
    (responses,) = dispatcher.tool_definitions("openai-responses")
    sdk_validate(FunctionToolParam, responses)
    (chat,) = dispatcher.tool_definitions("openai-chat")
    sdk_validate(ChatCompletionToolParam, chat)
    for parameters in (responses["parameters"], chat["function"]["parameters"]):
        assert {"$top", "filter[status]", "first-name", "@odata.type", "$id"} <= schema_keys(
            parameters
        )


def _as_defined(value: Any, names: dict[str, str]) -> Any:
    """``value`` with each key spelt as the definition spells it (``names``: old -> new)."""
    if isinstance(value, dict):
        return {names.get(k, k): _as_defined(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_defined(v, names) for v in value]
    return value


def _names_in(definition_schema: dict[str, Any]) -> dict[str, str]:
    """Old -> new, read off a definition by position against the tool's own schema."""
    names: dict[str, str] = {}
    for old, new in zip(ODATA["properties"], definition_schema["properties"], strict=True):
        names[old] = new
    where = (
        definition_schema.get("$defs", {}).get("Where")
        or definition_schema["properties"][names["where"]]
    )
    for old, new in zip(ODATA["$defs"]["Where"]["properties"], where["properties"], strict=True):
        names[old] = new
    rows = (
        definition_schema.get("$defs", {}).get("Row")
        or definition_schema["properties"][names["rows"]]["items"]
    )
    names["$id"] = next(iter(rows["properties"]))
    return names


@pytest.mark.parametrize(
    ("provider", "sdk_response", "item_type", "schema_of"),
    [
        ("anthropic", Message, MessageParam, lambda d: d["input_schema"]),
        ("gemini", genai_types.GenerateContentResponse, None, lambda d: d["parametersJsonSchema"]),
        ("openai-responses", Response, None, lambda d: d["parameters"]),
        ("openai-chat", ChatCompletion, ChatCompletionMessageParam, lambda d: d["function"]["parameters"]),
    ],
)  # fmt: skip
def test_a_call_with_the_definitions_names_reaches_the_tool_under_its_own(
    dispatcher: toolwire.Dispatcher,
    received: list[dict[str, Any]],
    provider: str,
    sdk_response: Any,
    item_type: Any,
    schema_of: Any,
) -> None:
    """The model calls with the names its provider's definition gave (renamed or not), through
    the SDK's own response object: the tool receives its own names, nested ones included,
    and the conversation items validate with the SDK's types."""
    (definition,) = dispatcher.tool_definitions(provider)
    names = _names_in(schema_of(definition))
    arguments = _as_defined(SENT, names)
    if provider.startswith("openai"):
        assert arguments == SENT  # nothing renamed there
    else:
        assert arguments != SENT
    response = sdk_response.model_validate(build_response(provider, [("search", arguments)]))
    items = asyncio.run(dispatcher.process_response(response))
    assert received == [SENT]
    if provider == "openai-responses":
        sdk_validate(ResponseInputParam, items)
        assert items[-1]["output"] == "ok"
    elif provider == "gemini":
        for item in items:
            genai_types.Content.model_validate(item)
    else:
        for item in items:
            sdk_validate(item_type, item)


def test_the_mapping_is_per_route_and_needs_no_provider(
    dispatcher: toolwire.Dispatcher, received: list[dict[str, Any]]
) -> None:
    """dispatch() knows no provider: new names from either renaming provider are mapped back,
    and the tool's own names still work as they are."""
    gemini_style = {"top": 2, "filter_status": "closed", "first_name": "Bo"}
    anthropic_style = {"top": 3, "filter_status": "open", "first-name": "Cy"}
    own = {"$top": 4, "filter[status]": "open", "first-name": "Di"}
    for arguments in (gemini_style, anthropic_style, own):
        result = dispatcher.dispatch_sync("search", arguments)
        assert result.success, result.output
    assert received == [
        {"$top": 2, "filter[status]": "closed", "first-name": "Bo"},
        {"$top": 3, "filter[status]": "open", "first-name": "Cy"},
        own,
    ]


def test_a_key_sent_under_both_names_is_not_overwritten(dispatcher: toolwire.Dispatcher) -> None:
    """An object holding the original key and its new name keeps both, for the validator to
    refuse: a mapping never silently drops one of two values."""
    result = dispatcher.dispatch_sync(
        "search", {"filter[status]": "open", "filter_status": "closed"}
    )
    assert result.error is not None and result.error.kind == "invalid_arguments"
    assert "filter_status" in result.error.message


def test_errors_name_the_bound_after_mapping_back(dispatcher: toolwire.Dispatcher) -> None:
    """A renamed argument out of bounds is judged against the tool's own schema: the message
    names the path and the bound, never a crash or a silent pass."""
    result = dispatcher.dispatch_sync("search", {"top": 99, "filter_status": "open"})
    assert result.error is not None and result.error.kind == "invalid_arguments"
    assert "$top" in result.error.message and "50" in result.error.message


def test_new_names_are_deterministic_and_collision_free() -> None:
    """Names that clean up alike, or clash with a declared name, each get their own new name,
    never one the schema already uses; the same schema in another order gives the same."""
    props = [
        "$top",
        "top",
        "filter[status]",
        "filter(status)",
        "filter_status",
        "",
        "9x",
        "x" * 70 + "!",
    ]
    schema = {"type": "object", "properties": {p: {"type": "string"} for p in props}}
    names = safe_names(schema, [GEMINI_RULE])
    assert set(names) == {"$top", "filter[status]", "filter(status)", "", "9x", "x" * 70 + "!"}
    assert len(set(names.values())) == len(names)
    assert not set(names.values()) & set(props)
    assert all(GEMINI_RULE.fullmatch(n) and ANTHROPIC_RULE.fullmatch(n) for n in names.values())
    assert names["9x"] == "_9x"
    backwards = {"type": "object", "properties": {p: {"type": "string"} for p in reversed(props)}}
    assert safe_names(backwards, [GEMINI_RULE]) == names
    assert safe_names(schema, []) == {}


def test_a_call_without_new_names_is_not_walked(
    dispatcher: toolwire.Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renaming is decided at start: for a tool renamed only at the top level, a call that
    uses no new name is validated without looking through its arguments."""
    import toolwire._names as names

    def flat() -> toolwire.Dispatcher:
        pack = toolwire.Toolset("flat")

        def page(**arguments: Any) -> dict[str, Any]:
            return arguments

        schema = {"type": "object", "properties": {"$top": {"type": "integer"}, "q": {}}}
        pack.add(toolwire.Tool(page, name="page", schema=schema))
        return toolwire.Dispatcher().add(pack)

    flat_dispatcher = flat()
    flat_dispatcher.tool_definitions("anthropic")  # starts it: the map is made now
    route = flat_dispatcher._ready().routes["page"]
    assert isinstance(route.validator, RenamedArguments)
    assert dict(route.renamed) == {"$top": "top"}

    def walked(*_: Any) -> Any:
        raise AssertionError("a call without a new name was walked")

    monkeypatch.setattr(names, "originals", walked)
    assert flat_dispatcher.dispatch_sync("page", {"$top": 1, "q": "a"}).success
    with pytest.raises(AssertionError):
        names.originals({}, {})
    assert not flat_dispatcher.dispatch_sync("page", {"top": 1}).success  # walked: refused


def test_tools_with_plain_names_keep_the_plain_validator() -> None:
    """A tool whose names every provider takes has no map and the plain validator: nothing
    is added to its calls."""

    @toolwire.tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    dispatcher = toolwire.Dispatcher().add(add)
    assert dispatcher.dispatch_sync("add", {"a": 1, "b": 2}).output == "3"
    route = dispatcher._ready().routes["add"]
    assert not route.renamed and type(route.validator) is not RenamedArguments


def test_a_provider_plugin_with_its_own_rule_gets_its_own_renames() -> None:
    """A provider that declares ``property_names`` has the keys it refuses renamed in its
    definitions; the built-in ones are unaffected by its rule."""
    from toolwire.providers import OpenAIChatProvider

    class Strict(OpenAIChatProvider):
        name = "no-dots"
        property_names = re.compile(r"[A-Za-z0-9_-]{1,64}")

    class Plugin:
        @toolwire.hookimpl
        def toolwire_register_providers(self, register: Any) -> None:
            register(Strict())

    def find(**arguments: Any) -> Any:
        return arguments

    schema = {"type": "object", "properties": {"user.name": {"type": "string"}}}
    pack = toolwire.Toolset("people")
    pack.add(toolwire.Tool(find, name="find", schema=schema))
    dispatcher = toolwire.Dispatcher().add(pack).add(Plugin())
    (strict,) = dispatcher.tool_definitions("no-dots")
    (anthropic,) = dispatcher.tool_definitions("anthropic")
    assert list(strict["function"]["parameters"]["properties"]) == ["user_name"]
    assert list(anthropic["input_schema"]["properties"]) == ["user.name"]
    result = dispatcher.dispatch_sync("find", {"user_name": "ada"})
    assert json.loads(result.output) == {"user.name": "ada"}
