"""The audit file: append-only, hash-chained, rotated by size, shared by any number of
processes and threads.

Every append takes the trail's lock (``flock`` on ``PATH.lock``) only while it reads the
chain's last record and writes its own: the line goes out in one ``os.write`` (no buffer in
this process), so a record that ``append`` returned is in the operating system's hands and a
crash of the process, ``SIGKILL`` included, cannot lose it. ``fsync`` (per record, or at
most once per interval) decides what a crash of the machine can lose.
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
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, NoReturn

import toolwire

from ._records import FORMAT_VERSION, GENESIS, seal

_log = toolwire.get_logger("toolwire.audit")

FsyncMode = Literal["record", "interval"]

#: How far back from the end of a file to look for its last record, in bytes, on the first
#: read (doubled on each further one).
_TAIL_STEP: Final = 4096

#: Files set aside in a row (each ending with an incomplete line) before an append gives up.
_SET_ASIDE_ATTEMPTS: Final = 8


class AuditWriteError(Exception):
    """A record could not be written (disk full, no permission, another process kept the
    trail's lock past ``lock_timeout``, an I/O error).

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
        lock_timeout: Seconds an append waits for the trail's lock while another process
            holds it (each holds it for one record); past it the record is not written
            (``AuditWriteError``).
    """

    fsync: FsyncMode = "interval"
    fsync_interval: float = 1.0
    max_bytes: int = 0
    lock_timeout: float = 10.0


class AuditTrail:
    """Appends hash-chained records to a JSON Lines file that any number of processes share.

    Making one touches nothing on disk: the file is opened on the first ``append`` (or
    ``check_writable``), so a process that only reads its config (``toolwire tools``) never
    creates, locks or renames anything. Each append takes the trail's lock (``flock`` on
    ``PATH.lock``, beside the file, created 0600 and never renamed) for as long as it reads
    where the chain stands, writes its one line and, at ``max_bytes``, rotates: so writers in
    any number of processes interleave whole records, and each record seals the one written
    just before it, whoever wrote that. Within a process, share one trail per path
    (``open_trail``): threads queue on its own lock.

    A file that ends with an incomplete line (a write cut short by a crash) is never appended
    to: the next writer sets it aside as it is (renamed like a rotated file) and the chain goes
    on in a new file, whose first record lists the size of each incomplete line set aside
    (``torn``), so that ``verify`` can tell them from bytes added later. Records that could
    not be written (``note_lost``) are counted by the next record written (``lost``).

    Args:
        path: The file; created (mode 0600) if missing. Its directory must exist.
        options: fsync, rotation and how long to wait for the lock.
    """

    def __init__(self, path: str | os.PathLike[str], options: TrailOptions | None = None) -> None:
        self.path: Final = Path(path)
        self.lock_path: Final = lock_path_of(self.path)
        self.options: Final = options if options is not None else TrailOptions()
        self._lock = threading.Lock()
        self._clock = _Clock()
        self._fd: int | None = None  # the file, for appending and reading its tail
        self._lock_fd: int | None = None  # PATH.lock, whose flock every writer takes
        self._lock_id = (0, 0)  # that file's (st_dev, st_ino): which file it is, read once
        self._waiter: _Waiter | None = None  # a thread still queued for the lock
        self._known = False  # the chain's place was read from disk once (not only GENESIS)
        self._size = 0  # the file's size when this process last looked, under the lock
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
        ``"record"``. Sequence numbers grow by one per record, in file order, whatever
        process, thread or event loop writes. The first call opens the file.

        Raises:
            AuditWriteError: the record could not be written (the lock stayed taken past
                ``lock_timeout`` included); the trail stays usable and its chain intact, and
                the next ``append`` tries again.
        """
        with self._lock:
            self._exclusive()
            try:
                return self._append_locked(fields)
            finally:
                self._release_lock()

    def _append_locked(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``append``'s work, under both locks."""
        seq = self.seq + 1
        record = {**fields, "v": FORMAT_VERSION, "seq": seq, "time": self._clock.now()}
        if self._unwritten:
            record["lost"] = self._unwritten
        if self._torn:
            record["torn"] = list(self._torn)
        line = seal(record, self.head)
        try:
            self._write(line)
            if self.options.fsync == "record":
                os.fsync(self._fd)  # type: ignore[arg-type]  # opened by _exclusive
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
        self._dirty = self.options.fsync == "interval"
        if self.options.max_bytes and self._size >= self.options.max_bytes:
            self._rotate_quietly()
        return record

    def check_writable(self) -> None:
        """Make sure a record can be written now, without writing one.

        Opens the file if it is not open yet and takes the lock once (so a lock another
        process keeps past ``lock_timeout`` is found before a call runs, not after). While the
        last write failed (a full disk), it writes as many bytes as the last record took and
        cuts them off again, under the lock: space that came back is found by the next call,
        not only by a record.

        Raises:
            AuditWriteError: the file cannot be opened, locked or written.
        """
        with self._lock:
            self._exclusive()
            try:
                if not self.failing:
                    return
                try:
                    self._write(b" " * self._probe_bytes)
                    os.ftruncate(self._fd, self._size)  # type: ignore[arg-type]  # opened
                except OSError as exc:
                    self._failed(exc)
            finally:
                self._release_lock()

    def note_lost(self, count: int = 1) -> None:
        """Count records that could not be written; the next record written says how many
        (``lost``), so the chain shows the loss."""
        with self._lock:
            self.lost += count
            self._unwritten += count

    def _exclusive(self) -> None:
        """Take the trail's lock, with the file open and the chain's place read from it; the
        caller lets go with ``_release_lock``, in a ``finally``.

        Raises:
            AuditWriteError: the trail is closed, or the lock, the file or its last record
                cannot be had (the lock is not held then).
        """
        if self._closed.is_set():
            raise AuditWriteError(f"the audit trail {self.path} is closed")
        try:
            self._take_lock()
        except OSError as exc:
            self._release_lock()  # taken, if it was, before a later step failed
            self.failures += 1
            self.failing = True
            raise AuditWriteError(f"cannot write to {self.path}: {_describe(exc)}") from exc
        try:
            self._catch_up()
        except (OSError, ValueError) as exc:
            self._release_lock()
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
        # One write of the whole line: under O_APPEND it lands at the end as one piece.
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

    # -- the lock ----------------------------------------------------------------------------

    def _take_lock(self) -> None:
        """Take ``PATH.lock``'s ``flock``, waiting at most ``lock_timeout`` seconds.

        Raises:
            OSError: the lock file cannot be opened, or another process kept the lock.
        """
        deadline = time.monotonic() + self.options.lock_timeout
        while True:
            if self._lock_fd is None:
                self._lock_fd = _open_regular(self.lock_path, os.O_RDWR)
                self._lock_id = _identity(os.fstat(self._lock_fd))
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                taken = self._queue(deadline)
                self._close_lock()  # it holds nothing
                self._lock_fd = taken  # kept first: it holds the lock, whatever comes next
                self._lock_id = _identity(os.fstat(taken))
            if _is_at(self._lock_id, self.lock_path):
                return
            # Removed or replaced meanwhile: the lock that counts is the file there now.
            self._close_lock()

    def _queue(self, deadline: float) -> int:
        """Wait in the kernel's queue for the lock (a blocking ``flock``, on a thread), so
        that the waiters get it in turn as each writer lets go, at most until ``deadline``.

        Returns:
            A descriptor of the lock file that holds the lock.

        Raises:
            LockTimeout: not taken by ``deadline``; the waiting thread goes on waiting (the
                next append waits on it again) and lets go of the lock if it gets it unwanted.
        """
        while True:
            waiter = self._waiter
            if waiter is None or waiter.gone:
                waiter = self._waiter = _Waiter(self.lock_path)
            fd = waiter.take(max(0.0, deadline - time.monotonic()))
            if fd is not None:
                self._waiter = None
                return fd
            if not waiter.gone:
                raise LockTimeout(self.lock_path, self.options.lock_timeout)
            # It got the lock just as it was given up, and let go: queue again.

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            except OSError:
                self._close_lock()  # closing lets go of it too

    def _close_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- files (under the lock) -------------------------------------------------------------

    def _catch_up(self) -> None:
        """Open the file (again, when another writer rotated or set it aside, or a failed
        write left it unusable) and learn where the chain stands: another process may have
        appended since this one last looked. A file that ends with an incomplete line is set
        aside and the chain goes on in a new one.

        Raises:
            OSError: the file cannot be opened or read, or is not a regular file.
            ValueError: the file does not end with an audit record.
        """
        for _ in range(_SET_ASIDE_ATTEMPTS):
            mine = None
            if self._fd is not None:
                mine = os.fstat(self._fd)
                if self._broken or not _is_file_at(mine, self.path):
                    self._close_file()
                    mine = None
            if self._fd is None:
                self._fd = _open_regular(self.path, os.O_RDWR | os.O_APPEND)
                self._broken = False
                self._size = -1  # not looked at yet
            size = (mine or os.fstat(self._fd)).st_size
            if size == self._size and self._known:
                return  # nobody wrote since this process did
            line, torn = _tail(self._fd, size)
            last = _as_record(line, self.path) if line is not None else None
            if torn:
                self._set_aside(last, torn)
                continue
            if last is not None:
                self.seq, self.head = last["seq"], last["hash"]
            else:
                # An empty file: a new trail, or the one after a rotation or a set-aside.
                newest = _newest_rotated(self.path)
                if newest is not None and (not self._known or newest["seq"] > self.seq):
                    self.seq, self.head = newest["seq"], newest["hash"]
                # Else GENESIS for a new trail; or, when the file was removed, the chain goes
                # on from what this process knew, so that verify shows the gap.
            self._known = True
            self._size = size
            return
        raise OSError(errno.EAGAIN, "the file kept ending with an incomplete line")

    def _set_aside(self, last: dict[str, Any] | None, torn: int) -> None:
        """Rename a file that ends with an incomplete line as it is; the next one notes it."""
        assert self._fd is not None
        _log.warning(
            "toolwire_audit.torn_record",
            path=str(self.path),
            bytes=torn,
            detail="the file ends with an incomplete record (a write cut short); it is set "
            "aside as it is, and the trail goes on in a new file",
        )
        known = last["seq"] if last is not None else self._known_seq()
        first = _first_seq(self._fd, self.path)
        os.rename(self.path, _free_name(self.path, first or known + 1))
        self._torn.append(torn)
        self._close_file()

    def _known_seq(self) -> int:
        if self._known:
            return self.seq
        newest = _newest_rotated(self.path)
        return newest["seq"] if newest is not None else 0

    def _close_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _rotate_quietly(self) -> None:
        """Rotate after a write, under the lock; a failure to rotate is logged and the file
        simply grows."""
        try:
            assert self._fd is not None  # a record was just written to it
            os.fsync(self._fd)
            first = _first_seq(self._fd, self.path)
            os.rename(self.path, _free_name(self.path, first or self.seq))
        except (OSError, ValueError) as exc:
            _log.error("toolwire_audit.rotate_failed", path=str(self.path), error=_describe(exc))
            return
        self._dirty = False
        self._close_file()
        with contextlib.suppress(OSError):  # else the next append opens it, or says why not
            self._fd = _open_regular(self.path, os.O_RDWR | os.O_APPEND)
            self._broken = False
            self._size = 0  # empty, and the chain's place is the record just written

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
            record written next; ``seq``: the last sequence number this process wrote or read
            (0 before the first write).
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
            self._close_file()
            self._close_lock()
            if self._waiter is not None:
                self._waiter.give_up()
                self._waiter = None
        if self._syncer is not None:
            self._syncer.join()


class _Waiter:
    """A thread queued for the trail's lock: a blocking ``flock`` on a descriptor of its own.

    ``take`` waits for it with a timeout; a waiter given up on lets go of the lock as soon as
    it gets it (closing its descriptor), unless a later ``take`` wants it again first.
    """

    def __init__(self, lock_path: Path) -> None:
        self.fd: int | None = _open_regular(lock_path, os.O_RDWR)
        self.error: OSError | None = None
        self.wanted = True
        self.gone = False  # it let go (unwanted) or failed: the next wait needs a new one
        self._done = threading.Event()
        self._guard = threading.Lock()
        threading.Thread(target=self._wait, name="toolwire-audit-lock", daemon=True).start()

    def _wait(self) -> None:
        assert self.fd is not None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            self.error = exc
        with self._guard:
            if not self.wanted or self.error is not None:
                with contextlib.suppress(OSError):
                    os.close(self.fd)  # lets go of the lock
                self.fd = None
                self.gone = True
            self._done.set()

    def take(self, timeout: float) -> int | None:
        """The descriptor holding the lock, once taken; ``None`` after ``timeout`` seconds,
        or when it let go of the lock just before (``gone``).

        Raises:
            OSError: ``flock`` failed.
        """
        with self._guard:
            self.wanted = True
        taken = self._done.wait(timeout)
        with self._guard:
            if not taken and not self._done.is_set():
                self.wanted = False
                return None
        if self.error is not None:
            raise self.error
        return self.fd

    def give_up(self) -> None:
        with self._guard:
            self.wanted = False
            if self._done.is_set() and self.fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self.fd)
                self.fd = None


