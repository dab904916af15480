"""Schemas others wrote: refused clearly at definition, bounded work, meaning kept."""

from __future__ import annotations

import json
import socket
from typing import Annotated, Any, Literal

import jsonschema
import pydantic
import pytest
import toolwire
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolwire._schemadoc import MAX_SCHEMA_DEPTH, MAX_SCHEMA_NODES, compile_validator
from toolwire._strict import STRICT_NODE_BUDGET
from toolwire.providers import strict_schema
from toolwire.providers.gemini import INLINE_NODE_BUDGET

from ..conftest import MakeDispatcher

PROVIDERS = ("openai-responses", "openai-chat", "anthropic", "gemini")


def _tool(schema: Any, name: str = "wild") -> toolwire.Tool:
    return toolwire.tool(name=name, schema=schema)(lambda **kwargs: kwargs)


def _nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    return schema


# -- refused clearly at definition -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("#/$defs/Missing", "'#/$defs/Missing' points to nothing in the schema"),
        ("invalid", "'invalid' is not local, and toolwire never fetches schemas"),
        ("https://example.com/s.json", "is not local, and toolwire never fetches schemas"),
        ("other.json#/$defs/A", "is not local, and toolwire never fetches schemas"),
    ],
)
def test_a_ref_that_does_not_resolve_here_is_refused_naming_the_tool(ref: str, says: str) -> None:
    """A $ref that points outside the schema, or to nothing in it, stops the definition."""
    schema = {"type": "object", "properties": {"a": {"$ref": ref}}}
    with pytest.raises(toolwire.ConfigError, match=r"^tool 'lookup': ") as raised:
        _tool(schema, "lookup")
    assert says in str(raised.value)
    assert "$defs" in str(raised.value)  # says what to write instead


def test_schemas_never_touch_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remote refs, remote $ids and unknown metaschemas are refused without a connection."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    for schema in (
        {"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}},
        {"$schema": "https://example.com/my-metaschema", "type": "object"},
        {"$id": "https://example.com/root.json", "type": "object",
         "properties": {"a": {"$ref": "a.json"}}},
        {"type": "object", "properties": {"a": {"$id": "https://example.com/a.json"}}},
    ):  # fmt: skip
        with pytest.raises(toolwire.ConfigError, match=r"^tool 'wild': "):
            _tool(schema)
    assert attempts == []


