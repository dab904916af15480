"""Tools served over MCP: output schemas advertised as MCP wants them, structured content that
the official client accepts against them, the output budget, and result parts as MCP content."""

from __future__ import annotations

import asyncio
import base64
import datetime
from typing import Any

import jsonschema
import pydantic
import pydantic.dataclasses
import toolwire
import toolwire_mcp
from mcp import Client

pack = toolwire.Toolset("served")


class Booking(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    room_id: str = pydantic.Field(alias="roomId")
    starts_at: datetime.datetime = pydantic.Field(alias="startsAt")


@pack.tool
def book(room: str) -> Booking:
    """Book a room."""
    return Booking(room_id=room, starts_at=datetime.datetime(2024, 1, 2, 9, 0))


@pack.tool
def ids(count: int) -> list[int]:
    """Some ids."""
    return list(range(count))


@pack.tool
def when() -> datetime.date:
    """A date."""
    return datetime.date(2024, 1, 2)


@pack.tool(max_output_chars=50)
def rows(count: int) -> list[dict[str, str]]:
    """Rows, maybe too many."""
    return [{"name": "row"}] * count


Part = toolwire.TextPart | toolwire.ImagePart | toolwire.AudioPart | toolwire.FilePart


@pack.tool
def report() -> list[str | Part | toolwire.LinkPart]:
    """A report in parts."""
    return [
        "the report",
        toolwire.Image(b"\x89PNG", "image/png"),
        toolwire.Audio(b"RIFF", "audio/wav"),
        toolwire.File(b"%PDF", "application/pdf", "r.pdf"),
        toolwire.LinkPart("https://example.org/data.csv", "data", "text/csv"),
    ]


def _call_all(calls: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Any], list[Any]]:
    dispatcher = toolwire.Dispatcher().add(pack)

    async def run() -> tuple[dict[str, Any], list[Any]]:
        async with Client(toolwire_mcp.server(dispatcher)) as client:
            listed = await client.list_tools()
            schemas = {t.name: t.output_schema for t in listed.tools}
            # The official client checks each structured result against its tool's schema.
            results = [await client.call_tool(name, arguments) for name, arguments in calls]
            return schemas, results

    try:
        return asyncio.run(run())
    finally:
        dispatcher.close()


def test_structured_results_match_the_schemas_the_client_was_given() -> None:
    """An aliased model, a list and a date each come with an outputSchema (the last two wrapped
    as {"result": ...}) and structuredContent the official client accepts against it."""
    schemas, results = _call_all([("book", {"room": "A1"}), ("ids", {"count": 3}), ("when", {})])
    assert set(schemas["book"]["properties"]) == {"roomId", "startsAt"}
    assert schemas["ids"]["properties"]["result"] == {"type": "array", "items": {"type": "integer"}}
    assert schemas["ids"]["required"] == ["result"]
    assert schemas["report"] is None
    booked, listed, dated = results
    assert booked.structured_content == {"roomId": "A1", "startsAt": "2024-01-02T09:00:00"}
    assert listed.structured_content == {"result": [0, 1, 2]}
    assert dated.structured_content == {"result": "2024-01-02"}
    for name, result in zip(("book", "ids", "when"), results, strict=True):
        assert not result.is_error
        jsonschema.validate(result.structured_content, schemas[name])


def test_a_structured_result_over_the_budget_is_an_error_not_a_broken_result() -> None:
    """Under the budget the rows arrive whole; past it the client gets output_too_large."""
    _, (fits, over) = _call_all([("rows", {"count": 2}), ("rows", {"count": 20})])
    assert fits.structured_content == {"result": [{"name": "row"}, {"name": "row"}]}
    assert over.is_error
    assert '"error":"output_too_large"' in over.content[0].text
    assert '"max_output_chars":50' in over.content[0].text


def test_parts_are_served_as_mcp_content() -> None:
    """Text, image, audio, an embedded file and a resource link, each as its MCP content type."""
    _, (served,) = _call_all([("report", {})])
    kinds = [block.type for block in served.content]
    assert kinds == ["text", "image", "audio", "resource", "resource_link"]
    assert base64.b64decode(served.content[1].data) == b"\x89PNG"
    assert served.content[3].resource.mime_type == "application/pdf"
    assert str(served.content[4].uri) == "https://example.org/data.csv"


@pydantic.dataclasses.dataclass
class Room:
    room_id: str = pydantic.Field(alias="roomId")


shaped = toolwire.Toolset("shaped")


@shaped.tool
def room() -> Room:
    """A pydantic dataclass with an alias."""
    return Room(roomId="A1")


@shaped.tool
def flag() -> int:
    """Returns a bool where an int was promised."""
    return True  # type: ignore[return-value]


def test_the_official_client_accepts_every_structured_result_or_gets_an_error() -> None:
    """A pydantic dataclass is sent by alias, as advertised; a result that breaks its schema is
    an isError output_error, never structuredContent the official client refuses."""
    dispatcher = toolwire.Dispatcher().add(shaped)

    async def run() -> list[Any]:
        async with Client(toolwire_mcp.server(dispatcher)) as client:
            return [await client.call_tool(name, {}) for name in ("room", "flag")]

    try:
        sent, broken = asyncio.run(run())
    finally:
        dispatcher.close()
    assert not sent.is_error and sent.structured_content == {"roomId": "A1"}
    assert broken.is_error and broken.structured_content is None
    assert '"error":"output_error"' in broken.content[0].text


@shaped.tool
def link() -> toolwire.LinkPart:
    """A resource link given no name."""
    return toolwire.LinkPart("https://example.org/files/data.csv")


def test_a_link_without_a_name_is_served_as_a_resource_link() -> None:
    """A LinkPart without a name reaches the official client as a resource_link named by its
    URI's last segment, never a protocol error."""
    dispatcher = toolwire.Dispatcher().add(shaped)

    async def run() -> Any:
        async with Client(toolwire_mcp.server(dispatcher)) as client:
            return await client.call_tool("link", {})

    try:
        served = asyncio.run(run())
    finally:
        dispatcher.close()
    assert not served.is_error
    assert served.content[1].type == "resource_link"
    assert served.content[1].name == "data.csv"