class LockTimeout(OSError):
    """Another process kept the trail's lock longer than ``lock_timeout``."""

    def __init__(self, lock_path: Path, timeout: float) -> None:
        super().__init__(
            errno.EAGAIN,
            f"another process has held the trail's lock ({lock_path}) for more than "
            f"{timeout:g} s (a writer stopped while appending?); calls wait at most "
            "[plugins.audit] lock_timeout seconds for it",
        )


# -- one trail per path per process ---------------------------------------------------------

_OPEN: dict[Path, tuple[AuditTrail, int]] = {}
_OPEN_LOCK = threading.Lock()


def open_trail(path: str | os.PathLike[str], options: TrailOptions) -> AuditTrail:
    """The process's trail for ``path`` (made on first use; the file is opened on its first
    write); ``release`` it when done.

    Dispatchers of one process that name the same file share one trail (one open file, its
    threads queued on one lock); other processes writing the file have trails of their own.

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
        holds something other than audit records; its lock file (``PATH.lock``) cannot be
        made or opened. Empty when the path is fine.
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
        return _lock_problems(file)
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
    return _lock_problems(file)


def _lock_problems(file: Path) -> list[str]:
    """What stops the trail's lock file (``PATH.lock``) from being opened and locked."""
    lock = lock_path_of(file)
    try:
        mode = os.stat(lock).st_mode
    except FileNotFoundError:
        if not os.access(file.parent, os.W_OK | os.X_OK):
            return [
                f"the directory {file.parent} cannot be written (no permission), and the "
                f"trail's lock file {lock.name} must be created there"
            ]
        return []
    except OSError as exc:
        return [f"the trail's lock file {lock} cannot be read: {_describe(exc)}"]
    if not stat.S_ISREG(mode):
        return [f"the trail's lock file {lock} is {_kind_of(mode)}; remove it (it is recreated)"]
    if not os.access(lock, os.R_OK | os.W_OK):
        return [f"the trail's lock file {lock} cannot be opened (no permission)"]
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


