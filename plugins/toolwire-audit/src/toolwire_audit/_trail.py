"""The audit file: append-only, hash-chained, rotated by size, safe for many threads at once.

Writes go straight to the file descriptor (``os.write``, no buffer in this process), so a
record that ``append`` returned is in the operating system's hands: a crash of the process,
``SIGKILL`` included, cannot lose it. ``fsync`` (per record, or at most once per interval)
decides what a crash of the machine can lose.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import re
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, NoReturn

import toolwire

from ._records import FORMAT_VERSION, GENESIS, seal

_log = toolwire.get_logger("toolwire.audit")

FsyncMode = Literal["record", "interval"]

#: How far back from the end of a file to look for its last record, in bytes per read.
_TAIL_STEP: Final = 65536

#: Tries to open and lock the file while another writer keeps renaming it (rotation).
_OPEN_ATTEMPTS: Final = 8


class AuditWriteError(Exception):
    """A record could not be written (disk full, no permission, another process holds the
    file, an I/O error).

    Nothing of it stays in the file: a partial write is cut off again, or, when even that
    fails, the file is set aside as it is and the trail goes on in a new one, so the chain is
    never broken by a failure.
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

    Making one touches nothing on disk: the file is opened, locked and read on the first
    ``append`` (or ``check_writable``), so a process that only reads its config (``toolwire
    tools``) never locks, creates or renames a trail. Opening takes the file's lock
    (``flock``), then continues the chain the file (or, when it is missing or empty, its
    newest rotated file) ends with, so a second process cannot interleave a chain of its own;
    within a process, share one trail per path (``open_trail``).

    A file that ends with an incomplete line (a write cut short by a crash) is never appended
    to: it is set aside as it is (renamed like a rotated file) and the chain goes on in a new
    file, whose first record lists the size of each incomplete line set aside (``torn``), so
    that ``verify`` can tell them from bytes added later. Records that could not be written
    (``note_lost``) are counted by the next record written (``lost``).

    Args:
        path: The file; created (mode 0600) if missing. Its directory must exist.
        options: fsync and rotation.
    """

    def __init__(self, path: str | os.PathLike[str], options: TrailOptions | None = None) -> None:
        self.path: Final = Path(path)
        self.options: Final = options if options is not None else TrailOptions()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._opened = False  # once opened, the chain's place is known here, not only on disk
        self._size = 0  # bytes of complete records in the open file
        self._first_seq: int | None = None  # seq of the open file's first record
        self._broken = False  # a failed write could not be cut off: go on in a new file
        self._dirty = False
        self._closed = threading.Event()
        self._syncer: threading.Thread | None = None
        self._probe_bytes = 512  # the size of the last record: what a probe writes
        self._torn: list[int] = []  # incomplete lines set aside since the last record
        self._unwritten = 0  # records lost since the last record written
        self.seq = 0
        self.head = GENESIS
        self.records = 0
        self.failures = 0
        self.lost = 0
        self.failing = False  # the last write failed

    # -- writing ---------------------------------------------------------------------------

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Chain and write one record; return it as written (with ``v``, ``seq``, ``time``,
        ``prev_hash`` and ``hash`` added, and ``lost`` and ``torn`` when there is something to
        say).

        ``fields`` must be plain JSON data (no floats other than finite ones). The record is
        in the operating system's hands when this returns, and synced to disk if ``fsync`` is
        ``"record"``. Sequence numbers grow by one per record, in file order, whatever thread
        or event loop calls. The first call opens the file.

        Raises:
            AuditWriteError: the record could not be written; the trail stays usable and its
                chain intact, and the next ``append`` tries again.
        """
        with self._lock:
            self._ready()
            seq = self.seq + 1
            record = {**fields, "v": FORMAT_VERSION, "seq": seq, "time": _now()}
            if self._unwritten:
                record["lost"] = self._unwritten
            if self._torn:
                record["torn"] = list(self._torn)
            line = seal(record, self.head)
            try:
                self._write(line)
                if self.options.fsync == "record":
                    os.fsync(self._fd)  # type: ignore[arg-type]  # opened by _ready
            except OSError as exc:
                self._failed(exc)
            self.seq = seq
            self.head = record["hash"]
            self.records += 1
            self.failing = False
            self._unwritten = 0
            self._torn = []
            self._size += len(line)
            self._probe_bytes = len(line)
            if self._first_seq is None:
                self._first_seq = seq
            self._dirty = self.options.fsync == "interval"
            if self.options.max_bytes and self._size >= self.options.max_bytes:
                self._rotate_quietly()
            return record

    def check_writable(self) -> None:
        """Make sure a record can be written now, without writing one.

        Opens the file if it is not open yet. While the last write failed (a full disk), it
        writes as many bytes as the last record took and cuts them off again: space that came
        back is found by the next call, not only by a record.

        Raises:
            AuditWriteError: the file cannot be opened or written.
        """
        with self._lock:
            self._ready()
            if not self.failing:
                return
            try:
                self._write(b" " * self._probe_bytes)
                os.ftruncate(self._fd, self._size)  # type: ignore[arg-type]  # opened by _ready
            except OSError as exc:
                self._failed(exc)

    def note_lost(self, count: int = 1) -> None:
        """Count records that could not be written; the next record written says how many
        (``lost``), so the chain shows the loss."""
        with self._lock:
            self.lost += count
            self._unwritten += count

    def _ready(self) -> None:
        """Open the file now if it is not open (or a failure left it unusable)."""
        if self._closed.is_set():
            raise AuditWriteError(f"the audit trail {self.path} is closed")
        if self._fd is not None and not self._broken:
            return
        try:
            if self._fd is not None:
                # A failed write that could not be cut off: its bytes are an incomplete line,
                # which opening again sets aside like a crash's.
                fd, self._fd = self._fd, None
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._open()
        except (OSError, ValueError) as exc:
            self.failures += 1
            self.failing = True
            raise AuditWriteError(f"cannot write to {self.path}: {_describe(exc)}") from exc
        if self._syncer is None and self.options.fsync == "interval":
            self._syncer = threading.Thread(
                target=self._sync_every_interval, name="toolwire-audit-fsync", daemon=True
            )
            self._syncer.start()

    def _failed(self, exc: OSError) -> NoReturn:
        self.failures += 1
        self.failing = True
        self._undo()
        raise AuditWriteError(f"cannot write to {self.path}: {_describe(exc)}") from exc

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

    def _open(self) -> None:
        """Open and lock the file, then learn where the chain stands (under the lock, so no
        other writer can move it meanwhile); set aside a file that ends with an incomplete
        line.

        Raises:
            OSError: the file cannot be opened or locked, or is not a regular file.
            ValueError: the file does not end with an audit record.
        """
        for _ in range(_OPEN_ATTEMPTS):
            fd = _open_locked(self.path)
            try:
                if not _same_file(fd, self.path):  # renamed between open and lock
                    os.close(fd)
                    continue
                last, torn, first_seq = _last_record(self.path)
                if not torn:
                    break
                _log.warning(
                    "toolwire_audit.torn_record",
                    path=str(self.path),
                    bytes=torn,
                    detail="the file ends with an incomplete record (a write cut short); it is "
                    "set aside as it is, and the trail goes on in a new file",
                )
                known = last["seq"] if last is not None else self._known_seq()
                os.rename(self.path, _free_name(self.path, first_seq or known + 1))
                self._torn.append(torn)
                os.close(fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise
        else:
            raise OSError(errno.EAGAIN, "the file kept being renamed while it was opened")
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._broken = False
        self._first_seq = first_seq
        if last is not None:
            self.seq, self.head = last["seq"], last["hash"]
        elif not self._opened:
            newest = _newest_rotated(self.path)
            if newest is not None:
                self.seq, self.head = newest["seq"], newest["hash"]
        self._opened = True

    def _known_seq(self) -> int:
        if self._opened:
            return self.seq
        newest = _newest_rotated(self.path)
        return newest["seq"] if newest is not None else 0

    def _rotate_quietly(self) -> None:
        """Rotate after a write; a failure to rotate is logged and the file simply grows."""
        try:
            assert self._fd is not None  # a record was just written to it
            os.fsync(self._fd)
            os.rename(self.path, _free_name(self.path, self._first_seq or self.seq))
        except OSError as exc:
            _log.error("toolwire_audit.rotate_failed", path=str(self.path), error=_describe(exc))
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.close(fd)
        self._first_seq = None
        with contextlib.suppress(OSError, ValueError):
            self._open()  # else the next append opens it, or reports why it cannot

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
        """What this trail did in this process.

        Returns:
            ``records`` written; ``failures`` (writes, and opens, that failed); ``lost``:
            records given up on (``note_lost``), each counted in the ``lost`` field of the
            record written next; ``seq``: the last sequence number (0 before the first write).
        """
        with self._lock:
            return {
                "records": self.records,
                "failures": self.failures,
                "lost": self.lost,
                "seq": self.seq,
            }

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
    """The process's trail for ``path`` (made on first use; the file is opened on its first
    write); ``release`` it when done.

    Dispatchers of one process that name the same file share one trail (one chain, one lock).

    Raises:
        ValueError: the trail is already open here with other options.
    """
    key = _key(path)
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


def stats(path: str | os.PathLike[str]) -> dict[str, int]:
    """The ``stats()`` of the trail this process writes to ``path``: shared by every
    dispatcher whose ``[plugins.audit] path`` names that file.

    For a host that loads the plugin through its entry point (``Dispatcher.from_config``)
    and so holds no ``AuditPlugin`` of its own.

    Returns:
        ``records``, ``failures``, ``lost`` and ``seq`` (see ``AuditTrail.stats``).

    Raises:
        KeyError: no dispatcher of this process writes to that file (none configured, or all
            closed).
    """
    key = _key(path)
    with _OPEN_LOCK:
        entry = _OPEN.get(key)
    if entry is None:
        raise KeyError(f"no audit trail is open for {key} in this process")
    return entry[0].stats()


def _key(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(os.path.expanduser(path)))


# -- checking a path without touching it ----------------------------------------------------


def check_path(path: str | os.PathLike[str]) -> list[str]:
    """What stops ``path`` from holding a trail, found without opening it for writing,
    locking, creating or renaming anything (a process that only reads its config may call it
    while another one writes the trail).

    Returns:
        Problems, each a sentence: the directory is missing; the path is not a regular file (a
        directory, a FIFO, a device such as ``/dev/null``, a socket); it cannot be written; it
        holds something other than audit records. Empty when the path is fine.
    """
    file = Path(os.path.expanduser(path))
    if not file.parent.is_dir():
        return [f"the directory {file.parent} does not exist"]
    try:
        mode = os.stat(file).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        return [f"{file} cannot be read: {_describe(exc)}"]
    if mode is None:
        if not os.access(file.parent, os.W_OK | os.X_OK):
            return [f"the directory {file.parent} cannot be written (no permission)"]
        return []
    if not stat.S_ISREG(mode):
        return [
            f"{file} is {_kind_of(mode)}, not a regular file; name a file (it is created if "
            "missing)"
        ]
    if not os.access(file, os.W_OK):
        return [f"{file} cannot be written (no permission)"]
    try:
        _last_record(file)
    except ValueError as exc:
        return [str(exc)]
    except OSError as exc:
        return [f"{file} cannot be read: {_describe(exc)}"]
    return []


def trail_files(path: str | os.PathLike[str]) -> list[Path]:
    """Every file of the trail written to ``path``, in the order to verify them: its rotated
    (and set-aside) files oldest first, then ``path`` itself when it exists."""
    file = Path(path)
    return [*rotated_files(file), *([file] if file.is_file() else [])]


def _kind_of(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _open_locked(path: Path) -> int:
    """Open ``path`` for appending (created 0600 if missing) and take its lock.

    ``O_NONBLOCK``: a FIFO put in the file's place fails at once rather than waiting for a
    reader. Only a regular file is kept.

    Raises:
        BlockingIOError: another process holds the lock.
        OSError: the file cannot be opened, or is not a regular file.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
    fd = os.open(path, flags, 0o600)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"it is {_kind_of(mode)}, not a regular file")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


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
    """The rotated files of ``path`` (``NAME.<seq>[-n].EXT``), in the order to verify them.

    Only regular files count: nothing else is read.
    """
    pattern = re.compile(
        rf"^{re.escape(path.stem)}\.(\d{{12}})(?:-(\d+))?{re.escape(path.suffix)}$"
    )
    found: list[tuple[int, int, Path]] = []
    with contextlib.suppress(FileNotFoundError):
        for candidate in path.parent.iterdir():
            match = pattern.match(candidate.name)
            if match is not None and candidate.is_file():
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


def _describe(exc: OSError | ValueError) -> str:
    if isinstance(exc, BlockingIOError):
        return (
            "it is being written by another process (it holds the file's lock); give each "
            "process a file of its own"
        )
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)
