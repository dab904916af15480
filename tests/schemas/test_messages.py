"""invalid_arguments messages the model can act on: the path, what the schema allows, what was sent."""

from __future__ import annotations

from typing import Any

import pytest
import toolwire

from ..conftest import MakeDispatcher


def _refused(make: MakeDispatcher, schema: dict[str, Any], call: dict[str, Any]) -> list[str]:
    tool = toolwire.tool(name="probe", schema={"type": "object", **schema})(lambda **kw: kw)
    result = make(tool).dispatch_sync("probe", call)
    assert result.error is not None and result.error.kind == "invalid_arguments", result.output
    assert result.error.details is not None
    problems: list[str] = result.error.details["problems"]
    assert all("\n" not in p for p in problems)
    return problems


def _p(schema: dict[str, Any]) -> dict[str, Any]:
    return {"properties": {"x": schema}}


KEYWORDS = [
    ("minimum", _p({"type": "integer", "minimum": 1}), {"x": 0}, "x: must be at least 1, got 0"),
    ("maximum", _p({"type": "integer", "maximum": 30}), {"x": 45}, "x: must be at most 30, got 45"),
    ("exclusiveMinimum", _p({"exclusiveMinimum": 0}), {"x": 0}, "x: must be greater than 0, got 0"),
    ("exclusiveMaximum", _p({"exclusiveMaximum": 1.5}), {"x": 2}, "x: must be less than 1.5, got 2"),
    ("multipleOf", _p({"multipleOf": 5}), {"x": 7}, "x: must be a multiple of 5, got 7"),
    ("minLength", _p({"minLength": 3}), {"x": "ab"},
     'x: must be at least 3 characters long, got "ab" (2 characters)'),
    ("maxLength", _p({"maxLength": 2}), {"x": "a" * 50},
     f'x: must be at most 2 characters long, got "{"a" * 40}…" (50 characters)'),
    ("minItems", _p({"type": "array", "minItems": 2}), {"x": [1]},
     "x: must have at least 2 items, got 1 item"),
    ("maxItems", _p({"type": "array", "maxItems": 1}), {"x": [1, 2, 3]},
     "x: must have at most 1 item, got 3 items"),
    ("minProperties", _p({"type": "object", "minProperties": 1}), {"x": {}},
     "x: must have at least 1 key, got 0 keys"),
    ("maxProperties", _p({"type": "object", "maxProperties": 1}), {"x": {"a": 1, "b": 2}},
     "x: must have at most 1 key, got 2 keys"),
    ("enum", _p({"enum": ["celsius", "fahrenheit"]}), {"x": "kelvin"},
     'x: must be one of "celsius", "fahrenheit", got "kelvin"'),
    ("enum-long", _p({"enum": list(range(20))}), {"x": 99},
     "x: must be one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 (+8 more), got 99"),
    ("const", _p({"const": "fast"}), {"x": "slow"}, 'x: must be "fast", got "slow"'),
    ("pattern", _p({"type": "string", "pattern": "^[A-Z]{3}$"}), {"x": "abc"},
     'x: must match the pattern ^[A-Z]{3}$, got "abc"'),
    ("type", _p({"type": "integer"}), {"x": "two"}, 'x: expected integer, got a string ("two")'),
    ("types", {**_p({"type": ["string", "integer"]}), "required": ["x"]}, {"x": None},
     "x: expected integer or string, got null"),
    ("format", _p({"type": "string", "format": "email"}), {"x": "nobody"},
     'x: must be a valid email, got "nobody"'),
    ("required", {"properties": {"a": {}}, "required": ["a"]}, {}, "missing required argument 'a'"),
    ("additionalProperties", {"properties": {"city": {}}}, {"citi": 1},
     "unknown argument(s) 'citi'; accepted: city (did you mean 'citi' -> 'city'?)"),
    ("additionalProperties-nested",
     _p({"type": "object", "properties": {"name": {}}, "additionalProperties": False}),
     {"x": {"nmae": 1}},
     "unknown argument(s) 'nmae' in x; accepted: name (did you mean 'nmae' -> 'name'?)"),
    ("uniqueItems", _p({"type": "array", "uniqueItems": True}), {"x": [1, 2, 1.0]},
     "x: must hold unique items, got [0] and [2] equal"),
    ("contains", _p({"type": "array", "contains": {"type": "integer"}}), {"x": ["a"]},
     'x: must hold at least 1 item matching {"type":"integer"}, got ["a"]'),
    ("minContains", _p({"type": "array", "contains": {"const": 1}, "minContains": 2}),
     {"x": [1]}, 'x: must hold at least 2 items matching {"const":1}, got [1]'),
    ("maxContains", _p({"type": "array", "contains": {"const": 1}, "maxContains": 1}),
     {"x": [1, 1]}, 'x: must hold at most 1 item matching {"const":1}, got [1,1]'),
    ("propertyNames", _p({"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}}),
     {"x": {"Bad": 1}}, 'x: every key must match the pattern ^[a-z]+$, got the key "Bad"'),
    ("not", {**_p({"not": {"type": "null"}}), "required": ["x"]}, {"x": None},
     'x: must not match the schema {"type":"null"}, got null'),
    ("false", _p(False), {"x": 1},  # type: ignore[arg-type]
     "x: is not allowed here (the schema accepts no value at this place), got 1"),
    ("dependentRequired", {"properties": {"a": {}, "b": {}}, "dependentRequired": {"a": ["b"]}},
     {"a": 1}, "missing required argument 'b' (required when 'a' is sent)"),
    ("dependentSchemas",
     {"properties": {"a": {}, "c": {}}, "dependentSchemas": {"a": {"required": ["c"]}}},
     {"a": 1}, "missing required argument 'c' (required when 'a' is sent)"),
    ("anyOf", _p({"anyOf": [{"type": "integer"}, {"type": "string", "minLength": 3}]}),
     {"x": "a"},
     'x: matches none of the 2 accepted shapes: (1) expected integer; (2) must be at least '
     '3 characters long; got "a"'),
    ("oneOf-many", _p({"oneOf": [{"type": "integer"}, {"minimum": 0}]}), {"x": 3},
     "x: matches more than one of the accepted shapes (shapes 1, 2); make it match exactly one"),
    ("prefixItems", _p({"type": "array", "prefixItems": [{"type": "integer"}],
                        "unevaluatedItems": False}), {"x": [1, 2]},
     "x: holds more items than the schema describes, got 2 items"),
    ("if-then", _p({"if": {"type": "integer"}, "then": {"minimum": 3}}), {"x": 1},
     "x: must be at least 3, got 1"),
    ("nested-path", {"properties": {"a.b": {"type": "array", "items": {"type": "integer"}}}},
     {"a.b": [1, "2"]}, '["a.b"][1]: expected integer, got a string ("2")'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "call", "line"), [k[1:] for k in KEYWORDS], ids=[k[0] for k in KEYWORDS]
)
def test_each_keyword_says_what_the_schema_allows_and_what_was_sent(
    make: MakeDispatcher, schema: dict[str, Any], call: dict[str, Any], line: str
) -> None:
    """Every keyword the validator reports reads as one line: path, the rule's value, what was sent."""
    assert _refused(make, schema, call) == [line]


def test_several_problems_read_one_per_line(make: MakeDispatcher) -> None:
    """Two problems make a header and two lines; one problem stays on one line."""
    tool = toolwire.tool(
        name="stay",
        schema={"type": "object", "properties": {"days": {"type": "integer", "maximum": 30},
                                                 "city": {"type": "string"}},
                "required": ["city"]},
    )(lambda **kw: kw)  # fmt: skip
    dispatcher = make(tool)
    both = dispatcher.dispatch_sync("stay", {"days": 45})
    assert both.error is not None
    assert both.error.message == (
        "invalid arguments for stay (2 problems):\n"
        "- days: must be at most 30, got 45\n"
        "- missing required argument 'city'"
    )
    one = dispatcher.dispatch_sync("stay", {"city": "Oslo", "days": 31})
    assert one.error is not None
    assert one.error.message == "invalid arguments for stay: days: must be at most 30, got 31"


@pytest.mark.parametrize(
    ("schema", "call"),
    [
        (_p({"type": "object", "properties": {"api_token": {"type": "integer"}}}),
         {"x": {"api_token": "tok-9f8e7d"}}),
        ({"properties": {"password": {"minLength": 20}}}, {"password": "hunter2-pw"}),
        ({"properties": {"password": {"pattern": "^[0-9]+$"}}}, {"password": "hunter2-pw"}),
        ({"properties": {"password": {"enum": ["a"]}}}, {"password": "hunter2-pw"}),
        (_p({"type": "string"}), {"x": {"nested": {"Authorization": "Bearer zz-top"}}}),
        (_p({"anyOf": [{"type": "integer"}, {"type": "null"}]}), {"x": {"secret": "shh-s3cret"}}),
    ],
)  # fmt: skip
def test_a_value_under_a_redacted_name_is_never_shown(
    make: MakeDispatcher, schema: dict[str, Any], call: dict[str, Any]
) -> None:
    """The [logging] redact names hide a value whose key holds one, and one inside what is shown."""
    problems = _refused(make, schema, call)
    text = " ".join(problems)
    for secret in ("tok-9f8e7d", "hunter2-pw", "zz-top", "shh-s3cret"):
        assert secret not in text
    assert "[redacted]" in text


def test_a_redact_list_from_the_config_is_the_one_used(make: MakeDispatcher) -> None:
    """An operator's own redact name hides its values too."""
    tool = toolwire.tool(name="card", schema={"type": "object", "properties": {
        "card_pin": {"type": "integer"}, "city": {"type": "integer"}}})(lambda **kw: kw)  # fmt: skip
    dispatcher = make(tool, config={"logging": {"redact": ["pin"]}})
    result = dispatcher.dispatch_sync("card", {"card_pin": "4321-x", "city": "Oslo"})
    assert result.error is not None and result.error.details is not None
    assert result.error.details["problems"] == [
        "card_pin: expected integer, got a string ([redacted])",
        'city: expected integer, got a string ("Oslo")',
    ]


def test_a_declared_key_of_the_wrong_type_under_all_of_is_not_also_unknown(
    make: MakeDispatcher,
) -> None:
    """Under allOf, a declared key with a wrong value is reported for its value, never as unknown."""
    schema = {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]},
                        {"properties": {"b": {"type": "integer"}}}]}  # fmt: skip
    assert _refused(make, schema, {"a": "x", "b": "one"}) == [
        'b: expected integer, got a string ("one")'
    ]
    assert _refused(make, schema, {"a": "x", "c": 1}) == ["unknown argument(s) 'c'; accepted: a, b"]


def test_text_that_could_break_a_line_is_escaped(make: MakeDispatcher) -> None:
    """A value holding a line separator stays on its line: the message has one line per problem."""
    problems = _refused(make, _p({"type": "integer"}), {"x": "a\u2028b\nc"})
    assert problems == ['x: expected integer, got a string ("a\\u2028b\\nc")']