def lock_path_of(path: str | os.PathLike[str]) -> Path:
    """The lock file of the trail written to ``path``: ``PATH.lock``, beside it."""
    file = Path(path)
    return file.with_name(file.name + ".lock")


def _open_regular(path: Path, flags: int) -> int:
    """Open ``path`` (created 0600 if missing); only a regular file is kept.

    ``O_NONBLOCK``: a FIFO put in the file's place fails at once rather than waiting for a
    peer.

    Raises:
        OSError: the file cannot be opened, or is not a regular file.
    """
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"{path.name} is {_kind_of(mode)}, not a regular file")
    except OSError:
        os.close(fd)
        raise
    return fd


def _identity(found: os.stat_result) -> tuple[int, int]:
    """Which file ``found`` describes: its device and inode."""
    return found.st_dev, found.st_ino


def _is_file_at(mine: os.stat_result, path: Path) -> bool:
    """Whether the file ``mine`` describes is the one at ``path`` now."""
    return _is_at(_identity(mine), path)


def _is_at(identity: tuple[int, int], path: Path) -> bool:
    """Whether the file of this ``identity`` is the one at ``path`` now."""
    try:
        return _identity(os.stat(path)) == identity
    except FileNotFoundError:
        return False


# -- reading the end of a file --------------------------------------------------------------