def test_the_validator_is_built_with_no_remote_retrieval() -> None:
    """Even handed a remote $ref directly, the validator builder refuses instead of fetching."""
    schema = {"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}}
    with pytest.raises(toolwire.ConfigError, match="toolwire does not fetch schemas"):
        compile_validator("wild", schema, {})


@pytest.mark.parametrize("levels", [200, 300])
def test_deep_schemas_are_refused_at_definition(levels: int) -> None:
    """200 and 300 nested objects are a ConfigError naming the limit, never a RecursionError."""
    with pytest.raises(toolwire.ConfigError) as raised:
        _tool(_nested(levels))
    assert f"nested more than {MAX_SCHEMA_DEPTH} levels deep" in str(raised.value)
    assert "move nested parts into $defs" in str(raised.value)


def test_a_schema_at_the_depth_limit_works_everywhere(make: MakeDispatcher) -> None:
    """The deepest schema allowed defines, describes for every provider and dispatches."""
    levels = (MAX_SCHEMA_DEPTH - 1) // 2  # each object level is two JSON levels
    tool = _tool(_nested(levels))
    dispatcher = make(tool)
    for provider in PROVIDERS:
        assert len(dispatcher.tool_definitions(provider)) == 1
    value: Any = "leaf"
    for _ in range(levels):
        value = {"x": value}
    assert dispatcher.dispatch_sync("wild", value).success


def _pack(*tools: toolwire.Tool) -> toolwire.Toolset:
    pack = toolwire.Toolset("wild")
    for tool in tools:
        pack.add(tool)
    return pack


def test_a_schema_over_the_node_limit_is_refused() -> None:
    """More values than the limit is a ConfigError that says how to shrink the schema."""
    properties = {f"p{i}": {"type": "string"} for i in range(MAX_SCHEMA_NODES // 2)}
    with pytest.raises(toolwire.ConfigError, match=f"more than {MAX_SCHEMA_NODES:,} values"):
        _tool({"type": "object", "properties": properties})


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ({"type": "object", "properties": {"a": {"type": "number", "minimum": float("nan")}}},
         "holds the number nan at properties.a.minimum, which is not JSON"),
        ({"type": "object", "properties": {"a": {"enum": [object()]}}},
         "holds a object at properties.a.enum[0], which is not JSON"),
        ({"type": "object", "properties": {1: {"type": "string"}}},
         "has a key that is not a string (1) at properties"),
    ],
)  # fmt: skip
def test_a_schema_that_is_not_json_is_refused_naming_the_place(schema: Any, says: str) -> None:
    """Values JSON cannot carry are named with their place in the schema."""
    with pytest.raises(toolwire.ConfigError, match=r"^tool 'wild': the schema ") as raised:
        _tool(schema)
    assert says in str(raised.value)


def test_required_naming_an_undeclared_property_is_sent_non_strict_with_a_note(
    make: MakeDispatcher,
) -> None:
    """The object stays open so the required key can be sent; strict mode is not claimed."""
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b"]}
    tool = _tool(schema)
    assert "additionalProperties" not in tool.parameters
    dispatcher = make(_pack(tool))
    assert dispatcher.dispatch_sync("wild", {"a": "x", "b": 1}).success
    refused = dispatcher.dispatch_sync("wild", {"a": "x"})
    assert refused.error is not None and "missing required argument 'b'" in refused.error.message
    (definition,) = dispatcher.tool_definitions("openai-responses")
    assert definition["strict"] is False
    assert dispatcher.tool_definition(dispatcher.provider("openai-responses"), tool).problems == (
        "not sent in strict mode: the root requires 'b', which it does not declare",
    )


_JUNK_SCHEMAS = st.recursive(
    st.one_of(
        st.sampled_from(
            [
                {"type": "string"}, {"type": "integer", "minimum": 2}, True, False, {},
                {"$ref": "#/$defs/A"}, {"$ref": "#/$defs/Missing"}, {"$ref": "#"},
                {"$ref": "https://example.com/x.json"}, {"$ref": "#/properties"},
                {"type": "string", "pattern": "(a+)+$"}, {"type": "string", "format": "int32"},
                {"$dynamicRef": "#meta"}, {"not": {"type": "null"}}, {"enum": []},
                {"type": "object", "required": ["ghost"]}, {"discriminator": {"propertyName": "k"}},
            ]
        )
    ),
    lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(["a", "b", "k"]), inner, max_size=3).map(
            lambda p: {"type": "object", "properties": p}
        ),
        st.lists(inner, min_size=1, max_size=3).map(lambda b: {"allOf": b}),
        st.lists(inner, min_size=1, max_size=3).map(lambda b: {"anyOf": b}),
        st.lists(inner, min_size=1, max_size=3).map(lambda b: {"oneOf": b}),
        st.tuples(inner, inner).map(lambda t: {"$ref": "#/$defs/A", "properties": {"z": t[0]}}),
        inner.map(lambda i: {"type": "array", "items": i}),
    ),
    max_leaves=8,
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=_JUNK_SCHEMAS,
    definition=_JUNK_SCHEMAS,
    calls=st.lists(
        st.dictionaries(st.sampled_from(["a", "b", "k", "z"]), st.sampled_from([1, "x", None, {}])),
        max_size=3,
    ),
)
def test_nothing_a_schema_holds_makes_definitions_or_dispatch_raise(
    body: Any, definition: Any, calls: list[dict[str, Any]]
) -> None:
    """Any schema is refused with a ConfigError at definition, or works everywhere after."""
    schema = {"type": "object", "properties": {"a": body}, "$defs": {"A": definition}}
    try:
        tool = _tool(schema)
    except toolwire.ConfigError as exc:
        refused = str(exc)
        assert refused.startswith("tool 'wild': "), refused
        return
    with toolwire.testing.make_dispatcher(_pack(tool)) as dispatcher:
        for provider in PROVIDERS:
            dispatcher.tool_definitions(provider)
        for call in calls:
            result = dispatcher.dispatch_sync("wild", call)
            assert result.success or result.error.kind == "invalid_arguments", result.output


