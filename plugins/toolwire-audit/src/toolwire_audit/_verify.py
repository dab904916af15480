"""Checking a trail: every record intact, in sequence, each sealing the one before it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._records import GENESIS, chain_text, record_hash

ProblemKind = Literal["changed", "removed", "reordered", "inserted"]

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class Problem:
    """The first place where the trail is not as written.

    Attributes:
        kind: ``changed`` (a record's bytes differ from what was sealed), ``removed`` (records
            are missing), ``reordered`` (records are out of order) or ``inserted`` (a record
            that the chain does not account for).
        file: The file holding the record named.
        line: Its line number (1-based).
        seq: Its sequence number, when the line can still be read as a record.
        message: What is wrong, for a person.
    """

    kind: ProblemKind
    file: str
    line: int
    seq: int | None
    message: str


@dataclass(frozen=True, slots=True)
class TornTail:
    """An incomplete last line: a write cut short by a crash (``SIGKILL``, power loss).

    The writer never appends after one (it goes on in a new file), so it is not part of the
    chain and does not fail verification. It is reported so that nobody mistakes it for a
    record.
    """

    file: str
    bytes: int


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of ``verify``.

    Attributes:
        ok: No problem found.
        records: Records that verified (up to the problem, if any).
        first_seq: Sequence number of the first record (``None`` without records).
        last_seq: Sequence number of the last record that verified.
        head: Hash of the last record that verified: keep it somewhere else (an anchor); a later
            ``verify --after-hash`` of newer files, or a comparison, then proves that nothing
            before it was rewritten.
        problem: The first problem found, else ``None``.
        torn: Incomplete last lines, one per file that ends with one.
    """

    ok: bool
    records: int
    first_seq: int | None
    last_seq: int | None
    head: str
    problem: Problem | None = None
    torn: tuple[TornTail, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as ``toolwire audit verify --json`` prints it."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Line:
    """What verification keeps of one line: where it is, and its place in the chain."""

    file: str
    number: int
    seq: int | None
    prev_hash: str = ""
    hash: str = ""
    why: str = ""  # what is wrong with it; empty for an intact record


def verify(
    paths: Sequence[str | os.PathLike[str]], *, after_hash: str | None = None
) -> Verification:
    """Check the chain across ``paths``, in the order given (rotated files oldest first).

    The first record must be the trail's first (``seq`` 1, sealing the genesis hash) unless
    ``after_hash`` is given: then it must seal that hash (the ``head`` an earlier
    verification of the files before it reported).

    Limits: removing records from the end of a trail (or a whole trail) leaves nothing behind
    to notice; compare ``head`` with an anchor kept elsewhere. Anyone able to rewrite a record
    and every record after it can make a chain that verifies; keep the files, or their heads,
    where the writer cannot change them.

    Raises:
        OSError: a file cannot be read.
    """
    lines, torn = _read(paths)
    positions: dict[int, list[int]] = {}
    for index, line in enumerate(lines):
        if line.seq is not None and not line.why:
            positions.setdefault(line.seq, []).append(index)
    prev_seq = 0
    prev_hash = GENESIS if after_hash is None else after_hash
    previous: _Line | None = None  # the last line that verified
    first_seq: int | None = None
    count = 0

    def outcome(problem: Problem | None) -> Verification:
        return Verification(
            problem is None, count, first_seq, prev_seq or None, prev_hash, problem, torn
        )

    for index, line in enumerate(lines):
        if line.why or line.seq is None:
            return outcome(_problem("changed", line, line.why))
        seq, links_to = line.seq, line.prev_hash
        if count == 0 and after_hash is not None:
            if links_to != after_hash:
                return outcome(
                    _problem(
                        "changed",
                        line,
                        f"record seq {seq} does not follow the record whose hash was given "
                        f"(--after-hash): it seals {links_to[:16]}...",
                    )
                )
        elif seq == prev_seq + 1 and links_to == prev_hash:
            pass
        elif seq == prev_seq + 1:
            following = lines[index + 1] if index + 1 < len(lines) else None
            if (
                following is not None
                and not following.why
                and following.seq == seq
                and following.prev_hash == prev_hash
            ):
                return outcome(
                    _problem(
                        "inserted",
                        line,
                        f"record seq {seq} is not the one the chain holds: the next line "
                        "carries the same seq and follows the previous record",
                    )
                )
            if count == 0:
                return outcome(
                    _problem("changed", line, "the first record does not seal the genesis hash")
                )
            assert previous is not None  # count > 0
            return outcome(
                _problem(
                    "changed",
                    previous,
                    f"record seq {prev_seq} was changed: record seq {seq} "
                    f"({line.file}:{line.number}) sealed a different version of it",
                )
            )
        elif seq <= prev_seq:
            copies = [lines[i] for i in positions[seq] if i < index and lines[i].hash == line.hash]
            if copies:
                where = f"{copies[0].file}:{copies[0].number}"
                return outcome(_problem("inserted", line, f"a copy of record seq {seq} ({where})"))
            if previous is not None and seq == prev_seq and links_to == previous.prev_hash:
                # Two records claim one place; the genuine one is sealed by the record after it.
                following = lines[index + 1] if index + 1 < len(lines) else None
                genuine_is_this = following is not None and following.prev_hash == line.hash
                extra, other = (previous, line) if genuine_is_this else (line, previous)
                return outcome(
                    _problem(
                        "inserted",
                        extra,
                        f"record seq {seq} is claimed twice (also {other.file}:{other.number}); "
                        "this one is not part of the chain",
                    )
                )
            return outcome(
                _problem("reordered", line, f"record seq {seq} comes after seq {prev_seq}")
            )
        else:
            expected = prev_seq + 1
            later = [i for i in positions.get(expected, ()) if i > index]
            if later:
                moved = lines[later[0]]
                return outcome(
                    _problem(
                        "reordered",
                        line,
                        f"record seq {seq} comes before seq {expected} "
                        f"({moved.file}:{moved.number})",
                    )
                )
            missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}-{seq - 1}"
            before = "of the trail" if count == 0 and after_hash is None else f"after {prev_seq}"
            return outcome(
                _problem(
                    "removed",
                    line,
                    f"record(s) {missing} {before} are missing: removed before this line"
                    + (" (to check a later part alone, give --after-hash)" if count == 0 else ""),
                )
            )
        previous = line
        prev_seq, prev_hash = seq, line.hash
        first_seq = seq if first_seq is None else first_seq
        count += 1
    return outcome(None)


