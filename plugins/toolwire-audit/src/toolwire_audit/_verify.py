"""Checking a trail: every record intact, in sequence, each sealing the one before it."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal

from ._records import GENESIS, chain_text, record_hash
from ._trail import trail_files

ProblemKind = Literal["changed", "removed", "reordered", "inserted"]

#: Times the files of a trail are listed and opened again when a writer rotated it meanwhile.
_ROTATED_WHILE_OPENED: Final = 50

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class Problem:
    """The first place where the trail is not as written.

    Attributes:
        kind: ``changed`` (a record's bytes differ from what was sealed), ``removed`` (records
            are missing), ``reordered`` (records are out of order) or ``inserted`` (something
            the chain does not account for: a copy, a forged record, bytes added to a file).
        file: The file holding the record (or bytes) named.
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
    """An incomplete last line: a write cut short by a crash (``SIGKILL``, power loss), or,
    at the end of a file being written, a write still under way when it was read.

    The writer never appends after one: it sets the file aside as it is and goes on in a new
    file, whose first record lists the sizes of the incomplete lines set aside (``torn``). A
    torn tail is therefore not part of the chain and does not fail verification when it ends
    the last file given, or when the next record notes it (``noted_by``); in any other file it
    is bytes added after the fact, reported as ``inserted``.

    Attributes:
        file: The file that ends with it.
        bytes: Its size.
        noted_by: The ``seq`` of the record that notes it; ``None`` for the last file's, or
            when no record follows it (a crash again before the next record).
    """

    file: str
    bytes: int
    noted_by: int | None = None


