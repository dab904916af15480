"""Result parts the way a tool may get them wrong: nested in a structure, mixed with data,
empty, a link without a name, a media type spelled loosely."""

from __future__ import annotations

from typing import Any

import pytest
import toolwire

from .conftest import MakeDispatcher

PNG = b"\x89PNG\r\n\x1a\n"

pack = toolwire.Toolset("loose")


@pack.tool
def shaped(kind: str) -> Any:
    """Returns a result of the given kind."""
    image = toolwire.Image(PNG * 100, "image/png")
    results: dict[str, Any] = {
        "in_dict": {"chart": image},
        "in_nested_list": [["a", image]],
        "records_then_part": [{"a": 1}, image],
        "mixed": ["text", {"a": 1}, image],
        "empty_image": ["x", toolwire.Image(b"", "image/png")],
        "empty_file": toolwire.File(b"", "text/plain", "a.txt"),
        "empty_audio": toolwire.Audio(b"", "audio/wav"),
    }
    return results[kind]


@pytest.mark.parametrize("kind", ["in_dict", "in_nested_list", "records_then_part"])
def test_a_part_inside_a_structure_is_refused_not_dumped(make: MakeDispatcher, kind: str) -> None:
    """A part nested in a dict or a nested list is an output_error saying where parts go,
    never its base64 in the text."""
    result = make(pack).dispatch_sync("shaped", {"kind": kind})
    assert result.error is not None and result.error.kind == "output_error"
    assert "parts go at the top level of a result or in a list of parts" in result.error.message
    assert "iVBOR" not in result.output


def test_a_list_mixing_parts_and_data_is_an_output_error(make: MakeDispatcher) -> None:
    """A dict among parts and strings is an output_error naming its index, not internal_error."""
    result = make(pack).dispatch_sync("shaped", {"kind": "mixed"})
    assert result.error is not None and result.error.kind == "output_error"
    assert "item 1 of the result is a dict" in result.error.message


@pytest.mark.parametrize("kind", ["empty_image", "empty_file", "empty_audio"])
def test_an_empty_part_is_refused(make: MakeDispatcher, kind: str) -> None:
    """A 0-byte image, file or audio part is an output_error, never sent as empty data."""
    result = make(pack).dispatch_sync("shaped", {"kind": kind})
    assert result.error is not None and result.error.kind == "output_error"
    assert "is empty (0 bytes)" in result.error.message


def test_a_link_without_a_name_is_named_by_its_uri() -> None:
    """A LinkPart without a name takes its URI's last path segment, or the URI when it has none."""
    assert toolwire.LinkPart("https://example.org/files/data.csv?v=2").name == "data.csv"
    assert toolwire.LinkPart("https://example.org/files/", None).name == "files"
    assert toolwire.LinkPart("urn:isbn:0451450523").name == "urn:isbn:0451450523"
    assert toolwire.LinkPart("https://x.org/a", "given").name == "given"


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("IMAGE/PNG", "image/png"),
        ("image/jpg", "image/jpeg"),
        ("image/png; charset=binary", "image/png"),
        ("Text/Plain; charset=utf-8", "text/plain"),
    ],
)
def test_media_types_are_normalised(given: str, normalised: str) -> None:
    """A loosely spelled media type is normalised, so the part is sent natively where it can be."""
    image = toolwire.Image(PNG, given)
    assert image.media_type == normalised
    assert toolwire.Content([image]).images() == (
        [image] if normalised.startswith("image/") else []
    )
