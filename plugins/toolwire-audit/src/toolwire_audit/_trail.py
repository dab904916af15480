"""The audit file: append-only, hash-chained, rotated by size, safe for many threads at once.

Writes go straight to the file descriptor (``os.write``, no buffer in this process), so a
record that ``append`` returned is in the operating system's hands: a crash of the process,
``SIGKILL`` included, cannot lose it. ``fsync`` (per record, or at most once per interval)
decides what a crash of the machine can lose.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import toolwire

from ._records import FORMAT_VERSION, GENESIS, seal

_log = toolwire.get_logger("toolwire.audit")

FsyncMode = Literal["record", "interval"]

#: How far back from the end of a file to look for its last record, in bytes per read.
_TAIL_STEP: Final = 65536


class AuditWriteError(Exception):
    """A record could not be written (disk full, no permission, an I/O error).

    Nothing of it stays in the file: a partial write is cut off again, or, when even that
    fails, the trail goes on in a new file, so the chain is never broken by a failure.
    """


@dataclass(frozen=True, slots=True)
class TrailOptions:
    """How an ``AuditTrail`` writes.

    Attributes:
        fsync: ``"record"``: ``fsync`` after every record, before ``append`` returns (a
            crash of the machine loses nothing; costs a disk flush per record). ``"interval"``:
            at most once per ``fsync_interval``, from a thread of the trail's own (a crash of
            the machine may lose the records of the last interval; a crash of the process
            loses nothing either way).
        fsync_interval: Seconds between two syncs in ``"interval"`` mode.
        max_bytes: Rotate once the file reaches this size (0: never). The full file is renamed
            ``NAME.<first seq, 12 digits>.EXT`` and the chain goes on in a new ``NAME.EXT``.
    """

    fsync: FsyncMode = "interval"
    fsync_interval: float = 1.0
    max_bytes: int = 0


class AuditTrail:
    """Appends hash-chained records to a JSON Lines file.

    Opening continues the chain the file (or, when it is missing or empty, its newest
    rotated file) ends with. A file that ends with an incomplete line (a write cut short by a
    crash) is never appended to: it is rotated as it is, and the chain goes on in a new file
    from its last complete record. The file is locked (``flock``) while open, so a second
    process cannot interleave its own chain; within a process, share one trail per path
    (``open_trail``).

    Args:
        path: The file; created (mode 0600) if missing. Its directory must exist.
        options: fsync and rotation.

    Raises:
        OSError: the file cannot be opened or locked (``BlockingIOError``: another writer holds it).
        ValueError: the file does not end with an audit record (it is some other file).
    """

    def __init__(self, path: str | os.PathLike[str], options: TrailOptions | None = None) -> None:
        self.path: Final = Path(path)
        self.options: Final = options if options is not None else TrailOptions()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._regular = False
        self._size = 0  # bytes of complete records in the open file
        self._first_seq: int | None = None  # seq of the open file's first record
        self._broken = False  # a failed write could not be cut off: go on in a new file
        self._dirty = False
        self._closed = threading.Event()
        self.seq = 0
        self.head = GENESIS
        self.records = 0
        self.failures = 0
        self.failing = False  # the last append failed
        self._recover()
        self._syncer: threading.Thread | None = None
        if self.options.fsync == "interval":
            self._syncer = threading.Thread(
                target=self._sync_every_interval, name="toolwire-audit-fsync", daemon=True
            )
            self._syncer.start()

    # -- writing ---------------------------------------------------------------------------

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Chain and write one record; return it as written (with ``v``, ``seq``, ``time``,
        ``prev_hash`` and ``hash`` added).

        ``fields`` must be plain JSON data (no floats other than finite ones). The record is
        in the operating system's hands when this returns, and synced to disk if ``fsync`` is
        ``"record"``. Sequence numbers grow by one per record, in file order, whatever thread
        or event loop calls.

        Raises:
            AuditWriteError: the record could not be written; the trail stays usable and its
                chain intact, and the next ``append`` tries again.
        """
        with self._lock:
            if self._closed.is_set():
                raise AuditWriteError(f"the audit trail {self.path} is closed")
            seq = self.seq + 1
            record = {
                **fields,
                "v": FORMAT_VERSION,
                "seq": seq,
                "time": _now(),
            }
            line = seal(record, self.head)
            try:
                if self._broken or self._fd is None:
                    self._reopen()
                self._write(line)
                if self.options.fsync == "record":
                    os.fsync(self._fd)  # type: ignore[arg-type]  # opened above
            except OSError as exc:
                self.failures += 1
                self.failing = True
                self._undo()
                raise AuditWriteError(f"cannot write to {self.path}: {_describe(exc)}") from exc
            self.seq = seq
            self.head = record["hash"]
            self.records += 1
            self.failing = False
            self._size += len(line)
            if self._first_seq is None:
                self._first_seq = seq
            self._dirty = self.options.fsync == "interval"
            if self.options.max_bytes and self._regular and self._size >= self.options.max_bytes:
                self._rotate_quietly()
            return record

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)  # type: ignore[arg-type]  # checked by the caller
            view = view[written:]

    def _undo(self) -> None:
        """Cut a failed write off, or, if the file will not let us, leave it for a new one."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            self._broken = True

    # -- files -----------------------------------------------------------------------------

    def _recover(self) -> None:
        """Open the file and continue the chain it, or its newest rotated file, ends with."""
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            mode = None
        torn = 0
        if mode is not None and stat.S_ISREG(mode):
            last, torn, self._first_seq = _last_record(self.path)
            if last is not None:
                self.seq, self.head = last["seq"], last["hash"]
        if self.seq == 0:
            newest = _newest_rotated(self.path)
            if newest is not None:
                self.seq, self.head = newest["seq"], newest["hash"]
        if torn:
            _log.warning(
                "toolwire_audit.torn_record",
                path=str(self.path),
                bytes=torn,
                detail="the file ends with an incomplete record (a write cut short); it is kept "
                "as it is and the trail goes on in a new file",
            )
            self._rotate_file(self._first_seq or self.seq + 1)
        self._open()

    def _open(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            info = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        self._regular = stat.S_ISREG(info.st_mode)
        self._size = info.st_size if self._regular else 0
        self._broken = False

    def _reopen(self) -> None:
        """Go on in a new file after a failure left the open one with a partial record."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
            if self._broken and self._regular:
                self._rotate_file(self._first_seq or self.seq + 1)
                self._first_seq = None
        self._open()

    def _rotate_quietly(self) -> None:
        """Rotate after a write; a failure to rotate is logged and the file simply grows."""
        try:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
            self._rotate_file(self._first_seq or self.seq)
            self._first_seq = None
            self._open()
        except OSError as exc:
            _log.error("toolwire_audit.rotate_failed", path=str(self.path), error=_describe(exc))
            if self._fd is None:
                with contextlib.suppress(OSError):
                    self._open()  # the next append reopens if this failed too

    def _rotate_file(self, first_seq: int) -> None:
        os.rename(self.path, _free_name(self.path, first_seq))

    def _sync_every_interval(self) -> None:
        while not self._closed.wait(self.options.fsync_interval):
            with self._lock:
                if not self._dirty or self._fd is None:
                    continue
                try:
                    os.fsync(self._fd)
                    self._dirty = False
                except OSError as exc:
                    _log.error("toolwire_audit.fsync_failed", path=str(self.path),
                               error=_describe(exc))  # fmt: skip

    # -- the rest --------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Records written by this trail, failed writes, and the last sequence number."""
        return {"records": self.records, "failures": self.failures, "seq": self.seq}

    def close(self) -> None:
        """Sync and close the file; ``append`` then fails. Closing twice does nothing."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
        if self._syncer is not None:
            self._syncer.join()


# -- one trail per path per process ---------------------------------------------------------

_OPEN: dict[Path, tuple[AuditTrail, int]] = {}
_OPEN_LOCK = threading.Lock()


def open_trail(path: str | os.PathLike[str], options: TrailOptions) -> AuditTrail:
    """The process's trail for ``path``, opened on first use; ``release`` it when done.

    Dispatchers of one process that name the same file share one trail (one chain, one lock).

    Raises:
        ValueError: the trail is already open here with other options.
        OSError: see ``AuditTrail``.
    """
    key = Path(os.path.abspath(os.path.expanduser(path)))
    with _OPEN_LOCK:
        if key in _OPEN:
            trail, users = _OPEN[key]
            if trail.options != options:
                raise ValueError(
                    f"{key} is already written by this process with other settings "
                    f"({trail.options}); give every dispatcher the same [plugins.audit] settings"
                )
            _OPEN[key] = (trail, users + 1)
            return trail
        trail = AuditTrail(key, options)
        _OPEN[key] = (trail, 1)
        return trail


def release(trail: AuditTrail) -> None:
    """Give back a trail from ``open_trail``; the last user closes it."""
    with _OPEN_LOCK:
        entry = _OPEN.get(trail.path)
        if entry is None or entry[0] is not trail:
            trail.close()
            return
        if entry[1] > 1:
            _OPEN[trail.path] = (trail, entry[1] - 1)
            return
        del _OPEN[trail.path]
    trail.close()


# -- reading the end of a file --------------------------------------------------------------


def read_tail(path: Path) -> tuple[bytes | None, int]:
    """The last complete line of a file (without its newline) and the size of what follows it.

    What follows the last newline is an incomplete line: a write cut short.
    """
    with path.open("rb") as file:
        end = file.seek(0, os.SEEK_END)
        buffer = b""
        position = end
        while True:
            step = min(_TAIL_STEP, position)
            position -= step
            file.seek(position)
            buffer = file.read(step) + buffer
            last = buffer.rfind(b"\n")
            if last != -1:
                before = buffer.rfind(b"\n", 0, last)
                if before != -1 or position == 0:
                    return buffer[before + 1 : last], len(buffer) - last - 1
            elif position == 0:
                return None, len(buffer)


def _last_record(path: Path) -> tuple[dict[str, Any] | None, int, int | None]:
    """The file's last record, the size of an incomplete line after it, its first record's seq.

    Raises:
        ValueError: the last complete line is not an audit record.
    """
    line, torn = read_tail(path)
    if line is None:
        return None, torn, None
    last = _as_record(line, path)
    with path.open("rb") as file:
        first = file.readline().rstrip(b"\n")
    try:
        # Only names the file when it is rotated: a first line that was tampered with is for
        # verify to report, not a reason to refuse to go on.
        first_seq = _as_record(first, path)["seq"]
    except ValueError:
        first_seq = None
    return last, torn, first_seq


def _as_record(line: bytes, path: Path) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("seq"), int)
        or not isinstance(record.get("hash"), str)
    ):
        raise ValueError(
            f"{path} does not hold audit records (a line is not one); move it away or give "
            "[plugins.audit] path another file"
        )
    return record


def rotated_files(path: Path) -> list[Path]:
    """The rotated files of ``path`` (``NAME.<seq>[-n].EXT``), in the order to verify them."""
    pattern = re.compile(
        rf"^{re.escape(path.stem)}\.(\d{{12}})(?:-(\d+))?{re.escape(path.suffix)}$"
    )
    found: list[tuple[int, int, Path]] = []
    with contextlib.suppress(FileNotFoundError):
        for candidate in path.parent.iterdir():
            match = pattern.match(candidate.name)
            if match is not None:
                found.append((int(match[1]), int(match[2] or 0), candidate))
    return [p for _, _, p in sorted(found)]


def _newest_rotated(path: Path) -> dict[str, Any] | None:
    newest: dict[str, Any] | None = None
    for candidate in rotated_files(path):
        line, _ = read_tail(candidate)
        if line is None:
            continue
        record = _as_record(line, candidate)
        if newest is None or record["seq"] > newest["seq"]:
            newest = record
    return newest


def _free_name(path: Path, first_seq: int) -> Path:
    name = path.with_name(f"{path.stem}.{first_seq:012d}{path.suffix}")
    counter = 0
    while name.exists():
        counter += 1
        name = path.with_name(f"{path.stem}.{first_seq:012d}-{counter}{path.suffix}")
    return name


def _now() -> str:
    """UTC, RFC 3339 with microseconds: ``2026-11-30T12:34:56.789012Z``."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _describe(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
