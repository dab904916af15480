"""OpenAI strict-mode conversion, checked against jsonschema as the reference validator."""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

import jsonschema
import pytest
import toolwire
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field
from toolwire.providers import restore_omitted, strict_schema


class Address(BaseModel):
    street: str
    zip: str | None = None
    country: str = "FR"


class Guest(BaseModel):
    name: str
    age: Annotated[int, Field(ge=0)] = 30


class Node(BaseModel):
    label: str
    children: list[Node] = []


class Card(BaseModel):
    method: Literal["card"] = "card"
    number: str


class Transfer(BaseModel):
    method: Literal["transfer"] = "transfer"
    iban: str
    reference: str | None = None


def _weather(location: str, units: Literal["celsius", "fahrenheit"] = "celsius") -> None:
    """Weather."""


def _pay(
    amount: int,
    by: Annotated[Card | Transfer, Field(discriminator="method")],
    refund_to: Card | Transfer | None = None,
) -> None:
    """Pay: a discriminated union, and a plain union whose tags have defaults."""


def _booking(
    city: str,
    nights: Annotated[int, Field(ge=1)] = 1,
    guests: list[Guest] | None = None,
    address: Address | None = None,
    note: str | None = "none",
    flexible: bool = False,
    budget: float | None = None,
) -> None:
    """Book a stay.

    Args:
        city: Where.
        address: Billing address.
    """


def _outline(root: Node, depth: int = 2) -> None:
    """Outline a tree."""


_HAND_WRITTEN = {
    "type": "object",
    "properties": {
        "query": {"type": "string"},
        "filters": {
            "type": "object",
            "properties": {
                "kind": {"enum": ["a", "b"]},
                "exact": {"type": "boolean"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 5},
            },
            "required": ["kind"],
        },
        "mode": {"const": "fast"},
    },
    "required": ["query"],
}

TOOL_SCHEMAS = {
    "weather": toolwire.tool(_weather).parameters,
    "booking": toolwire.tool(_booking).parameters,
    "outline": toolwire.tool(_outline).parameters,
    "payment": toolwire.tool(_pay).parameters,
    "hand_written": toolwire.tool(_weather, name="search", schema=_HAND_WRITTEN).parameters,
}

# -- a small generator of argument objects, valid and not, from the tool's own schema --------

_JUNK = st.sampled_from([7, "text", 2.5, True, [], {}, {"x": 1}])


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        node = root if ref == "#" else root["$defs"][ref.rsplit("/", 1)[1]]
    return node


def _values(node: dict[str, Any], root: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    node = _resolve(node, root)
    if depth > 3:
        return _JUNK
    for key in ("anyOf", "oneOf"):
        if key in node:
            return st.one_of([_values(branch, root, depth + 1) for branch in node[key]])
    if "enum" in node:
        return st.one_of(st.sampled_from(node["enum"]), _JUNK)
    if "const" in node:
        return st.one_of(st.just(node["const"]), _JUNK)
    kind = node.get("type")
    valid: st.SearchStrategy[Any]
    if kind == "string":
        valid = st.text(max_size=3)
    elif kind == "integer":
        valid = st.integers(-2, 6)
    elif kind == "number":
        valid = st.one_of(st.integers(-2, 6), st.floats(-10, 10, allow_nan=False))
    elif kind == "boolean":
        valid = st.booleans()
    elif kind == "null":
        valid = st.none()
    elif kind == "array":
        valid = st.lists(_values(node["items"], root, depth + 1), max_size=2)
    else:
        valid = _objects(node, root, depth)
    return st.one_of(valid, _JUNK) if depth else valid


@st.composite
def _object_draw(draw: st.DrawFn, node: dict[str, Any], root: dict[str, Any], depth: int) -> Any:
    required = set(node.get("required", ()))
    out: dict[str, Any] = {}
    for name, sub in node["properties"].items():
        # Required keys are sometimes missing and optional ones often: both must agree.
        present = draw(st.booleans()) if name not in required else draw(st.integers(0, 9)) > 0
        if present:
            out[name] = draw(_values(sub, root, depth + 1))
    if draw(st.integers(0, 9)) == 0:
        out["unexpected"] = 1
    return out


def _objects(node: dict[str, Any], root: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    return _object_draw(node, root, depth)


def _fill(value: Any, node: dict[str, Any], root: dict[str, Any]) -> Any:
    """``value`` as strict mode sends it: every left-out optional key present as ``null``."""
    node = _resolve(node, root)
    if isinstance(value, dict):
        if "properties" not in node:
            branches = [_resolve(b, root) for b in node.get("anyOf", node.get("oneOf", []))]
            fitting = [b for b in branches if set(value) <= set(b.get("properties", {}))]
            # The variant the value's own tag names, if it names one.
            tagged = [
                b for b in fitting
                if any(value.get(k) == p.get("const") for k, p in b.get("properties", {}).items() if "const" in p)
            ]  # fmt: skip
            return _fill(value, (tagged or fitting)[0], root) if fitting else value
        props = node["properties"]
        out = {k: _fill(v, props[k], root) if k in props else v for k, v in value.items()}
        for name, sub in props.items():
            # A left-out optional: null, or a const's value (strict mode never makes it null).
            if name not in node.get("required", ()):
                out.setdefault(name, sub.get("const"))
        return out
    if isinstance(value, list) and "items" in node:
        return [_fill(v, node["items"], root) for v in value]
    if isinstance(value, list):
        arrays = [_resolve(b, root) for b in node.get("anyOf", []) if "items" in _resolve(b, root)]
        return [_fill(v, arrays[0]["items"], root) for v in value] if arrays else value
    return value


def _contains(big: Any, small: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            k in big and _contains(big[k], v) for k, v in small.items()
        )
    if isinstance(small, list):
        return (
            isinstance(big, list)
            and len(big) == len(small)
            and all(_contains(b, s) for b, s in zip(big, small, strict=True))
        )
    return big == small and type(big) is type(small)


@pytest.mark.parametrize("tool_name", sorted(TOOL_SCHEMAS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_strict_schema_accepts_what_the_original_accepts(tool_name, data):
    """jsonschema agrees on both schemas when strict gets a left-out optional as null."""
    original = TOOL_SCHEMAS[tool_name]
    strict, notes = strict_schema(original)
    assert strict is not None, notes
    arguments = data.draw(_objects(original, original, 0))
    as_strict = _fill(arguments, original, original)

    original_ok = jsonschema.Draft202012Validator(original).is_valid(arguments)
    strict_ok = jsonschema.Draft202012Validator(strict).is_valid(as_strict)
    assert original_ok == strict_ok, (arguments, as_strict)
    if original_ok:
        restored = restore_omitted(as_strict, original)
        assert jsonschema.Draft202012Validator(original).is_valid(restored)
        assert _contains(restored, arguments)


# -- the shape of the rewrite ----------------------------------------------------------------


def _objects_in(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            found.append(node)
        for value in node.values():
            found.extend(_objects_in(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_objects_in(value))
    return found


def _keys_in(node: Any) -> set[str]:
    """Every keyword used anywhere, property names aside."""
    keys: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    keys |= _keys_in(sub)
            else:
                keys.add(key)
                keys |= _keys_in(value)
    elif isinstance(node, list):
        for value in node:
            keys |= _keys_in(value)
    return keys


@pytest.mark.parametrize("tool_name", sorted(TOOL_SCHEMAS))
def test_every_object_is_closed_and_fully_required(tool_name):
    """Every object requires all its properties and is closed; no default is left."""
    strict, notes = strict_schema(TOOL_SCHEMAS[tool_name])
    assert strict is not None, notes
    jsonschema.Draft202012Validator.check_schema(strict)
    for node in _objects_in(strict):
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    assert "default" not in _keys_in(strict)


def test_the_design_example_converts_as_openai_expects():
    """Optional ``units`` becomes required and nullable, its default said in words."""
    strict, notes = strict_schema(TOOL_SCHEMAS["weather"])
    assert notes == ()
    assert strict == {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "units": {
                "description": 'Default: "celsius".',
                "anyOf": [{"enum": ["celsius", "fahrenheit"], "type": "string"}, {"type": "null"}],
            },
        },
        "required": ["location", "units"],
        "additionalProperties": False,
    }


def test_conversion_leaves_the_tool_schema_alone():
    """The tool's own schema is not modified by the conversion."""
    original = TOOL_SCHEMAS["booking"]
    before = copy.deepcopy(original)
    strict_schema(original)
    assert original == before


def test_a_ref_with_a_description_is_inlined():
    """Strict mode takes nothing beside a $ref, so a described $ref becomes its definition."""
    schema = {
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/Place", "description": "Where you live."}},
        "required": ["home"],
        "additionalProperties": False,
        "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"], "additionalProperties": False}},
    }  # fmt: skip
    strict, notes = strict_schema(schema)
    assert notes == ()
    assert strict is not None
    assert strict["properties"]["home"] == {
        "type": "object",
        "description": "Where you live.",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }


def test_a_recursive_model_keeps_its_ref():
    """A recursive definition stays a $ref into $defs, which strict mode supports."""
    strict, _ = strict_schema(TOOL_SCHEMAS["outline"])
    assert strict is not None
    children = strict["$defs"]["Node"]["properties"]["children"]
    assert children["items"] == {"$ref": "#/$defs/Node"}


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"type": "object", "properties": {"tags": {"type": "object",
          "additionalProperties": {"type": "string"}}}},
         "properties.tags accepts keys it does not list (additionalProperties)"),
        ({"type": "object", "properties": {"meta": {"type": "object"}}},
         "properties.meta is an object with no declared properties"),
        ({"type": "object", "properties": {"any": {}}},
         "properties.any accepts a value of any type"),
        ({"type": "object", "properties": {"x": {"type": "string", "not": {"const": "a"}}}},
         "properties.x uses 'not'"),
        ({"type": "object", "properties": {"pair": {"type": "array", "prefixItems": [
          {"type": "integer"}, {"type": "string"}]}}}, "properties.pair uses 'prefixItems'"),
        ({"type": "object", "properties": {"x": {"allOf": [{"type": "string", "pattern": "^a"},
                                                            {"pattern": "b$"}]}}},
         "properties.x combines two different 'pattern'"),
        ({"type": "object", "properties": {"x": {"allOf": [{"type": "string"}, {"type": "integer"}]}}},
         "properties.x combines types no value has"),
        ({"type": "object", "properties": {"x": {"$ref": "https://example.com/s.json"}}},
         "properties.x refers to 'https://example.com/s.json', which is not a schema object here"),
        ({"type": "object", "properties": {"x": {"type": "object", "properties": {"a": {"type": "string"}},
                                                 "required": ["a", "b"]}}},
         "properties.x requires 'b', which it does not declare"),
        ({"type": "object", "properties": {"items": {"type": "array"}}},
         "properties.items is an array without one items schema"),
        ({"anyOf": [{"type": "object"}, {"type": "string"}]},
         "the parameters schema must be a plain object schema"),
    ],
)  # fmt: skip
def test_unconvertible_schemas_are_reported_with_the_reason(schema, reason):
    """What strict mode cannot express is reported, naming where and why; nothing is sent strict."""
    strict, notes = strict_schema(schema)
    assert strict is None
    assert notes == (f"not sent in strict mode: {reason}",)