def read_tail(path: Path) -> tuple[bytes | None, int]:
    """The last complete line of a file (without its newline) and the size of what follows it.

    What follows the last newline is an incomplete line: a write cut short (or, in a file
    being written, a write under way).
    """
    with path.open("rb") as file:
        fd = file.fileno()
        return _tail(fd, os.fstat(fd).st_size)


def _tail(fd: int, size: int) -> tuple[bytes | None, int]:
    """``read_tail`` of the first ``size`` bytes of an open file."""
    buffer = b""
    position = size
    step = _TAIL_STEP
    while True:
        take = min(step, position)
        position -= take
        buffer = os.pread(fd, take, position) + buffer
        step *= 2
        last = buffer.rfind(b"\n")
        if last != -1:
            before = buffer.rfind(b"\n", 0, last)
            if before != -1 or position == 0:
                return buffer[before + 1 : last], len(buffer) - last - 1
        elif position == 0:
            return None, len(buffer)


def _first_seq(fd: int, path: Path) -> int | None:
    """The ``seq`` of an open file's first record; ``None`` when it cannot be read as one.

    It only names a file that is set aside or rotated: a first line that was tampered with is
    for ``verify`` to report, not a reason to stop writing.
    """
    buffer = b""
    while b"\n" not in buffer:
        chunk = os.pread(fd, _TAIL_STEP, len(buffer))
        if not chunk:
            return None
        buffer += chunk
    try:
        seq = _as_record(buffer.partition(b"\n")[0], path)["seq"]
    except ValueError:
        return None
    return seq if isinstance(seq, int) else None


def _last_record(path: Path) -> dict[str, Any] | None:
    """The file's last complete record (``None`` for none).

    Raises:
        ValueError: the last complete line is not an audit record.
    """
    line, _ = read_tail(path)
    return None if line is None else _as_record(line, path)


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


class _Clock:
    """UTC as a record's ``time``: RFC 3339 with microseconds, ``2026-11-30T12:34:56.789012Z``.

    The text up to the second is formatted once per second (``strftime`` costs more than the
    rest of a record's fields together), and kept by the trail that writes it.
    """

    __slots__ = ("_second_text",)

    def __init__(self) -> None:
        self._second_text: tuple[int, str] = (-1, "")  # replaced whole: never read half

    def now(self) -> str:
        second, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
        known, text = self._second_text
        if known != second:
            moment = datetime.datetime.fromtimestamp(second, datetime.UTC)
            text = moment.strftime("%Y-%m-%dT%H:%M:%S")
            self._second_text = (second, text)
        return f"{text}.{nanoseconds // 1000:06d}Z"


def _describe(exc: OSError | ValueError) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)
