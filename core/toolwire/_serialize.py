"""The text a model receives: deterministic JSON for results, a budget on length."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import pathlib
import re
import uuid
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, Final

from ._content import PART_TYPES
from ._errors import ToolError

_SURROGATE: Final = re.compile("[\ud800-\udfff]")

_encoder: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=True
)


def _default(value: Any) -> Any:
    """Map the values tools commonly return onto JSON, the same way every time."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, pathlib.PurePath):
        return value.as_posix()
    if isinstance(value, set | frozenset):
        items = [json.loads(to_json(v)) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, PART_TYPES):
        raise TypeError(
            f"a result part ({type(value).__name__}) inside a structure cannot be sent: parts go "
            "at the top level of a result or in a list of parts"
        )
    serializer = getattr(type(value), "__pydantic_serializer__", None)
    if serializer is not None and not isinstance(value, type):
        # A pydantic model or pydantic dataclass: by alias, as pydantic's serialization schema
        # (the output schema) names the fields; in Python mode, so the values inside are
        # written here, the way they are everywhere else (bytes as base64, one datetime form).
        return serializer.to_python(value, by_alias=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, datetime.timedelta):
        return _pydantic_form(value)  # ISO 8601, as the output schema's format: duration says
    raise TypeError(f"a {type(value).__module__}.{type(value).__qualname__} cannot be sent as JSON")


def _pydantic_form(value: Any) -> Any:
    import pydantic_core

    return pydantic_core.to_jsonable_python(value)


def _plain_keys(value: Any, depth: int = 0) -> Any:
    """``value`` with each dict key JSON cannot carry (an enum, a date...) written as its text."""
    if depth > 200:
        raise RecursionError
    if isinstance(value, dict):
        return {
            (k if k is None or type(k) in (str, int, float, bool) else to_text(k)): _plain_keys(
                v, depth + 1
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain_keys(v, depth + 1) for v in value]
    serializer = getattr(type(value), "__pydantic_serializer__", None)
    if serializer is not None and not isinstance(value, type):
        return _plain_keys(serializer.to_python(value, by_alias=True), depth + 1)
    return value


# The C encoder, built once: json.dumps would build it again on every call. Without a markers
# dict a cycle is caught as a RecursionError, which to_json reports like any other cycle.
_dumps_chunks: Final = (
    c_make_encoder(None, _default, encode_basestring, None, ":", ",", False, False, False)
    if c_make_encoder is not None
    else None
)
_py_encoder: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default
)


def _dumps(value: Any) -> str:
    if _dumps_chunks is None:
        return _py_encoder.encode(value)
    return "".join(_dumps_chunks(value, 0))


def to_json(value: Any) -> str:
    """Compact, UTF-8, deterministic JSON for a tool's result.

    Raises:
        ToolError: ``output_error`` for a value JSON cannot carry (an unknown type, a cycle,
            ``NaN``); the type is named, the value never is.
    """
    try:
        try:
            return _dumps(value)
        except TypeError as exc:
            if not str(exc).startswith("keys must be"):
                raise
            return _dumps(_plain_keys(value))  # dict[Enum, int] and the like: keys as text
    except (TypeError, ValueError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, TypeError) else _value_error_reason(exc)
        raise ToolError(
            f"the tool's result could not be sent: {reason}", kind="output_error"
        ) from exc


def _value_error_reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it is circular or nested too deeply"
    text = str(exc)
    if "Circular" in text:
        return "it contains a circular reference"
    if "Out of range float" in text:
        return "it contains NaN or Infinity"
    return "it is not representable as JSON"


def to_text(value: Any) -> str:
    """The text a model reads for ``value``. Always valid UTF-8.

    A string passes through; everything else becomes compact JSON, except that a value whose
    JSON is a string (a ``datetime``, ``Decimal``, ``UUID``, enum, ``bytes`` as base64...)
    reads as that string, bare, the way a string does. So a value reads the same whether it
    is serialized here or sent as JSON from a worker (``process``, taskiq) and read back.
    """
    if type(value) is str:
        return utf8_safe(value)
    if isinstance(value, str) and not isinstance(value, enum.Enum):
        # A str subclass (a Content) as a plain str: what the SDKs take as text.
        return utf8_safe(value if type(value) is str else str.__str__(value))
    text = to_json(value)
    if text[:1] == '"':
        text = json.loads(text)
    return utf8_safe(text)


def utf8_safe(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so it always encodes as UTF-8.

    A Python string can hold half of a UTF-16 surrogate pair (``json.loads`` makes one from
    ``"\\ud800"``, a tool can build one); UTF-8 cannot, and the SDKs fail to send it. Two
    halves that make a pair are joined into their character.
    """
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def truncate(text: str, max_chars: int) -> str:
    """Cut ``text`` to about ``max_chars``: its head and tail around a marker saying what was cut.

    Python strings index by code point, so a cut never splits a character.
    """
    if len(text) <= max_chars:
        return text
    # The marker replaces characters too, so the count it shows depends on its own length:
    # size it for len(text) removed (at least as many digits as the real count), then fill in.
    keep = max_chars - len(_marker(len(text)))
    if keep <= 0:  # a budget too small for the marker: a plain cut, still within budget
        return text[:max_chars]
    head = keep - keep // 2
    tail = keep // 2
    marker = _marker(len(text) - head - tail)
    return text[:head] + marker + (text[len(text) - tail :] if tail else "")


def over_budget(chars: int, max_chars: int) -> ToolError:
    """The ``output_too_large`` error of a structured result longer than the output budget."""
    return ToolError(
        f"the result is {chars:,} characters, over this tool's output budget of {max_chars:,}; "
        "a result with an output schema is sent whole or not at all: ask for less (a narrower "
        "query, fewer items)",
        kind="output_too_large",
        details={"max_output_chars": max_chars, "chars": chars},
    )


def _marker(removed: int) -> str:
    return f"\n[... {removed} characters removed ...]\n"


def error_text(error: ToolError) -> str:
    """The short JSON object the model sees for an error. Always valid UTF-8 JSON.

    ``details`` a tool or plugin gave are sent the way results are (a ``datetime`` as ISO
    8601, a ``Decimal`` as a string...); details JSON cannot carry at all are left out rather
    than let the error itself fail.
    """
    record = error.to_dict()
    record["message"] = str(record["message"])
    try:
        return utf8_safe(_encoder.encode(record))
    except (TypeError, ValueError, RecursionError):
        pass
    try:
        record["details"] = json.loads(to_json(record["details"]))
    except ToolError:
        record.pop("details")
    return utf8_safe(_encoder.encode(record))