# -- bounded work -------------------------------------------------------------------------------


def _doubling(levels: int, described: bool) -> dict[str, Any]:
    """Each level refers to the next twice: 2**levels copies once every $ref is expanded."""
    defs: dict[str, Any] = {f"L{levels}": {"type": "string"}}
    for i in reversed(range(levels)):
        refs = [{"$ref": f"#/$defs/L{i + 1}"} for _ in range(2)]
        if described:
            refs = [
                {**ref, "description": f"side {side}"} for side, ref in zip("lr", refs, strict=True)
            ]
        defs[f"L{i}"] = {"type": "object", "properties": {"l": refs[0], "r": refs[1]},
                         "required": ["l", "r"]}  # fmt: skip
    return {"type": "object", "properties": {"root": {"$ref": "#/$defs/L0"}},
            "required": ["root"], "$defs": defs}  # fmt: skip


def test_refs_that_expand_past_the_budget_stop_with_a_non_strict_definition_and_a_note() -> None:
    """A small schema whose $refs would expand into millions of nodes stops at the budget."""
    schema = _doubling(24, described=True)
    assert len(json.dumps(schema)) < 5_000
    tool = _tool(schema)
    strict, notes = strict_schema(tool.parameters)
    assert strict is None
    assert notes == (
        f"not sent in strict mode: rewriting it takes more than {STRICT_NODE_BUDGET:,} schema "
        "nodes (its $refs expand into too many copies)",
    )
    with toolwire.testing.make_dispatcher(_pack(tool)) as dispatcher:
        (openai,) = dispatcher.tool_definitions("openai-responses")
        assert openai["strict"] is False and openai["parameters"] == tool.parameters
        gemini = dispatcher.tool_definition(dispatcher.provider("gemini"), tool)
        assert gemini.problems == (
            f"gemini: sent with its $refs: inlining them takes more than {INLINE_NODE_BUDGET:,} "
            "schema nodes",
        )


def test_plain_refs_are_kept_as_references_in_strict_mode() -> None:
    """Without keywords beside them, $refs stay references: the strict schema stays small."""
    tool = _tool(_doubling(8, described=False))  # 9 levels of objects: within OpenAI's 10
    strict, notes = strict_schema(tool.parameters)
    assert strict is not None and notes == ()
    assert strict["properties"]["root"] == {"$ref": "#/$defs/L0"}
    assert strict["$defs"]["L3"]["properties"]["l"] == {"$ref": "#/$defs/L4"}
    assert len(json.dumps(strict)) < 3 * len(json.dumps(tool.parameters))


def test_definitions_are_built_once_per_tool_and_provider(make: MakeDispatcher) -> None:
    """A dispatcher builds each tool's definition once and hands back the same one after."""
    tool = _tool(_doubling(4, described=True))
    dispatcher = make(_pack(tool))
    for provider in PROVIDERS:
        shape = dispatcher.provider(provider)
        assert dispatcher.tool_definition(shape, tool) is dispatcher.tool_definition(shape, tool)


