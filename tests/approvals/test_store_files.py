"""The SQLite approval store holds calls' arguments: its files are the owner's alone (0600) and
each folder toolwire makes for them 0700, whatever the umask; what already exists keeps its mode."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from toolwire.testing import process_environment, run_toolwire

from .conftest import MakeDispatcher

UMASKS = [0o022, 0o000]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    """The process's umask set for the block (files made meanwhile get what it lets through)."""
    before = os.umask(value)
    try:
        yield
    finally:
        os.umask(before)


@pytest.mark.parametrize("mask", UMASKS, ids=lambda m: f"umask-{m:03o}")
async def test_the_store_file_its_wal_and_shm_and_new_folders_are_private(
    make: MakeDispatcher, pack, tmp_path: Path, mask: int
) -> None:
    """Under a permissive umask the database, its -wal and -shm files are 0600 and the folders
    made for it 0700; the folder that already existed is untouched."""
    os.chmod(tmp_path, 0o755)
    path = tmp_path / "state" / "toolwire" / "approvals.sqlite3"
    with umask(mask):
        dispatcher = make(pack, config={"approvals": {"store": f"sqlite:///{path}"}})
        first = await dispatcher.dispatch("delete_record", {"record": "r1"})  # opens the store
        assert first.error is not None and first.error.kind == "approval_required"
        # A reader holding the database open keeps the -wal and -shm files in place.
        with contextlib.closing(sqlite3.connect(path)) as reader:
            reader.execute("SELECT count(*) FROM approvals").fetchall()
            await dispatcher.dispatch("delete_record", {"record": "r2"})
            files = {p.name: mode(p) for p in path.parent.iterdir()}
    assert files == {
        "approvals.sqlite3": 0o600,
        "approvals.sqlite3-wal": 0o600,
        "approvals.sqlite3-shm": 0o600,
    }
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    assert mode(tmp_path) == 0o755


def test_an_existing_folder_keeps_its_mode(make: MakeDispatcher, pack, tmp_path: Path) -> None:
    """A folder the user made is not chmod-ed; only the file toolwire creates in it is 0600."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o750)
    with umask(0o000):
        dispatcher = make(pack, config={"approvals": {"store": f"sqlite:///{shared / 'a.db'}"}})
        assert dispatcher.approvals_sync() == []
    assert mode(shared) == 0o750
    assert mode(shared / "a.db") == 0o600


def test_an_existing_store_others_may_read_is_logged_and_left_as_it_is(
    make: MakeDispatcher, pack, tmp_path: Path
) -> None:
    """A store file made before (0644) keeps its mode, and opening it logs a warning that
    names the file and the fix."""
    path = tmp_path / "old.sqlite3"
    path.touch()
    os.chmod(path, 0o644)
    with structlog.testing.capture_logs() as logs:
        make(pack, config={"approvals": {"store": f"sqlite:///{path}"}}).approvals_sync()
    assert mode(path) == 0o644
    (warning,) = [e for e in logs if e["event"] == "toolwire.approvals_store_exposed"]
    assert warning["log_level"] == "warning"
    assert warning["path"] == str(path) and warning["mode"] == "0o644"
    assert warning["fix"] == f"chmod 600 {path}"


def test_a_private_existing_store_logs_nothing(make: MakeDispatcher, pack, tmp_path: Path) -> None:
    """A store file that is already 0600 opens without a word."""
    path = tmp_path / "mine.sqlite3"
    make(pack, config={"approvals": {"store": f"sqlite:///{path}"}}).approvals_sync()
    with structlog.testing.capture_logs() as logs:
        make(pack, config={"approvals": {"store": f"sqlite:///{path}"}}).approvals_sync()
    assert logs == []


@pytest.mark.parametrize("mask", UMASKS, ids=lambda m: f"umask-{m:03o}")
def test_the_default_store_in_the_user_state_folder_is_private(tmp_path: Path, mask: int) -> None:
    """`toolwire approvals list` run by an operator with no store configured makes the user
    state folders 0700 and the store 0600."""
    os.chmod(tmp_path, 0o755)
    state = tmp_path / "home" / ".local" / "state"
    config = tmp_path / "toolwire.toml"
    config.write_text(textwrap.dedent("[plugins]\nautoload = false\n"))
    env = process_environment(
        drop=("TOOLWIRE_", "XDG_"), XDG_STATE_HOME=str(state), HOME=str(tmp_path / "home")
    )
    run = run_toolwire(
        "--config", config, "approvals", "list", "--json", env=env, umask=mask, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    store = state / "toolwire" / "approvals.sqlite3"
    assert mode(store) == 0o600
    for folder in (state / "toolwire", state, state.parent, state.parent.parent):
        assert mode(folder) == 0o700, folder
    assert mode(tmp_path) == 0o755  # it existed: untouched
