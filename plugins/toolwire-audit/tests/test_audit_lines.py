"""A record's line, made from one encoding, is byte for byte the canonical line verify reads."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest
from toolwire_audit._records import GENESIS, canonical_json, chain_text, record_hash, seal
from toolwire_audit._trail import _Clock

RECORDS: list[dict[str, Any]] = [
    {"event": "call", "seq": 1, "tool": "get_weather", "arguments": {"hash": 1, "z": [1.5, None]}},
    {"amends": 3, "attempts": 2},  # every key before "hash"
    {"seq": 7, "v": 1},  # every key after it
    {},
    {"tool": "caf\u00e9 \ud800", "error_kind": None, "principal": True, "hash": "stale"},
    {"hasg": 1, "hasi": 2, "hash ": 3, "Hash": 4},  # keys right beside "hash" in sort order
]


@pytest.mark.parametrize("record", RECORDS)
def test_the_sealed_line_is_the_canonical_line(record: dict[str, Any]) -> None:
    """seal writes exactly chain_text of the record, and its hash is record_hash of it."""
    sealed = dict(record)
    line = seal(sealed, GENESIS)
    assert line == chain_text(sealed).encode("ascii") + b"\n"
    assert sealed["hash"] == record_hash(sealed) and sealed["prev_hash"] == GENESIS


@pytest.mark.parametrize("record", RECORDS)
def test_the_encoders_write_what_json_dumps_writes(record: dict[str, Any]) -> None:
    """The encoders built once write byte for byte what ``json.dumps`` with their options
    writes: the chain's line (ASCII only) and the canonical JSON of arguments (non-ASCII kept,
    anything else as its ``repr``)."""
    assert chain_text(record) == json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    value = {**record, "when": datetime.date(2026, 1, 2), "list": [{"b": 1, "a": "\u00e9"}]}
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )


def test_canonical_json_still_writes_what_json_cannot_hold() -> None:
    """NaN, a cycle and keys that are no text still come out as text (their ``repr``)."""
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert canonical_json({"x": float("nan")}) == '{"x":"nan"}'
    assert canonical_json({"c": cyclic}).startswith('{"c":[[')
    assert canonical_json({1: "a", "b": 2}) == '{"1":"a","b":2}'
    with pytest.raises(ValueError, match="Out of range float"):
        chain_text({"x": float("inf")})


def test_record_time_is_utc_with_microseconds() -> None:
    """A record's time is RFC 3339 UTC with six digits of microseconds, and it is now."""
    before = datetime.datetime.now(datetime.UTC)
    text = _Clock().now()
    after = datetime.datetime.now(datetime.UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text)
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC)
    assert before - datetime.timedelta(milliseconds=1) <= moment <= after