@dataclass(frozen=True, slots=True)
class Lost:
    """Records that could not be written (a full disk, with ``required = false``), as the
    next record written says (its ``lost`` field). Not tampering: the writer logged each
    (``toolwire_audit.record_lost``) and sealed their number into the chain.

    Attributes:
        file: The file of the record that says so.
        line: Its line number.
        seq: Its sequence number.
        records: How many records were lost just before it.
    """

    file: str
    line: int
    seq: int
    records: int


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of ``verify``.

    Attributes:
        ok: No problem found.
        records: Records that verified, all before the problem, if any: a record the problem
            names, or that a problem shows forged, is never counted.
        first_seq: Sequence number of the first record that verified (``None`` without any).
        last_seq: Sequence number of the last record that verified.
        head: Hash of the last record that verified (the start hash without any): keep it
            somewhere else (an anchor); a later ``verify --after-hash`` of newer files, or a
            comparison, then proves that nothing before it was rewritten.
        problem: The first problem found, else ``None``.
        torn: Incomplete last lines that are not tampering (see ``TornTail``).
        lost: Records the trail says could not be written, among the records that verified.
    """

    ok: bool
    records: int
    first_seq: int | None
    last_seq: int | None
    head: str
    problem: Problem | None = None
    torn: tuple[TornTail, ...] = field(default_factory=tuple)
    lost: tuple[Lost, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as ``toolwire audit verify --json`` prints it."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Line:
    """What verification keeps of one complete line: where it is, and its place in the chain."""

    file: str
    number: int
    seq: int | None
    prev_hash: str = ""
    hash: str = ""
    why: str = ""  # what is wrong with it; empty for an intact record
    lost: int = 0
    torn: tuple[int, ...] = ()

    @property
    def intact(self) -> bool:
        return not self.why and self.seq is not None


@dataclass(frozen=True, slots=True)
class _Torn:
    """An incomplete last line, and whether its file is the last one given."""

    file: str
    number: int
    bytes: int
    last_file: bool


class _Checker:
    """One pass over the lines, oldest first; ``verify`` is its only user."""

    def __init__(self, lines: list[_Line], after_hash: str | None) -> None:
        self.lines = lines
        self.after_hash = after_hash
        self.start = GENESIS if after_hash is None else after_hash
        self.accepted: list[int] = []  # indexes of the lines that verified, in order
        self.by_hash: dict[str, int] = {}
        self.sealed: set[str] = set()
        self.positions: dict[int, list[int]] = {}
        for index, line in enumerate(lines):
            if line.intact and line.seq is not None:
                self.by_hash.setdefault(line.hash, index)
                self.sealed.add(line.prev_hash)
                self.positions.setdefault(line.seq, []).append(index)

    # -- where the chain stands ------------------------------------------------------------

    @property
    def previous(self) -> _Line | None:
        return self.lines[self.accepted[-1]] if self.accepted else None

    @property
    def prev_seq(self) -> int | None:
        """The last seq that verified; 0 at the trail's start; ``None`` when the start is
        ``--after-hash`` and nothing verified yet (any seq may come first)."""
        previous = self.previous
        if previous is not None:
            return previous.seq
        return 0 if self.after_hash is None else None

    @property
    def prev_hash(self) -> str:
        previous = self.previous
        return previous.hash if previous is not None else self.start

    def follows(self, line: _Line | None) -> bool:
        """Whether ``line`` is the next record of the chain as it stands."""
        if line is None or not line.intact or line.prev_hash != self.prev_hash:
            return False
        return self.prev_seq is None or line.seq == self.prev_seq + 1

    # -- what is wrong with a line that does not follow ------------------------------------

    def fault(self, index: int) -> tuple[ProblemKind, int, str]:
        """Why an intact line that does not follow is there: the kind, the index of the line
        to blame (this one, or the one before it), and the message."""
        line = self.lines[index]
        seq = line.seq
        assert seq is not None
        following = self.lines[index + 1] if index + 1 < len(self.lines) else None
        previous, prev_seq, prev_hash = self.previous, self.prev_seq, self.prev_hash
        copy_of = self.by_hash.get(line.hash, index)
        if copy_of < index:
            original = self.lines[copy_of]
            return "inserted", index, f"a copy of record seq {seq} ({_at(original)})"
        if previous is not None and seq == prev_seq and line.prev_hash == previous.prev_hash:
            # Two records claim one place; the genuine one is sealed by the record after it.
            genuine_is_this = following is not None and following.prev_hash == line.hash
            extra, other = (self.accepted[-1], line) if genuine_is_this else (index, previous)
            return (
                "inserted",
                extra,
                f"record seq {seq} is claimed twice (also {_at(other)}); this one is not "
                "part of the chain",
            )
        if (
            self.follows(following)
            and line.hash not in self.sealed
            and line.prev_hash not in self.by_hash
        ):
            assert following is not None
            return (
                "inserted",
                index,
                f"record seq {seq} is not part of the chain: no record seals it or is sealed "
                f"by it, and the next line ({_at(following)}) follows the record before it",
            )
        if line.prev_hash == prev_hash and prev_seq is not None:
            expected = prev_seq + 1
            if following is not None and following.intact and following.seq == expected + 1:
                return (
                    "changed",
                    index,
                    f"record seq {expected} was changed: it now says seq {seq}, and the record "
                    f"after it ({_at(following)}) sealed a different version of it",
                )
            return (
                "inserted",
                index,
                f"record seq {seq} seals the record before it (seq {prev_seq}) but is not "
                f"numbered {expected}: it is not part of the chain",
            )
        if prev_seq is None:
            return (
                "removed",
                index,
                f"record seq {seq} does not follow the record whose hash was given "
                f"(--after-hash {self.start[:16]}...): the records between are missing, or "
                "the hash is not that of the record just before this one",
            )
        if seq == prev_seq + 1:
            if previous is None:
                return "changed", index, "the first record does not seal the genesis hash"
            return (
                "changed",
                self.accepted[-1],
                f"record seq {prev_seq} was changed: record seq {seq} ({_at(line)}) sealed a "
                "different version of it",
            )
        if seq <= prev_seq:
            return "reordered", index, f"record seq {seq} comes after seq {prev_seq}"
        expected = prev_seq + 1
        later = [i for i in self.positions.get(expected, ()) if i > index]
        if later:
            return (
                "reordered",
                index,
                f"record seq {seq} comes before seq {expected} ({_at(self.lines[later[0]])})",
            )
        missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}-{seq - 1}"
        before = "of the trail" if previous is None else f"after {prev_seq}"
        hint = " (to check a later part alone, give --after-hash)" if previous is None else ""
        return (
            "removed",
            index,
            f"record(s) {missing} {before} are missing: removed before this line{hint}",
        )


def verify(
    paths: Sequence[str | os.PathLike[str]], *, after_hash: str | None = None
) -> Verification:
    """Check the chain across ``paths``, in the order given (rotated files oldest first:
    ``trail_files(path)`` lists a whole trail so).

    The first record must be the trail's first (``seq`` 1, sealing the genesis hash) unless
    ``after_hash`` is given: then it must seal that hash (the ``head`` an earlier
    verification of the files before it reported).

    Limits: removing records from the end of a trail (or a whole trail) leaves nothing behind
    to notice, and bytes added to the end of the last file look like a write a crash cut
    short; compare ``head`` with an anchor kept elsewhere. Anyone able to rewrite a record and
    every record after it can make a chain that verifies; keep the files, or their heads,
    where the writer cannot change them.

    Returns:
        The outcome; ``records`` and ``head`` stop before the first problem.

    Raises:
        OSError: a file cannot be read.
    """
    return _verify([(os.fspath(path), Path(path)) for path in paths], after_hash)


def _verify(sources: Sequence[tuple[str, Path | BinaryIO]], after_hash: str | None) -> Verification:
    """``verify`` of files given by name, each a path or a file already open."""
    lines, tails = _read(sources)
    checker = _Checker(lines, after_hash)
    torn: list[TornTail] = []
    pending: list[_Torn] = []  # torn tails of earlier files, for the next record to note

    def outcome(problem: Problem | None, blamed: int | None = None) -> Verification:
        kept = [i for i in checker.accepted if blamed is None or i < blamed]
        verified = [lines[i] for i in kept]
        last = verified[-1] if verified else None
        return Verification(
            problem is None,
            len(verified),
            verified[0].seq if verified else None,
            last.seq if last is not None else None,
            last.hash if last is not None else checker.start,
            problem,
            tuple(torn),
            tuple(Lost(x.file, x.number, x.seq, x.lost) for x in verified if x.seq and x.lost),
        )

    for index, line in enumerate(lines):
        for tail in tails.get(index, ()):
            if tail.last_file:
                torn.append(TornTail(tail.file, tail.bytes))
            else:
                pending.append(tail)
        if not line.intact:
            return outcome(_problem("changed", line, line.why), index)
        if not checker.follows(line):
            kind, blamed, message = checker.fault(index)
            return outcome(_problem(kind, lines[blamed], message), blamed)
        sizes = tuple(t.bytes for t in pending)
        if sizes != line.torn and (pending or checker.accepted or after_hash is None):
            if pending:
                first = pending[0]
                noted = f"notes {list(line.torn)}" if line.torn else "notes none"
                return outcome(
                    Problem(
                        "inserted",
                        first.file,
                        first.number,
                        None,
                        f"{first.bytes} byte(s) after the last complete line of {first.file} "
                        f"are not a record, and the next record (seq {line.seq}, {_at(line)}) "
                        f"does not account for them ({noted}): added after the fact",
                    )
                )
            return outcome(
                _problem(
                    "removed",
                    line,
                    f"record seq {line.seq} notes incomplete line(s) of {list(line.torn)} "
                    "byte(s) at the end of the file(s) before it, which are not there",
                ),
                index,
            )
        torn.extend(TornTail(t.file, t.bytes, line.seq) for t in pending)
        pending = []
        checker.accepted.append(index)
    for tail in [*pending, *tails.get(len(lines), ())]:
        torn.append(TornTail(tail.file, tail.bytes))
    return outcome(None)


def verify_trail(
    path: str | os.PathLike[str], *, after_hash: str | None = None
) -> tuple[Verification, list[Path]]:
    """``verify`` the whole trail written to ``path`` (``trail_files(path)``), safely while
    writers append to it and rotate it.

    The files are opened first, and the check goes on only when their names still name the
    files opened (else they are listed and opened again): so the files read are one state of
    the trail, however writers rotate it while they are read. A line being written when the
    last file is read is an incomplete last line, a note (``TornTail``), not a problem: the
    check covers every complete line read.

    Returns:
        The outcome, and the files it covers (none when there is no trail at ``path``).

    Raises:
        OSError: a file cannot be read.
    """
    files: list[Path] = []
    for _ in range(_ROTATED_WHILE_OPENED):
        files = trail_files(path)
        if not files:
            return verify([], after_hash=after_hash), []
        with contextlib.ExitStack() as stack:
            try:
                opened = [stack.enter_context(file.open("rb")) for file in files]
            except FileNotFoundError:
                continue  # renamed meanwhile
            held = [
                (f.name, *_inode(os.fstat(o.fileno()))) for f, o in zip(files, opened, strict=True)
            ]
            if held != _identities(trail_files(path)):
                continue  # rotated meanwhile
            sources = [(os.fspath(f), o) for f, o in zip(files, opened, strict=True)]
            outcome = _verify(sources, after_hash)
            if _read_while_written(outcome, files[-1]):
                continue  # the bytes of a line being appended were not there yet: read again
            return outcome, files
    return verify(files, after_hash=after_hash), files  # rotated on every try: as listed


def _read_while_written(outcome: Verification, last: Path) -> bool:
    """Whether a line of the file being appended read as no JSON while the file has grown
    since: a reader can see a new size before the bytes a writer is copying. A line that is
    really damaged reads the same again, and is reported on the next try."""
    problem = outcome.problem
    if problem is None or problem.kind != "changed" or problem.file != os.fspath(last):
        return False
    if problem.message != "the line is not valid JSON":
        return False
    time.sleep(0.05)
    return True


def _inode(status: os.stat_result) -> tuple[int, int]:
    return status.st_dev, status.st_ino


def _identities(files: Sequence[Path]) -> list[tuple[str, int, int] | None]:
    """Each file's name and inode, to tell whether a trail was rotated."""
    found: list[tuple[str, int, int] | None] = []
    for file in files:
        try:
            found.append((file.name, *_inode(os.stat(file))))
        except FileNotFoundError:
            found.append(None)
    return found


