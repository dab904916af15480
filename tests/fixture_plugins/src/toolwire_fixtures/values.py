"""Tools returning each kind of value the serializer maps, for comparing what the model reads
on every executor (importable, so a ``process`` worker can run them)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import pathlib
import uuid

import pydantic
import toolwire

pack = toolwire.Toolset("values", description="One tool per kind of returned value")


class Colour(enum.Enum):
    RED = "red"


class Person(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    first_name: str = pydantic.Field(alias="firstName")
    born: datetime.date


@dataclasses.dataclass
class Point:
    x: int
    at: datetime.time


#: Each kind of value by name; the tool ``value`` returns the one it is asked for.
VALUES = {
    "datetime": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC),
    "date": datetime.date(2024, 5, 6),
    "time": datetime.time(7, 8, 9),
    "decimal": decimal.Decimal("1.10"),
    "enum": Colour.RED,
    "bytes": b"\x00\xffhi",
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "path": pathlib.PurePosixPath("/tmp/a b"),
    "set": {3, 1, 2},
    "tuple": (1, "a"),
    "model": Person(first_name="Ada", born=datetime.date(1815, 12, 10)),
    "dataclass": Point(1, datetime.time(12, 0)),
    "nested": {"when": datetime.date(2024, 1, 1), "amounts": [decimal.Decimal("2.5")]},
    "text": "plain text",
    "number": 1.5,
}


@pack.tool
def value(kind: str) -> object:
    """Return the value of one kind.

    Args:
        kind: Its name.
    """
    return VALUES[kind]


@pack.tool
def chart(title: str) -> list[toolwire.TextPart | toolwire.ImagePart | toolwire.FilePart]:
    """A chart as text, an image and a PDF.

    Args:
        title: Its title.
    """
    return [
        title,
        toolwire.Image(b"\x89PNG\r\n", "image/png"),
        toolwire.File(b"%PDF-1.4", "application/pdf", "c.pdf"),
    ]