def _object_chain(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {"leaf": {"type": "string"}},
                              "required": ["leaf"]}  # fmt: skip
    for _ in range(levels - 1):
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    return schema


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        (_object_chain(11), "it nests objects 11 levels deep, past OpenAI's limit of 10"),
        ({"type": "object", "properties": {
            f"o{i}": {"type": "object", "properties": {f"p{j}": {"type": "integer"} for j in range(100)}}
            for i in range(50)}},
         "it has 5,050 object properties, past OpenAI's limit of 5,000"),
        ({"type": "object", "properties": {
            f"e{i}": {"enum": [f"v{j}" for j in range(250)]} for i in range(5)}},
         "it has 1,250 enum values, past OpenAI's limit of 1,000"),
        ({"type": "object", "properties": {"e": {"enum": [f"{j:03d}" + "x" * 57 for j in range(251)]}}},
         "an enum of 251 values totals 15,060 characters, past OpenAI's limit of 15,000 for enums "
         "over 250 values"),
        ({"type": "object", "properties": {
            f"c{i}": {"const": "y" * 2_000} for i in range(61)}},
         "its property names, definition names, enum and const values total 122,173 characters, "
         "past OpenAI's limit of 120,000"),
    ],
    ids=["nesting", "properties", "enum-values", "large-enum", "total-strings"],
)  # fmt: skip
def test_openai_strict_limits_give_a_non_strict_definition_and_a_note(
    schema: dict[str, Any], reason: str
) -> None:
    """Past OpenAI's documented strict-mode limits, the tool is sent non-strict, saying which."""
    strict, notes = strict_schema(_tool(schema).parameters)
    assert strict is None
    assert notes == (f"not sent in strict mode: {reason}",)


def test_ten_levels_of_objects_are_still_strict() -> None:
    """OpenAI's nesting limit is inclusive: ten levels of objects convert."""
    strict, notes = strict_schema(_tool(_object_chain(10)).parameters)
    assert strict is not None and notes == ()


# -- the meaning of a schema is kept ------------------------------------------------------------

ALL_OF = {
    "type": "object",
    "allOf": [
        {"properties": {"a": {"type": "string"}}, "required": ["a"]},
        {"properties": {"b": {"type": "integer"}}},
    ],
}


@pytest.mark.parametrize(
    ("call", "accepted"),
    [
        ({"a": "x", "b": 1}, True),
        ({"a": "x"}, True),
        ({"a": "x", "c": 1}, False),
        ({"b": 1}, False),
        ({"a": "x", "b": "one"}, False),
    ],
)
def test_closing_keeps_what_an_all_of_schema_accepts(call: dict[str, Any], accepted: bool) -> None:
    """The issue's allOf example: declared keys from every part pass, unknown keys do not."""
    tool = _tool(ALL_OF)
    assert tool.signature.validator.is_valid(call) is accepted
    strict, notes = strict_schema(tool.parameters)
    assert strict is not None and notes == ()
    as_strict = {"b": None, **call}
    assert jsonschema.Draft202012Validator(strict).is_valid(as_strict) is accepted


def test_all_of_is_merged_exactly_for_strict_mode() -> None:
    """The strict form of the allOf example is one closed object with both properties."""
    strict, _ = strict_schema(_tool(ALL_OF).parameters)
    assert strict == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": ["integer", "null"]}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }


REF_WITH_SIBLINGS = {
    "type": "object",
    "properties": {
        "owner": {"$ref": "#/$defs/Person", "properties": {"team": {"type": "string"}},
                  "required": ["team"], "description": "Who owns it."},
        "reviewer": {"$ref": "#/$defs/Person"},
    },
    "required": ["owner", "reviewer"],
    "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}},
                         "required": ["name"]}},
}  # fmt: skip


def test_a_ref_with_siblings_means_its_target_and_the_siblings_together() -> None:
    """The owner needs name and team; the plain reviewer stays closed to team."""
    validator = _tool(REF_WITH_SIBLINGS).signature.validator
    assert validator.is_valid({"owner": {"name": "A", "team": "T"}, "reviewer": {"name": "B"}})
    assert not validator.is_valid({"owner": {"name": "A"}, "reviewer": {"name": "B"}})
    assert not validator.is_valid(
        {"owner": {"name": "A", "team": "T", "x": 1}, "reviewer": {"name": "B"}}
    )
    assert not validator.is_valid(
        {"owner": {"name": "A", "team": "T"}, "reviewer": {"name": "B", "team": "T"}}
    )