def test_unsupported_narrowing_keywords_are_dropped_with_a_note():
    """minLength, uniqueItems and unknown formats are dropped and listed; the rest converts."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "site": {"type": "string", "format": "uri"},
            "day": {"type": "string", "format": "date"},
        },
        "required": ["name", "tags", "site", "day"],
        "additionalProperties": False,
    }
    strict, notes = strict_schema(schema)
    assert strict is not None
    assert strict["properties"]["day"] == {"type": "string", "format": "date"}
    assert strict["properties"]["site"] == {
        "type": "string",
        "description": 'Constraints: format: "uri".',
    }
    assert strict["properties"]["name"]["description"] == "Constraints: minLength: 1."
    assert notes == (
        "strict mode: dropped 'minLength' at properties.name (toolwire still enforces it; said in the description)",
        "strict mode: dropped 'uniqueItems' at properties.tags (toolwire still enforces it; said in the description)",
        "strict mode: dropped format 'uri' at properties.site (toolwire still enforces it; said in the description)",
    )


def _strict_one_of(*types: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The strict form (and its notes) of an object whose one property is a oneOf of these types."""
    branches = [{"type": t} for t in types]
    schema = {"type": "object", "properties": {"v": {"oneOf": branches}}, "required": ["v"]}
    strict, notes = strict_schema({**schema, "additionalProperties": False})
    assert strict is not None
    return strict, notes


def test_one_of_is_sent_as_any_of_with_a_note():
    """oneOf becomes anyOf (strict mode has no oneOf), and the change is listed."""
    strict, notes = _strict_one_of("integer", "string")
    assert strict["properties"]["v"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert notes == ()  # integer and string never overlap: anyOf means the same


def test_one_of_whose_branches_overlap_is_sent_as_any_of_with_a_true_note():
    """oneOf over branches a value can match twice becomes anyOf, and the note says who enforces it."""
    _, notes = _strict_one_of("integer", "number")
    assert notes == (
        "strict mode: oneOf at properties.v sent as anyOf (toolwire still enforces that exactly one matches)",
    )


# -- restore_omitted --------------------------------------------------------------------------


def test_restore_without_nulls_returns_the_same_object():
    """Arguments holding no null are returned as they are: nothing to restore, nothing copied."""
    arguments = {"city": "Paris", "guests": [{"name": "Ada"}]}
    assert restore_omitted(arguments, TOOL_SCHEMAS["booking"]) is arguments


def test_restore_drops_stand_ins_at_every_depth_and_keeps_meant_nulls():
    """Nulls for non-nullable optionals go, nested too; a null the schema allows stays."""
    arguments = {
        "city": "Paris", "nights": None, "flexible": None, "note": None, "budget": None,
        "guests": [{"name": "Ada", "age": None}],
        "address": {"street": "1 rue", "zip": None, "country": None},
    }  # fmt: skip
    assert restore_omitted(arguments, TOOL_SCHEMAS["booking"]) == {
        "city": "Paris", "note": None, "budget": None,
        "guests": [{"name": "Ada"}],
        "address": {"street": "1 rue", "zip": None},
    }  # fmt: skip


def test_restore_keeps_a_null_for_a_required_parameter():
    """A null for a required parameter is left for validation to refuse, not hidden."""
    arguments = {"location": None}
    assert restore_omitted(arguments, TOOL_SCHEMAS["weather"]) == {"location": None}