def _problem(kind: ProblemKind, line: _Line, message: str) -> Problem:
    return Problem(kind, line.file, line.number, line.seq, message)


def _read(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[_Line], tuple[TornTail, ...]]:
    lines: list[_Line] = []
    torn: list[TornTail] = []
    for path in paths:
        name = os.fspath(path)
        for number, raw, complete in _lines(Path(path)):
            if complete:
                lines.append(_parse(name, number, raw))
            else:
                torn.append(TornTail(name, len(raw)))
    return lines, tuple(torn)


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if raw.endswith(b"\n"):
                yield number, raw[:-1], True
            else:
                yield number, raw, False


def _parse(file: str, number: int, raw: bytes) -> _Line:
    try:
        record = json.loads(raw)
    except ValueError:
        return _Line(file, number, None, why="the line is not valid JSON")
    if not isinstance(record, dict):
        return _Line(file, number, None, why="the line is not a JSON object")
    seq, links_to, sealed_as = record.get("seq"), record.get("prev_hash"), record.get("hash")
    if (
        not isinstance(seq, int)
        or isinstance(seq, bool)
        or seq < 1
        or not _is_hash(links_to)
        or not _is_hash(sealed_as)
    ):
        return _Line(file, number, None, why="the line lacks a seq, prev_hash or hash")
    try:
        canonical = chain_text(record).encode("ascii")
    except ValueError:
        canonical = b""
    if canonical != raw:
        return _Line(file, number, seq, why=f"record seq {seq} is not as it was written")
    if record_hash(record) != sealed_as:
        return _Line(file, number, seq, why=f"record seq {seq} does not match its hash")
    return _Line(file, number, seq, str(links_to), str(sealed_as))


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX
