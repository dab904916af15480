"""The validator and the strict definition agree, class by class, on generated schemas and calls."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
import toolwire
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from toolwire._arguments import ArgumentsValidator
from toolwire.providers import restore_omitted, strict_schema

from ._agreement import SCHEMA_CLASSES, drawing, fill, mutations
from .test_strict_peers import assert_well_formed


def _tool(schema: dict[str, Any]) -> toolwire.Tool:
    return toolwire.tool(name="generated", schema=schema)(lambda **kwargs: kwargs)


@pytest.mark.parametrize("schema_class", sorted(SCHEMA_CLASSES))
@drawing(max_examples=40)
@given(data=st.data())
def test_validator_and_strict_schema_accept_the_same_calls(schema_class: str, data: Any) -> None:
    """A call the tool's validator accepts is one strict mode can send, and the other way round."""
    given_schema = data.draw(SCHEMA_CLASSES[schema_class], label="schema")
    tool = _tool(given_schema)
    parameters = tool.parameters
    strict, notes = strict_schema(parameters)
    assert strict is not None, notes
    assert notes == () or all("oneOf" in note for note in notes), notes
    assert_well_formed(strict)
    reading = ArgumentsValidator(tool, frozenset())
    validator = tool.signature.validator
    reference = jsonschema.Draft202012Validator(parameters)
    strict_check = jsonschema.Draft202012Validator(strict)

    # Strict to tool: whatever strict mode lets the model send is accepted once restored.
    # hypothesis-jsonschema rewrites the schema it is given (resolving $refs): it gets copies.
    sent = data.draw(from_schema(copy.deepcopy(strict)), label="sent in strict mode")
    restored = reading.validate(sent)  # raises when refused
    assert validator.is_valid(restored), (sent, restored)
    assert reference.is_valid(restored)

    # Tool to strict: calls drawn from the schema as written (open objects: extra keys too).
    drawn = data.draw(from_schema(copy.deepcopy(given_schema)), label="drawn from the given schema")
    for call in [drawn, *mutations(drawn, parameters, parameters)]:
        accepted = validator.is_valid(call)
        assert accepted == reference.is_valid(call), call
        as_strict = fill(call, parameters, strict, parameters, strict)
        assert strict_check.is_valid(as_strict) == accepted, (call, as_strict)
        if accepted:
            assert validator.is_valid(reading.validate(as_strict))
    for call in mutations(drawn, parameters, parameters):
        assert not validator.is_valid(call), call


def test_a_value_every_branch_pins_does_not_pick_the_branch() -> None:
    """A one-value property all branches share tells none apart: the discriminator picks.

    Strict mode sent ``a: null`` for the left-out optional ``a`` of the ``eel`` branch; the
    first branch also pins ``b`` to ``"z"``, and once was taken for the value's branch, so the
    stand-in stayed and a call both schemas allow was refused.
    """
    variants = [
        {"properties": {"b": {"enum": ["z"]}, "kind": {"const": "cat"}}},
        {"properties": {"a": {"type": ["string", "null"]}, "kind": {"const": "dog"}}},
        {"properties": {"a": {"type": "integer"}, "b": {"enum": ["z"]}, "kind": {"const": "eel"}}},
    ]
    schema = {
        "type": "object",
        "properties": {"pet": {"oneOf": [{"type": "object", **v} for v in variants]}},
        "required": ["pet"],
    }
    tool = _tool(schema)
    sent = {"pet": {"a": None, "b": "z", "kind": "eel"}}
    strict, _ = strict_schema(tool.parameters)
    assert strict is not None and jsonschema.Draft202012Validator(strict).is_valid(sent)
    restored = restore_omitted(sent, tool.parameters)
    assert restored == {"pet": {"b": "z", "kind": "eel"}}
    assert tool.signature.validator.is_valid(restored)