def test_a_ref_with_siblings_is_merged_exactly_for_strict_mode() -> None:
    """Strict mode gets the merged object where the siblings are, and a plain $ref elsewhere."""
    strict, notes = strict_schema(_tool(REF_WITH_SIBLINGS).parameters)
    assert strict is not None and notes == ()
    assert strict["properties"]["owner"] == {
        "type": "object",
        "description": "Who owns it.",
        "properties": {"name": {"type": "string"}, "team": {"type": "string"}},
        "required": ["name", "team"],
        "additionalProperties": False,
    }
    assert strict["properties"]["reviewer"] == {"$ref": "#/$defs/Person"}
    assert strict["$defs"]["Person"]["additionalProperties"] is False


class Cat(pydantic.BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int = 9


class Dog(pydantic.BaseModel):
    kind: Literal["dog"] = "dog"
    bark: str


def _adopt(pet: Annotated[Cat | Dog, pydantic.Field(discriminator="kind")]) -> str:
    """Adopt a pet."""
    return type(pet).__name__


def test_a_discriminated_union_keeps_its_tag_required_and_non_null(make: MakeDispatcher) -> None:
    """The tag is required in every variant even with a default, and strict never makes it nullable."""
    tool = toolwire.tool(_adopt)
    for name in ("Cat", "Dog"):
        variant = tool.parameters["$defs"][name]
        assert "kind" in variant["required"]
    strict, notes = strict_schema(tool.parameters)
    assert strict is not None and notes == ()
    for name, tag in (("Cat", "cat"), ("Dog", "dog")):
        assert strict["$defs"][name]["properties"]["kind"] == {
            "const": tag, "type": "string", "description": f'Default: "{tag}".'
        }  # fmt: skip
    dispatcher = make(_pack(tool))
    assert (
        dispatcher.dispatch_sync("_adopt", {"pet": {"kind": "dog", "bark": "woof"}}).result == "Dog"
    )
    missing = dispatcher.dispatch_sync("_adopt", {"pet": {"lives": 3}})
    assert missing.error is not None
    assert (
        missing.error.message
        == "invalid arguments for _adopt: missing required argument 'kind' in pet"
    )


def test_the_validator_reports_the_variant_the_tag_picks(make: MakeDispatcher) -> None:
    """A call with a cat's tag is told what is wrong with it as a cat, not as a dog."""
    dispatcher = make(_pack(toolwire.tool(_adopt)))
    result = dispatcher.dispatch_sync("_adopt", {"pet": {"kind": "cat", "lives": "nine"}})
    assert result.error is not None
    assert result.error.message == (
        'invalid arguments for _adopt: pet.lives: expected integer, got a string ("nine")'
    )
    unknown = dispatcher.dispatch_sync("_adopt", {"pet": {"kind": "eel"}})
    assert unknown.error is not None
    assert (
        unknown.error.message
        == 'invalid arguments for _adopt: pet.kind: must be one of "cat", "dog", got "eel"'
    )


def test_strict_nulls_are_not_reported_as_problems(make: MakeDispatcher) -> None:
    """When strict mode's nulls for omitted optionals are dropped, only real problems are listed."""

    @toolwire.tool
    def book(city: str, nights: int = 1, note: str = "") -> str:
        """Book."""
        return city

    dispatcher = make(_pack(book))
    result = dispatcher.dispatch_sync("book", {"city": 5, "nights": None, "note": None})
    assert result.error is not None
    assert result.error.details is not None
    assert result.error.details["problems"] == ["city: expected string, got a number (5)"]


def test_notes_are_true_and_narrowing_keywords_reach_the_description() -> None:
    """Only enforced keywords are said to be enforced; minLength, format, pattern are described."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2, "description": "Who."},
            "size": {"type": "integer", "format": "int32"},
            "code": {"type": "string", "pattern": "^(?!x)[a-z]+$"},
            "flag": {"type": "boolean", "optional": True},
        },
        "required": ["name", "size", "code", "flag"],
    }
    strict, notes = strict_schema(_tool(schema).parameters)
    assert strict is not None
    props = strict["properties"]
    assert props["name"]["description"] == "Who.\n\nConstraints: minLength: 2."
    assert props["size"] == {"type": "integer", "description": 'Constraints: format: "int32".'}
    assert props["code"]["description"] == 'Constraints: pattern: "^(?!x)[a-z]+$".'
    assert notes == (
        "strict mode: dropped 'minLength' at properties.name (toolwire still enforces it; said in the description)",
        "strict mode: dropped format 'int32' at properties.size (not a format toolwire checks; said in the description)",
        "strict mode: dropped 'pattern' (lookaround or backreference) at properties.code (toolwire still enforces it; said in the description)",
        "strict mode: dropped unknown keyword 'optional' at properties.flag (not JSON Schema; nothing enforces it)",
    )


@pytest.mark.parametrize(
    ("draft", "schema", "call", "accepted"),
    [
        ("http://json-schema.org/draft-04/schema#",
         {"type": "object", "properties": {"n": {"type": "number", "minimum": 1,
                                                 "exclusiveMinimum": True}}},
         {"n": 1}, False),
        ("http://json-schema.org/draft-07/schema#",
         {"type": "object", "properties": {"pair": {"type": "array", "items": [{"type": "integer"}],
                                                    "additionalItems": False}}},
         {"pair": [1, 2]}, False),
        ("http://json-schema.org/draft-07/schema#",
         {"type": "object", "properties": {"p": {"$ref": "#/definitions/P", "type": "string"}},
          "definitions": {"P": {"type": "integer"}}},
         {"p": 3}, True),
    ],
)  # fmt: skip
def test_older_drafts_keep_their_meaning(
    draft: str, schema: dict[str, Any], call: dict[str, Any], accepted: bool
) -> None:
    """Draft-04/07 schemas (as MCP servers send them) are read as their own draft means them."""
    tool = _tool({"$schema": draft, **schema})
    assert "$schema" not in tool.parameters
    assert tool.signature.validator.is_valid(call) is accepted


@pytest.mark.parametrize(
    "defs",
    [
        {"A": {"$ref": "#/$defs/A"}},
        {"A": {"$ref": "#/$defs/B"}, "B": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]}},
        {"A": {"$ref": "#/$defs/A", "type": "object"}},
    ],
)
def test_references_that_loop_for_the_same_value_are_refused(defs: dict[str, Any]) -> None:
    """A $ref loop that never moves into the value would recurse forever at dispatch: refused
    at definition, naming the tool."""
    schema = {"type": "object", "$defs": defs, "properties": {"x": {"$ref": "#/$defs/A"}}}
    with pytest.raises(toolwire.ConfigError, match=r"tool 'looping'.*loop"):
        toolwire.tool(name="looping", schema=schema)(lambda **kw: None)


def test_alternatives_that_multiply_are_refused_and_recursion_into_the_value_is_not() -> None:
    """anyOf of refs to anyOf of refs (2^n subschemas for one value) is refused at definition;
    a tree that refers to itself through a property defines and dispatches."""
    defs: dict[str, Any] = {"D0": {"type": "string"}}
    for i in range(1, 20):
        defs[f"D{i}"] = {"anyOf": [{"$ref": f"#/$defs/D{i - 1}"}, {"$ref": f"#/$defs/D{i - 1}"}]}
    schema = {"type": "object", "$defs": defs, "properties": {"x": {"$ref": "#/$defs/D19"}}}
    with pytest.raises(toolwire.ConfigError, match="multiply"):
        toolwire.tool(name="exploding", schema=schema)(lambda **kw: None)
    tree = {
        "type": "object",
        "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
        "properties": {"root": {"$ref": "#/$defs/N"}},
    }
    tool = toolwire.tool(name="tree", schema=tree)(lambda **kw: "ok")
    with toolwire.Dispatcher().add(tool) as dispatcher:
        assert dispatcher.dispatch_sync("tree", {"root": {"next": {"next": {}}}}).success
        assert not dispatcher.dispatch_sync("tree", {"root": {"next": 3}}).success
