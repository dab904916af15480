"""Tool results made of parts: text, images, files (PDF and others), audio and resource links.

A tool returns a part (``toolwire.Image(png_bytes, "image/png")``), a list of parts and strings,
or a ``Content``; the dispatcher makes a ``Content`` of the first two. A ``Content`` is a
string, so everything that handles a result's text keeps working: as text it reads as its text
parts with a short description of each other part. The providers whose tool results accept a
kind of part send it natively after that text (see ``docs/results.md`` for which, where).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

#: Image types every image-capable tool-result format accepts.
NATIVE_IMAGE_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

#: The default cap on one binary part, in decoded bytes (``max_part_bytes`` in the config).
DEFAULT_MAX_PART_BYTES: Final = 5 * 1024 * 1024


def _base64(data: Any, kind: str) -> str:
    """``data`` as base64 text: bytes are encoded; a string must already be base64."""
    if isinstance(data, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(data)).decode("ascii")
    if isinstance(data, str):
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                f"a {kind}'s data is bytes, or a string of base64; this string is not base64"
            ) from None
        return data
    raise TypeError(f"a {kind}'s data is bytes or base64 text, got {type(data).__name__}")


#: Names in use for a media type, and the registered one each stands for.
_MEDIA_ALIASES: Final = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
}


def _media_type(value: Any, kind: str) -> str:
    """The media type, normalised: lower case, parameters (``; charset=...``) dropped, and the
    registered name for a common alias (``image/jpg`` is ``image/jpeg``)."""
    if not isinstance(value, str) or "/" not in value or len(value) > 255:
        raise ValueError(f"a {kind}'s media_type is a MIME type such as 'image/png', got {value!r}")
    essence = value.partition(";")[0].strip().lower()
    return _MEDIA_ALIASES.get(essence, essence)


def _size(count: int) -> str:
    return f"{count} bytes" if count < 1024 else f"{count / 1024:.1f} KiB"


def _decoded_size(data: str) -> int:
    return len(data) * 3 // 4 - data[-2:].count("=")


@dataclass(frozen=True, slots=True)
class TextPart:
    """A part of a result that is text.

    Attributes:
        text: The text.
    """

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"a TextPart's text is a string, got {type(self.text).__name__}")


@dataclass(frozen=True, slots=True, repr=False)
class ImagePart:
    """A part of a result that is an image (``toolwire.Image`` is the same class).

    Args:
        data: The image: bytes, or base64 text (as MCP's ``ImageContent.data`` carries it).
        media_type: Its MIME type, e.g. ``"image/png"``.

    Attributes:
        data: The image, base64-encoded.
        media_type: Its MIME type.
    """

    data: str
    media_type: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _base64(self.data, "image"))
        object.__setattr__(self, "media_type", _media_type(self.media_type, "image"))

    @property
    def size(self) -> int:
        """Its size in bytes, decoded."""
        return _decoded_size(self.data)

    def describe(self) -> str:
        """A short description for a model that cannot see the image: type and size."""
        return f"[image: {self.media_type}, {_size(self.size)}]"

    def __repr__(self) -> str:
        return f"toolwire.ImagePart(media_type={self.media_type!r}, {len(self.data)} base64 chars)"


@dataclass(frozen=True, slots=True, repr=False)
class FilePart:
    """A part of a result that is a file or document, a PDF say (``toolwire.File``).

    Args:
        data: The file: bytes, or base64 text.
        media_type: Its MIME type, e.g. ``"application/pdf"``.
        name: Its file name, shown to the model where the API takes one.

    Attributes:
        data: The file, base64-encoded.
        media_type: Its MIME type.
        name: Its file name, or ``None``.
    """

    data: str
    media_type: str
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _base64(self.data, "file"))
        object.__setattr__(self, "media_type", _media_type(self.media_type, "file"))
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"a file's name is a string, got {type(self.name).__name__}")

    @property
    def size(self) -> int:
        """Its size in bytes, decoded."""
        return _decoded_size(self.data)

    def describe(self) -> str:
        """A short description for a model that cannot read the file: name, type and size."""
        named = f"{self.name}, " if self.name else ""
        return f"[file: {named}{self.media_type}, {_size(self.size)}]"

    def __repr__(self) -> str:
        return (
            f"toolwire.FilePart(media_type={self.media_type!r}, name={self.name!r}, "
            f"{len(self.data)} base64 chars)"
        )


@dataclass(frozen=True, slots=True, repr=False)
class AudioPart:
    """A part of a result that is audio (``toolwire.Audio``); sent natively over MCP only.

    Args:
        data: The audio: bytes, or base64 text.
        media_type: Its MIME type, e.g. ``"audio/wav"``.
    """

    data: str
    media_type: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _base64(self.data, "audio part"))
        object.__setattr__(self, "media_type", _media_type(self.media_type, "audio part"))

    @property
    def size(self) -> int:
        """Its size in bytes, decoded."""
        return _decoded_size(self.data)

    def describe(self) -> str:
        """A short description: type and size."""
        return f"[audio: {self.media_type}, {_size(self.size)}]"

    def __repr__(self) -> str:
        return f"toolwire.AudioPart(media_type={self.media_type!r}, {len(self.data)} base64 chars)"


@dataclass(frozen=True, slots=True)
class LinkPart:
    """A part of a result that points at a resource instead of carrying it (MCP's resource link).

    Attributes:
        uri: Where the resource is.
        name: Its name; when none is given, the last segment of the URI's path (``data.csv``
            for ``https://example.org/files/data.csv?v=2``), or the whole URI when it has none.
        media_type: Its MIME type, when known.
        description: What it is, when said.
    """

    uri: str
    name: str | None = None
    media_type: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri:
            raise TypeError("a LinkPart's uri is a non-empty string")
        if not self.name:  # MCP's resource_link requires a name: the URI's last segment
            path = self.uri.split("?", 1)[0].split("#", 1)[0].rstrip("/")
            last = path.rsplit("/", 1)[-1] if "/" in path else ""
            object.__setattr__(self, "name", last or self.uri)

    def describe(self) -> str:
        """The link as the model reads it: name, URI, type and description."""
        about = f" ({self.media_type})" if self.media_type else ""
        said = f": {self.description}" if self.description else ""
        return f"[resource link: {self.name} <{self.uri}>{about}{said}]"


#: Every kind of part a ``Content`` holds.
Part = TextPart | ImagePart | FilePart | AudioPart | LinkPart
PART_TYPES: Final = (TextPart, ImagePart, FilePart, AudioPart, LinkPart)
#: The parts that carry bytes, and so count against ``max_part_bytes``.
BINARY_TYPES: Final = (ImagePart, FilePart, AudioPart)

#: Short names for the parts a tool builds: ``toolwire.Image(data, media_type)``...
Image = ImagePart
File = FilePart
Audio = AudioPart


class Content(str):
    """A tool result made of parts; as a string, its text rendering.

    The string is the text parts in order, each other part replaced by a line such as
    ``[image: image/png, 12.0 KiB]``: what ``DispatchResult.output`` carries, within the tool's
    output budget. Providers whose tool results take a kind of part natively add those parts
    after that text. ``Content(parts)`` takes parts and plain strings (a string is a
    ``TextPart``), in order; anything else is a ``TypeError``.

    Attributes:
        parts: The parts, as given.
    """

    parts: tuple[Part, ...]

    def __new__(cls, parts: Iterable[Part | str]) -> Content:
        kept: tuple[Part, ...] = tuple(_part(p) for p in parts)
        text = "\n".join(p.text if isinstance(p, TextPart) else p.describe() for p in kept)
        content = super().__new__(cls, text)
        content.parts = kept
        return content

    def images(self) -> list[ImagePart]:
        """The image parts whose type the image-capable APIs accept, in order."""
        return [
            p for p in self.parts if isinstance(p, ImagePart) and p.media_type in NATIVE_IMAGE_TYPES
        ]

    def binary(self) -> list[ImagePart | FilePart | AudioPart]:
        """The parts that carry bytes (images, files, audio), in order."""
        return [p for p in self.parts if isinstance(p, BINARY_TYPES)]

    def __reduce__(self) -> tuple[type[Content], tuple[tuple[Part, ...]]]:
        return (Content, (self.parts,))

    def __repr__(self) -> str:
        return f"toolwire.Content({list(self.parts)!r})"


def _part(value: Any) -> Part:
    if type(value) is str:
        return TextPart(value)
    if not isinstance(value, PART_TYPES):
        raise TypeError(
            "a Content part is a TextPart, ImagePart, FilePart, AudioPart, LinkPart or str, "
            f"got {type(value).__name__}"
        )
    return value


def as_content(value: Any) -> Content | None:
    """``value`` as a ``Content`` when it is made of parts: a part, or a list or tuple holding
    at least one part (its strings become text parts); else ``None``."""
    kind = type(value)
    if kind is dict or kind is str:  # the common results, answered at once
        return None
    if isinstance(value, Content):
        return value
    if isinstance(value, PART_TYPES):
        return Content([value])
    if (
        kind in (list, tuple)
        and value
        and isinstance(value[0], (str, *PART_TYPES))  # a list of records stops here, at once
        and any(isinstance(v, PART_TYPES) for v in value)
    ):
        for index, item in enumerate(value):
            if not isinstance(item, (str, *PART_TYPES)):
                from ._errors import ToolError

                raise ToolError(
                    f"item {index} of the result is a {type(item).__name__} in a list of parts: "
                    "a list of parts holds only parts and strings (send other data as a "
                    "string, or without parts)",
                    kind="output_error",
                )
        return Content(value)
    return None


def check_parts(content: Content, max_bytes: int) -> None:
    """Refuse a result with a binary part larger than ``max_bytes`` (decoded), or empty.

    Raises:
        ToolError: ``output_too_large``, naming the part, its size and the cap;
            ``output_error`` for an empty (0-byte) image, file or audio part.
    """
    for index, part in enumerate(content.parts):
        if isinstance(part, BINARY_TYPES) and not part.data:
            from ._errors import ToolError

            kind = type(part).__name__.removesuffix("Part").lower()
            raise ToolError(
                f"part {index} of the result, {kind} {part.media_type}, is empty (0 bytes): "
                "send the part with its data, or leave it out",
                kind="output_error",
                details={"part": index, "media_type": part.media_type, "bytes": 0},
            )
        if isinstance(part, BINARY_TYPES) and part.size > max_bytes:
            from ._errors import ToolError

            kind = type(part).__name__.removesuffix("Part").lower()
            raise ToolError(
                f"part {index} of the result, {kind} {part.media_type} of {part.size:,} bytes, "
                f"is over the cap of {max_bytes:,} bytes (max_part_bytes): send it smaller "
                "(scaled down, compressed, or a page at a time)",
                kind="output_too_large",
                details={
                    "part": index,
                    "media_type": part.media_type,
                    "bytes": part.size,
                    "max_part_bytes": max_bytes,
                },
            )
