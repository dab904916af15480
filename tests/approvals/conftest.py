"""Fixtures for the approval tests: a pack whose gated tool leaves a trace, dispatchers, a real
Redis, and a plugin 'installed' on a PYTHONPATH for other processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import toolwire
from toolwire.testing import RedisServer, make_dispatcher, running_redis

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
    made: list[toolwire.Dispatcher] = []

    def build(*objs: Any, config: Mapping[str, Any] | None = None) -> toolwire.Dispatcher:
        config = dict(config or {})
        config.setdefault("approvals", {}).setdefault("store", "memory://")
        dispatcher = make_dispatcher(*objs, config=config)
        made.append(dispatcher)
        return dispatcher

    yield build
    for dispatcher in made:
        dispatcher.close()


# -- a real Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A Redis for one test: its approvals start empty."""
    pytest.importorskip("redis", reason="the Redis store needs toolwire[redis]")
    with running_redis() as server:
        yield server


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


@dataclass
class Host:
    """Runs Python in fresh interpreters that load the fixture pack, as restarted hosts would."""

    site: Path
    config: Path
    ledger: Path

    def environment(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLWIRE_", "PYTHON"))}
        env.update(PYTHONPATH=str(self.site), TWAPPROVAL_LEDGER=str(self.ledger), **extra)
        return env

    def script(self, body: str, args: tuple[str, ...]) -> list[str]:
        prelude = (
            "import json, sys, toolwire\n"
            f"dispatcher = toolwire.Dispatcher.from_config({str(self.config)!r})\n"
        )
        return [sys.executable, "-c", prelude + textwrap.dedent(body), *args]

    def run(self, body: str, *args: str, **env: str) -> Any:
        """Run ``body`` with ``dispatcher`` started (``args`` in ``sys.argv[1:]``); returns the
        JSON it printed last."""
        done = subprocess.run(
            self.script(body, args),
            capture_output=True,
            text=True,
            env=self.environment(**env),
            timeout=120,
            check=False,
        )
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

    def executions(self) -> list[str]:
        """The ledger's lines: one per time a tool body ran, in any process."""
        if not self.ledger.exists():
            return []
        return self.ledger.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def host_for(tmp_path: Path) -> Callable[[str], Host]:
    """A ``Host`` whose config uses the given approval store URL."""
    site = tmp_path / "site"
    dist_info = site / "twapproval_fixtures-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: twapproval-fixtures\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[toolwire]\napproval-fixtures = twapproval_fixtures:pack\n"
    )
    (site / "twapproval_fixtures.py").write_text(PLUGIN_MODULE)

    def build(store: str) -> Host:
        config = tmp_path / "toolwire.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                [plugins]
                autoload = false
                enable = ["approval-fixtures"]

                [approvals]
                store = "{store}"
                """
            )
        )
        return Host(site, config, tmp_path / "ledger.txt")

    return build
