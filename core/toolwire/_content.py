"""Tool results made of parts: text and images, as MCP tools return them.

A ``Content`` is a string, so everything that handles a result's text keeps working: as text
it reads as its text parts with a short description of each image. The providers whose tool
results accept images (OpenAI Responses, Anthropic Messages) send the images natively.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

#: Image types both image-capable APIs accept in a tool result.
NATIVE_IMAGE_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True, slots=True)
class TextPart:
    """A part of a result that is text.

    Attributes:
        text: The text.
    """

    text: str


@dataclass(frozen=True, slots=True, repr=False)
class ImagePart:
    """A part of a result that is an image.

    Attributes:
        data: The image bytes, base64-encoded (as MCP's ``ImageContent.data`` carries them).
        media_type: Its MIME type, e.g. ``"image/png"``.
    """

    data: str
    media_type: str

    def describe(self) -> str:
        """A short description for a model that cannot see the image: type and size."""
        size = len(self.data) * 3 // 4 - self.data[-2:].count("=")
        return f"[image: {self.media_type}, {_size(size)}]"

    def __repr__(self) -> str:
        return f"toolwire.ImagePart(media_type={self.media_type!r}, {len(self.data)} base64 chars)"


def _size(count: int) -> str:
    return f"{count} bytes" if count < 1024 else f"{count / 1024:.1f} KiB"


class Content(str):
    """A tool result made of text and image parts; as a string, its text rendering.

    The string is the text parts in order, each image replaced by a line such as
    ``[image: image/png, 12.0 KiB]``: what ``DispatchResult.output`` carries, within the tool's
    output budget. ``format_result`` of OpenAI Responses and Anthropic adds the images as
    native image parts after that text; the other providers send the text alone.
    ``Content(parts)`` takes ``TextPart`` and ``ImagePart`` values, in order; anything else is
    a ``TypeError``.

    Attributes:
        parts: The parts, as given.
    """

    parts: tuple[TextPart | ImagePart, ...]

    def __new__(cls, parts: Iterable[TextPart | ImagePart]) -> Content:
        kept = tuple(parts)
        for part in kept:
            if not isinstance(part, TextPart | ImagePart):
                raise TypeError(
                    f"a Content part is a TextPart or ImagePart, got {type(part).__name__}"
                )
        text = "\n".join(p.text if isinstance(p, TextPart) else p.describe() for p in kept)
        content = super().__new__(cls, text)
        content.parts = kept
        return content

    def images(self) -> list[ImagePart]:
        """The image parts whose type the image-capable APIs accept, in order."""
        return [
            p for p in self.parts if isinstance(p, ImagePart) and p.media_type in NATIVE_IMAGE_TYPES
        ]

    def __reduce__(self) -> tuple[type[Content], tuple[tuple[TextPart | ImagePart, ...]]]:
        return (Content, (self.parts,))

    def __repr__(self) -> str:
        return f"toolwire.Content({list(self.parts)!r})"
