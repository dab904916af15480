"""Results as the model reads them: output schemas, one serializer on every executor, result
parts and their caps, and the output budget of a structured result."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
from typing import Any, TypedDict

import jsonschema
import pydantic
import pytest
import toolwire
from toolwire_fixtures import values

from .conftest import MakeDispatcher


class Person(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    first_name: str = pydantic.Field(alias="firstName")
    last_name: str = pydantic.Field(serialization_alias="lastName")


class Row(TypedDict):
    id: int
    tags: list[str]


@dataclasses.dataclass
class Point:
    x: int
    y: int


pack = toolwire.Toolset("shapes")


@pack.tool
def person() -> Person:
    """A model with aliases."""
    return Person(first_name="Ada", last_name="Lovelace")


@pack.tool
def row() -> Row:
    """A TypedDict."""
    return {"id": 1, "tags": ["a"]}


@pack.tool
def point() -> Point:
    """A dataclass."""
    return Point(1, 2)


@pack.tool
def counts() -> dict[str, int]:
    """A mapping."""
    return {"a": 1}


@pack.tool
def ids() -> list[int]:
    """A list."""
    return [1, 2]


@pack.tool
def total() -> float:
    """A scalar."""
    return 2.5


@pack.tool
def when() -> datetime.datetime:
    """A datetime."""
    return datetime.datetime(2024, 1, 2, 3, 4, 5)


def test_return_annotations_give_output_schemas() -> None:
    """Each kind of return annotation gives the JSON Schema of what is sent, fields by alias."""
    assert pack["person"].output_schema["properties"].keys() == {"firstName", "lastName"}
    assert pack["row"].output_schema["required"] == ["id", "tags"]
    assert pack["point"].output_schema["properties"].keys() == {"x", "y"}
    assert pack["counts"].output_schema == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }
    assert pack["ids"].output_schema == {"type": "array", "items": {"type": "integer"}}
    assert pack["total"].output_schema == {"type": "number"}
    assert pack["when"].output_schema == {"type": "string", "format": "date-time"}


def test_no_annotation_none_text_and_parts_give_no_output_schema() -> None:
    """No annotation, None, Any, str and result parts give no output schema."""

    def bare():  # type: ignore[no-untyped-def]
        return 1

    def nothing() -> None:
        return None

    def text() -> str:
        return ""

    def image() -> toolwire.Image:
        return toolwire.Image(b"x", "image/png")

    def parts() -> list[str | toolwire.ImagePart]:
        return []

    for function in (bare, nothing, text, image, parts):
        assert toolwire.tool(function).output_schema is None, function.__name__


def test_output_schema_option_overrides_and_false_removes() -> None:
    """output_schema= replaces the inferred schema, False removes it, and a bad one is refused."""
    given = {"type": "object", "properties": {"n": {"type": "integer"}}}

    def count() -> int:
        return 1

    assert toolwire.tool(output_schema=given)(count).output_schema == given
    assert toolwire.tool(output_schema=False)(count).output_schema is None
    with pytest.raises(toolwire.ConfigError, match="invalid output_schema"):
        toolwire.tool(output_schema={"type": 5})(count)
    with pytest.raises(toolwire.ConfigError, match="output_schema must be a JSON Schema object"):
        toolwire.tool(output_schema="object")(count)  # type: ignore[call-overload]


@pytest.mark.parametrize("name", ["person", "row", "point", "counts", "ids", "total", "when"])
def test_a_structured_result_matches_its_advertised_schema(make: MakeDispatcher, name: str) -> None:
    """The JSON the model reads for each result validates against the schema advertised for it."""
    dispatcher = make(pack)
    result = dispatcher.dispatch_sync(name, {})
    assert result.success, result.output
    sent = result.output if name == "when" else json.loads(result.output)
    jsonschema.validate(sent, pack[name].output_schema)
    if name == "person":
        assert sent == {"firstName": "Ada", "lastName": "Lovelace"}


def test_a_structured_result_over_the_budget_is_output_too_large(make: MakeDispatcher) -> None:
    """A result with an output schema past the budget answers output_too_large with the budget;
    text without a schema is still cut to head and tail."""
    shapes = toolwire.Toolset("big")

    @shapes.tool(max_output_chars=100)
    def rows() -> list[dict[str, str]]:
        return [{"name": "x" * 50}] * 10

    @shapes.tool(max_output_chars=100)
    def text() -> str:
        return "y" * 500

    dispatcher = make(shapes)
    refused = dispatcher.dispatch_sync("rows", {})
    assert refused.error is not None and refused.error.kind == "output_too_large"
    assert refused.error.details == {"max_output_chars": 100, "chars": 621}
    assert "output budget of 100" in refused.output
    cut = dispatcher.dispatch_sync("text", {})
    assert cut.success and len(cut.output) <= 100 and "characters removed" in cut.output


def test_parts_past_their_cap_are_output_too_large(make: MakeDispatcher) -> None:
    """A part larger than max_part_bytes answers output_too_large naming the part and the cap."""
    shapes = toolwire.Toolset("pictures")

    @shapes.tool(max_part_bytes=10)
    def picture(size: int) -> list[Any]:
        return ["a chart", toolwire.Image(b"x" * size, "image/png")]

    dispatcher = make(shapes)
    fits = dispatcher.dispatch_sync("picture", {"size": 10})
    assert fits.success and isinstance(fits.result, toolwire.Content)
    assert fits.output == "a chart\n[image: image/png, 10 bytes]"
    over = dispatcher.dispatch_sync("picture", {"size": 11})
    assert over.error is not None and over.error.kind == "output_too_large"
    assert over.error.details == {
        "part": 1,
        "media_type": "image/png",
        "bytes": 11,
        "max_part_bytes": 10,
    }


def test_a_zero_part_cap_in_config_stops_the_start(make: MakeDispatcher) -> None:
    """max_part_bytes = 0 in the config is refused when the dispatcher starts."""
    with pytest.raises(toolwire.ConfigError, match="max_part_bytes"):
        make(pack, config={"defaults": {"max_part_bytes": 0}})


def test_parts_validate_their_data() -> None:
    """A part takes bytes or base64 text, and a MIME type; anything else is refused at once."""
    assert toolwire.Image(b"\x01\x02", "image/png").data == base64.b64encode(b"\x01\x02").decode()
    assert toolwire.Image("AQI=", "image/png").size == 2
    with pytest.raises(ValueError, match="not base64"):
        toolwire.File("not base64!", "application/pdf")
    with pytest.raises(ValueError, match="MIME type"):
        toolwire.Audio(b"x", "wav")
    with pytest.raises(TypeError, match="got int"):
        toolwire.Content([1])  # type: ignore[list-item]


#: What the model reads for each kind of value: the serializer's table (docs/results.md).
READS = {
    "datetime": "2024-05-06T07:08:09+00:00",
    "date": "2024-05-06",
    "time": "07:08:09",
    "decimal": "1.10",
    "enum": "red",
    "bytes": base64.b64encode(b"\x00\xffhi").decode(),
    "uuid": "12345678-1234-5678-1234-567812345678",
    "path": "/tmp/a b",
    "set": "[1,2,3]",
    "tuple": '[1,"a"]',
    "model": '{"firstName":"Ada","born":"1815-12-10"}',
    "dataclass": '{"x":1,"at":"12:00:00"}',
    "nested": '{"when":"2024-01-01","amounts":["2.5"]}',
    "text": "plain text",
    "number": "1.5",
}


def test_every_value_reads_the_same_on_every_executor(make: MakeDispatcher) -> None:
    """Each kind of value reads as the table says in the host's threads, on the event loop and
    from a process worker."""
    assert READS.keys() == values.VALUES.keys()
    on_threads = make(values.pack)
    in_process = make(
        values.pack,
        config={"defaults": {"executor": "process"}, "executors": {"process": {"workers": 1}}},
    )

    async def on_the_loop(kind: str) -> Any:
        return values.VALUES[kind]

    looped = make(toolwire.tool(name="value")(on_the_loop))
    for kind, expected in READS.items():
        outputs = {
            "thread": on_threads.dispatch_sync("value", {"kind": kind}).output,
            "async": looped.dispatch_sync("value", {"kind": kind}).output,
            "process": in_process.dispatch_sync("value", {"kind": kind}).output,
        }
        assert outputs == dict.fromkeys(outputs, expected), kind


def test_parts_come_back_from_a_process_worker(make: MakeDispatcher) -> None:
    """A result of parts made in a process worker reaches the host as the same Content."""
    in_process = make(
        values.pack,
        config={"defaults": {"executor": "process"}, "executors": {"process": {"workers": 1}}},
    )
    here = make(values.pack)
    remote = in_process.dispatch_sync("chart", {"title": "sales"})
    local = here.dispatch_sync("chart", {"title": "sales"})
    assert isinstance(remote.result, toolwire.Content)
    assert remote.result.parts == local.result.parts
    assert (
        remote.output
        == "sales\n[image: image/png, 6 bytes]\n[file: c.pdf, application/pdf, 8 bytes]"
    )