def _problem(kind: ProblemKind, line: _Line, message: str) -> Problem:
    return Problem(kind, line.file, line.number, line.seq, message)


def _at(line: _Line) -> str:
    return f"{line.file}:{line.number}"


def _read(
    sources: Sequence[tuple[str, Path | BinaryIO]],
) -> tuple[list[_Line], dict[int, list[_Torn]]]:
    """The complete lines of every file, in order, and each incomplete last line by the index
    of the complete line that comes after it."""
    lines: list[_Line] = []
    tails: dict[int, list[_Torn]] = {}
    for position, (name, source) in enumerate(sources):
        for number, raw, complete in _lines(source):
            if complete:
                lines.append(_parse(name, number, raw))
            else:
                tail = _Torn(name, number, len(raw), position == len(sources) - 1)
                tails.setdefault(len(lines), []).append(tail)
    return lines, tails


def _lines(source: Path | BinaryIO) -> Iterator[tuple[int, bytes, bool]]:
    """Each line: its number, its bytes (without the newline), and whether it is complete.

    The file is read once, to its end as it is then: a line still being written when the end
    is reached is the last one, incomplete.
    """
    with source.open("rb") if isinstance(source, Path) else contextlib.nullcontext(source) as file:
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
    if not _is_count(seq) or not _is_hash(links_to) or not _is_hash(sealed_as):
        return _Line(file, number, None, why="the line lacks a seq, prev_hash or hash")
    try:
        canonical = chain_text(record).encode("ascii")
    except ValueError:
        canonical = b""
    if canonical != raw:
        return _Line(file, number, seq, why=f"record seq {seq} is not as it was written")
    if record_hash(record) != sealed_as:
        return _Line(file, number, seq, why=f"record seq {seq} does not match its hash")
    lost = record.get("lost", 0)
    torn = record.get("torn", [])
    return _Line(
        file,
        number,
        seq,
        str(links_to),
        str(sealed_as),
        lost=lost if _is_count(lost) else 0,
        torn=tuple(torn) if isinstance(torn, list) and all(map(_is_count, torn)) else (),
    )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX
