"""A structured result is written in exactly the shape its output schema describes, and checked
against that schema before it is sent: a mismatch is an ``output_error`` naming the path."""

from __future__ import annotations

import datetime
import enum
import json
from typing import Annotated, Any, TypedDict

import jsonschema
import pydantic
import pydantic.dataclasses
import pytest
import toolwire
from toolwire._serialize import to_text

from .conftest import MakeDispatcher


@pydantic.dataclasses.dataclass
class Room:
    room_id: str = pydantic.Field(alias="roomId")


class Aliased(TypedDict):
    count: Annotated[int, pydantic.Field(alias="Count")]


class Row(TypedDict):
    id: int


class Closed(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    a: int


class Wider(Closed):
    b: int = 2


class Stamped(pydantic.BaseModel):
    blob: bytes
    at: datetime.datetime


class Color(enum.Enum):
    red = "red"


pack = toolwire.Toolset("shape")


@pack.tool
def room() -> Room:
    """A pydantic dataclass with an alias."""
    return Room(roomId="A1")


@pack.tool
def aliased() -> Aliased:
    """A TypedDict whose key has an alias."""
    return {"count": 3}


@pack.tool
def wider() -> Closed:
    """A subclass of a closed model."""
    return Wider(a=1)


@pack.tool
def stamped() -> Stamped:
    """bytes and a datetime inside a model."""
    return Stamped(blob=b"\xff\x00", at=datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC))


@pack.tool
def duration() -> datetime.timedelta:
    """A timedelta."""
    return datetime.timedelta(seconds=90)


@pack.tool
def by_color() -> dict[Color, int]:
    """A mapping keyed by an enum."""
    return {Color.red: 1}


@pack.tool
def flag_as_int() -> int:
    """Returns a bool where an int was promised."""
    return True  # type: ignore[return-value]


@pack.tool
def missing_key() -> Row:
    """Returns a dict without its required key."""
    return {}  # type: ignore[typeddict-item]


@pack.tool(
    output_schema={
        "type": "object",
        "properties": {"free": {"type": "integer"}},
        "required": ["free"],
    }
)
def overridden() -> dict[str, Any]:
    """Breaks the schema it was given."""
    return {"nope": 1}


def _sent(make: MakeDispatcher, name: str) -> Any:
    result = make(pack).dispatch_sync(name, {})
    assert result.success, result.output
    return result.output


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("room", {"roomId": "A1"}),
        ("aliased", {"Count": 3}),
        ("wider", {"a": 1}),
        ("by_color", {"red": 1}),
    ],
)
def test_a_result_is_written_in_its_schemas_shape(
    make: MakeDispatcher, name: str, expected: Any
) -> None:
    """Aliases of a pydantic dataclass and a TypedDict, a subclass of a closed model and enum
    keys are written as the advertised schema names them, and validate against it."""
    sent = json.loads(_sent(make, name))
    assert sent == expected
    jsonschema.validate(sent, pack[name].output_schema)


def test_values_inside_a_model_read_as_they_do_at_the_top_level(make: MakeDispatcher) -> None:
    """bytes inside a model are base64 (even bytes that are not UTF-8) and a datetime has the
    same form as one returned on its own."""
    sent = json.loads(_sent(make, "stamped"))
    at = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)
    assert sent == {"blob": toolwire.to_json(b"\xff\x00").strip('"'), "at": to_text(at)}


def test_a_timedelta_is_sent_in_the_form_its_schema_advertises(make: MakeDispatcher) -> None:
    """A timedelta, advertised as format: duration, reads as an ISO 8601 duration."""
    assert pack["duration"].output_schema == {"type": "string", "format": "duration"}
    assert _sent(make, "duration") == "PT1M30S"
    assert to_text(datetime.timedelta(seconds=90)) == "PT1M30S"


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("flag_as_int", "result: expected integer, got a boolean"),
        ("missing_key", "missing required key 'id'"),
        ("overridden", "missing required key 'free'"),
    ],
)
def test_a_result_that_breaks_its_schema_is_an_output_error(
    make: MakeDispatcher, name: str, said: str
) -> None:
    """A result that does not match its advertised schema is never sent: the model reads an
    output_error that names the path and what the schema expects."""
    result = make(pack).dispatch_sync(name, {})
    assert not result.success
    assert result.error is not None and result.error.kind == "output_error"
    assert said in result.error.message
    assert "does not match its output schema" in result.error.message


def test_a_tool_without_an_output_schema_is_not_checked(make: MakeDispatcher) -> None:
    """A tool with no output schema sends whatever it returns, as before."""

    @toolwire.tool
    def loose():  # type: ignore[no-untyped-def]
        return {"any": True}

    result = make(loose).dispatch_sync("loose", {})
    assert result.success and json.loads(result.output) == {"any": True}


def test_camel_case_and_hyphenated_api_keys_are_redacted_by_default() -> None:
    """The default redact list hides apiKey and x-api-key values, not only api_key."""
    from toolwire._config import CONFIG_SCHEMA
    from toolwire._logging import is_secret_key

    names = CONFIG_SCHEMA["properties"]["logging"]["properties"]["redact"]["default"]
    for key in ("apiKey", "x-api-key", "X-API-KEY", "api_key", "openai_apikey"):
        assert is_secret_key(key, names), key
    assert not is_secret_key("capital", names)


def test_a_dict_of_anything_is_still_held_to_being_an_object(make: MakeDispatcher) -> None:
    """A tool annotated ``-> dict[str, Any]`` (output schema: any object) sends any dict as it
    is, keys written as text, and a value that is no object is still an output_error."""
    pack = toolwire.Toolset("loose")

    @pack.tool
    def anything(kind: str) -> dict[str, Any]:
        """Return something."""
        if kind == "dict":
            return {"a": [1, {"b": None}], 3: "three"}
        return [1, 2]  # type: ignore[return-value]  # breaks the promise on purpose

    dispatcher = make(pack)
    assert dispatcher.tools()[0].output_schema == {"type": "object", "additionalProperties": True}
    sent = dispatcher.dispatch_sync("anything", {"kind": "dict"})
    assert sent.success and json.loads(sent.output) == {"a": [1, {"b": None}], "3": "three"}
    broken = dispatcher.dispatch_sync("anything", {"kind": "list"})
    assert broken.error is not None and broken.error.kind == "output_error"
