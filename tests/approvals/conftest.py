"""Fixtures for the approval tests: a pack whose gated tool leaves a trace, dispatchers, a real
Redis, and a plugin 'installed' on a PYTHONPATH for other processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import toolwire
from toolwire._approvals._memory import MemoryStore
from toolwire._approvals._open import open_store
from toolwire._approvals._sqlite import SQLiteStore
from toolwire._approvals._store import ApprovalStore
from toolwire.testing import (
    RedisServer,
    closing_all,
    install_plugin,
    make_dispatcher,
    process_environment,
    run_process,
    running_redis,
)

from ..sites import Site, write_approvals_config

MakeDispatcher = Callable[..., toolwire.Dispatcher]


@dataclass
class Ledger:
    """What the pack's tools did, in order: one entry per time a function body ran."""

    entries: list[str]


@pytest.fixture
def ledger() -> Ledger:
    """An empty record of the pack's executions."""
    return Ledger([])


@pytest.fixture
def pack(ledger: Ledger) -> toolwire.Toolset:
    """A gated tool (``delete_record``), a destructive one and a free one, all writing to the ledger."""
    tools = toolwire.Toolset("records")

    @tools.tool(approval=True)
    def delete_record(record: str, hard: bool = False) -> str:
        """Delete a record.

        Args:
            record: Its name.
            hard: Also remove its history.
        """
        ledger.entries.append(f"delete {record} hard={hard}")
        return f"deleted {record}"

    @tools.tool(destructive=True)
    def drop_table(table: str) -> str:
        """Drop a table."""
        ledger.entries.append(f"drop {table}")
        return f"dropped {table}"

    @tools.tool
    def read_record(record: str) -> str:
        """Read a record."""
        ledger.entries.append(f"read {record}")
        return f"contents of {record}"

    return tools


@pytest.fixture
def make() -> Iterator[MakeDispatcher]:
    """Dispatchers from objects and a config mapping (a memory store unless it names one)."""

    def build(*objs: Any, config: Mapping[str, Any] | None = None) -> toolwire.Dispatcher:
        config = dict(config or {})
        config.setdefault("approvals", {}).setdefault("store", "memory://")
        return make_dispatcher(*objs, config=config)

    yield from closing_all(build)


# -- a real Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A Redis for one test: its approvals start empty."""
    pytest.importorskip("redis", reason="the Redis store needs toolwire[redis]")
    with running_redis() as server:
        yield server


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApprovalStore]:
    """Each store kind, empty."""
    made: ApprovalStore
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "a.sqlite3")
    else:
        made = open_store(request.getfixturevalue("redis_server").url)
    yield made
    made.close()


@pytest.fixture(params=["sqlite", "redis"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL that several processes share: a SQLite file, then a real Redis."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'approvals.sqlite3'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


# -- other processes ------------------------------------------------------------------------------

PLUGIN_MODULE = '''
"""A tool pack for the approval tests, as another process loads it."""

import os
import time

import toolwire

pack = toolwire.Toolset("approval-fixtures")


@pack.tool(approval=True)
def delete_record(record: str) -> str:
    """Delete a record (and write one line to $TWAPPROVAL_LEDGER each time it runs)."""
    with open(os.environ["TWAPPROVAL_LEDGER"], "a", encoding="utf-8") as ledger:
        ledger.write(f"delete {record} pid={os.getpid()}\\n")
    time.sleep(float(os.environ.get("TWAPPROVAL_SLOW", "0")))
    return f"deleted {record}"


@pack.tool
def read_record(record: str) -> str:
    """Read a record (one line to $TWAPPROVAL_LEDGER)."""
    with open(os.environ["TWAPPROVAL_LEDGER"], "a", encoding="utf-8") as ledger:
        ledger.write(f"read {record}\\n")
    return f"contents of {record}"
'''


APPROVE_AT_THE_SIGNAL = """
import time
from pathlib import Path

approval_id, name, ready, go = sys.argv[1:5]
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.001)
print(json.dumps(dispatcher.approve_sync(approval_id, by=name).to_dict()))
"""


@dataclass
class Host(Site):
    """Runs Python in fresh interpreters that load the fixture pack, as restarted hosts would."""

    def environment(self, **extra: str) -> dict[str, str]:
        return process_environment(
            drop=("TOOLWIRE_", "PYTHON"),
            pythonpath=self.site,
            TWAPPROVAL_LEDGER=str(self.ledger),
            **extra,
        )

    def script(self, body: str, args: tuple[str, ...]) -> list[str]:
        prelude = (
            "import json, sys, toolwire\n"
            f"dispatcher = toolwire.Dispatcher.from_config({str(self.config)!r})\n"
        )
        return [sys.executable, "-c", prelude + textwrap.dedent(body), *args]

    def run(self, body: str, *args: str, **env: str) -> Any:
        """Run ``body`` with ``dispatcher`` started (``args`` in ``sys.argv[1:]``); returns the
        JSON it printed last."""
        done = run_process(self.script(body, args), env=self.environment(**env))
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def start(self, body: str, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start ``body`` in the background."""
        return subprocess.Popen(
            self.script(body, args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environment(**env),
        )

    def at_once(
        self, body: str, each: Sequence[Sequence[str]], folder: Path, **env: str
    ) -> list[Any]:
        """One process per argument list runs ``body``, all at the same moment: each gets its
        arguments, then a ready file and one signal file (``sys.argv[1:]``), and waits, ready,
        for the signal. Returns the JSON each printed last, in the order of ``each``."""
        go = folder / "go"
        racers = []
        for n, args in enumerate(each):
            ready = folder / f"ready-{n}"
            racers.append((self.start(body, *args, str(ready), str(go), **env), ready))
        deadline = time.monotonic() + 60
        while not all(ready.exists() for _, ready in racers):
            assert time.monotonic() < deadline, "the racing processes did not start"
            time.sleep(0.01)
        go.touch()
        outputs = []
        for process, _ in racers:
            stdout, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr
            outputs.append(json.loads(stdout.strip().splitlines()[-1]))
        return outputs

    def approve_at_once(
        self, approval_id: str, names: Sequence[str], folder: Path, **env: str
    ) -> list[Any]:
        """One process per name approves ``approval_id``, all at the same moment (each waits,
        ready, for one signal file); returns the JSON each printed, in the order of ``names``."""
        each = [(approval_id, name) for name in names]
        return self.at_once(APPROVE_AT_THE_SIGNAL, each, folder, **env)


@pytest.fixture
def host_for(tmp_path: Path) -> Callable[[str], Host]:
    """A ``Host`` whose config uses the given approval store URL."""
    site = install_plugin(
        tmp_path / "site",
        "twapproval-fixtures",
        {"approval-fixtures": "twapproval_fixtures:pack"},
        {"twapproval_fixtures": PLUGIN_MODULE},
    )

    def build(store: str) -> Host:
        config = write_approvals_config(tmp_path, store, '"approval-fixtures"')
        return Host(site, config, tmp_path / "ledger.txt")

    return build
