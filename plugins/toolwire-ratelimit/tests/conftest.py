"""Fixtures: a tool pack with limits, dispatchers built from a config file, a real Redis."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import toolwire
import toolwire_ratelimit
from toolwire.testing import RedisServer, closing_all, running_redis

MakeDispatcher = Callable[..., toolwire.Dispatcher]


def limited_pack() -> toolwire.Toolset:
    """Two tools: one limited to 3 calls a minute in code, one without a limit."""
    pack = toolwire.Toolset("limited")

    @pack.tool(rate_limit="3/minute")
    def lookup(query: str = "") -> str:
        """Look something up.

        Args:
            query: What to look for.
        """
        return f"found {query}"

    @pack.tool
    async def free() -> str:
        """A tool with no limit."""
        return "free"

    return pack


@pytest.fixture
def make(tmp_path: Path) -> Iterator[MakeDispatcher]:
    """Build dispatchers from a TOML text (the config file a host would load), closed after the test."""
    count = itertools.count()

    def build(toml: str = "", *, pack: toolwire.Toolset | None = None) -> toolwire.Dispatcher:
        path = tmp_path / f"toolwire-{next(count)}.toml"
        path.write_text(toml)
        dispatcher = toolwire.Dispatcher(toolwire.load_config(path))
        dispatcher.add(pack if pack is not None else limited_pack())
        return dispatcher.add(toolwire_ratelimit.plugin, name="ratelimit")

    yield from closing_all(build)


class LimitRedis(RedisServer):
    """A real Redis, and the ``[plugins.ratelimit]`` table that uses it."""

    def config(self, **extra: object) -> str:
        """A ``[plugins.ratelimit]`` table on this server, with a key prefix of its own."""
        lines = [
            "[plugins.ratelimit]",
            f'storage = "{self.url}"',
            f'key_prefix = "test-{uuid.uuid4().hex}"',
        ]
        lines += [f"{key} = {_toml(value)}" for key, value in extra.items()]
        return "\n".join(lines) + "\n"


@contextlib.contextmanager
def limit_redis() -> Iterator[LimitRedis]:
    pytest.importorskip("redis", reason="Redis storage needs toolwire-ratelimit[redis]")
    with running_redis() as server:
        yield LimitRedis(server.process, server.port, server.directory)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[LimitRedis]:
    """One Redis for the session; tests keep apart through key prefixes of their own."""
    with limit_redis() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[LimitRedis]:
    """A Redis for one test, which the test may kill or freeze."""
    with limit_redis() as server:
        yield server


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
