"""The record format: canonical JSON, argument digests, and the hash that chains each record.

A record is one JSON object on one line. Its ``hash`` is the SHA-256 of the record's canonical
serialization without ``hash`` (``prev_hash`` included, so each record seals the one before it),
and the line holds exactly the canonical serialization of the whole record: any changed byte
breaks either the JSON, the canonical form, or the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Callable, Mapping
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring,
    encode_basestring_ascii,
)
from typing import Any, Final

#: ``prev_hash`` of the first record of a trail.
GENESIS: Final = "0" * 64

#: The record format's version, the ``v`` of every record.
FORMAT_VERSION: Final = 1

REDACTED: Final = "[redacted]"

#: The ``arguments`` of a record (with ``include_arguments``) when what the model sent is not
#: a JSON object: text cut off, an array, a string. Redaction works by key, so such text
#: could hold a secret that nothing can find; ``arguments_hmac`` still covers it.
ARGUMENTS_WITHHELD: Final = "[withheld: not a JSON object]"

#: What stands for a container nested deeper than ``MAX_DEPTH`` levels (a cyclic one is).
TOO_DEEP: Final = "[nested too deep]"
MAX_DEPTH: Final = 100


#: ``canonical_json``'s encoder, made once.
_CANONICAL_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=repr
)


def _c_encoder(encoder: json.JSONEncoder, strings: Callable[[str], str]) -> Callable[[Any], str]:
    """``encoder.encode`` for a container, with the C encoder ``JSONEncoder`` builds again on
    every call built once here (a third of a record's encoding time). Without the markers dict
    a cycle is a ``RecursionError``, as ``canonical_json`` expects of one."""
    if c_make_encoder is None:  # a Python without the C accelerator
        return encoder.encode
    chunks = c_make_encoder(
        None,
        encoder.default,
        strings,
        None,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )
    return lambda value: "".join(chunks(value, 0))


_canonical_encode: Final = _c_encoder(_CANONICAL_ENCODER, encode_basestring)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces, non-ASCII kept as is (RFC 8259 text).

    Whatever a host passed, a text comes out: a value JSON cannot hold (a set, a date) is
    written as its ``repr``, and so are NaN and infinities (``"nan"``, ``"inf"``); keys that
    are not strings become their ``str``; containers nested deeper than 100 levels (a cyclic
    one is) are cut off as ``"[nested too deep]"``.
    """
    try:
        return (
            _canonical_encode(value)
            if isinstance(value, dict | list)
            else _CANONICAL_ENCODER.encode(value)
        )
    except (ValueError, TypeError, RecursionError):  # NaN, a cycle, mixed keys, too deep
        return json.dumps(_plain_data(value, 0), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)  # fmt: skip


def parse_json(text: str) -> Any:
    """Parse RFC 8259 JSON text strictly: ``NaN`` and ``Infinity``, which Python accepts and
    JSON has no words for, are refused, and so is a number too large for a float.

    Raises:
        ValueError: the text is not JSON (``RecursionError`` included, for deep nesting).
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deep") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float; one too large for a float (``1e400``) would be infinity,
    which no JSON text can be written back as: refused, like ``Infinity``."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


def canonical_arguments(arguments: Any) -> bytes:
    """The bytes an argument digest is made of.

    The canonical JSON of the arguments, UTF-8 encoded, whenever they are JSON: a mapping, or
    text (or bytes) that parses as RFC 8259 JSON. Arguments the model sent that are not JSON
    (cut off, ``NaN``: the call was refused for it) are digested as the exact text received
    (its UTF-8 bytes; bytes that are not UTF-8, as they are). ``None`` (no arguments) is
    ``{}``. Strings holding lone surrogates, which UTF-8 cannot encode, are encoded as
    Python's ``surrogatepass`` does.
    """
    if arguments is None:
        return b"{}"
    if isinstance(arguments, bytes | bytearray):
        try:
            arguments = bytes(arguments).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(arguments)
    if isinstance(arguments, str):
        text = arguments
        try:
            arguments = parse_json(text)
        except ValueError:
            return text.encode("utf-8", "surrogatepass")
    return canonical_json(arguments).encode("utf-8", "surrogatepass")


def arguments_digest(key: bytes, arguments: Any) -> str:
    """HMAC-SHA256 (hex) of ``canonical_arguments(arguments)`` under ``key``.

    A keyed digest, not a plain hash: arguments are often guessable (a user id, a yes or no),
    and a plain hash of a guessable value is found by trying every guess.
    """
    return hmac.new(key, canonical_arguments(arguments), hashlib.sha256).hexdigest()


#: The canonical line's encoder, made once (``json.dumps`` with options makes one per call).
_CHAIN_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
)
_chain_encode: Final = _c_encoder(_CHAIN_ENCODER, encode_basestring_ascii)


def chain_text(record: Mapping[str, Any]) -> str:
    """The canonical line of a record: sorted keys, no spaces, every non-ASCII escaped.

    ASCII only, so that a line is the same bytes whatever reads it, and a string holding a
    lone surrogate (JSON allows ``"\\ud800"``) is still written exactly.
    """
    return _chain_encode(dict(record))


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the record's canonical line without its ``hash`` field."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(chain_text(body).encode("ascii")).hexdigest()


def seal(record: dict[str, Any], prev_hash: str) -> bytes:
    """Chain ``record`` to ``prev_hash``: set ``prev_hash`` and ``hash``, return its line (with ``\\n``).

    The line is ``chain_text(record)``, made from one encoding of the record: its keys sort
    either before ``hash`` or after it, so the canonical text without ``hash`` (what the hash
    covers) is the two halves' texts joined, and the line is the same two with ``hash``
    between them.
    """
    record["prev_hash"] = prev_hash
    record.pop("hash", None)
    before = _chain_encode({k: v for k, v in record.items() if k < "hash"})[1:-1]
    after = _chain_encode({k: v for k, v in record.items() if k > "hash"})[1:-1]
    body = f"{{{before},{after}}}" if before and after else f"{{{before or after}}}"
    digest = record["hash"] = hashlib.sha256(body.encode("ascii")).hexdigest()
    hashed = f'"hash":"{digest}"'
    line = ",".join(part for part in (before, hashed, after) if part)
    return f"{{{line}}}\n".encode("ascii")


def plain(value: Any) -> Any:
    """``value`` as plain JSON data (what a record may hold): anything else becomes its ``repr``."""
    return json.loads(canonical_json(value))


def redact(value: Any, names: frozenset[str], depth: int = 0) -> Any:
    """A copy of ``value`` with the value of every key containing a redacted name replaced.

    Names match case-insensitively anywhere in the key (``api_key`` hides ``openai_api_key``),
    at any depth, as toolwire's own call log does with ``[logging] redact``. Containers
    nested deeper than 100 levels (a cyclic one is) are cut off as ``"[nested too deep]"``.
    """
    if isinstance(value, Mapping | list | tuple) and depth > MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, Mapping):
        return {
            k: REDACTED if any(n in str(k).lower() for n in names) else redact(v, names, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, names, depth + 1) for v in value]
    return value


def recorded_arguments(arguments: Any, names: frozenset[str]) -> Any:
    """What a record's ``arguments`` holds: the arguments as plain JSON data, redacted.

    Only a JSON object can be redacted (by key); anything else the model sent (text cut off,
    an array, a string, ``NaN``) is ``ARGUMENTS_WITHHELD``, never the raw text.
    """
    if arguments is None:
        arguments = {}
    if isinstance(arguments, bytes | bytearray):
        try:
            arguments = bytes(arguments).decode("utf-8")
        except UnicodeDecodeError:
            return ARGUMENTS_WITHHELD
    if isinstance(arguments, str):
        try:
            arguments = parse_json(arguments)
        except ValueError:
            return ARGUMENTS_WITHHELD
    if not isinstance(arguments, Mapping):
        return ARGUMENTS_WITHHELD
    return plain(redact(arguments, names))


def _plain_data(value: Any, depth: int) -> Any:
    """``value`` as data ``json.dumps`` always takes (see ``canonical_json``)."""
    if isinstance(value, Mapping | list | tuple) and depth > MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, Mapping):
        return {
            k if isinstance(k, str) else str(k): _plain_data(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain_data(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, str | int | float):
        return value
    return repr(value)
