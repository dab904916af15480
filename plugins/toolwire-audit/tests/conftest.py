"""Fixtures: an HMAC key in the environment, dispatchers writing a trail, and the trail read back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import toolwire
import toolwire_audit
from toolwire.testing import make_dispatcher

KEY = "7c1e0f3a9b5d2e8c4a6f0b1d3e5c7a9f"


@pytest.fixture(autouse=True)
def hmac_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """The digest key, in the environment variable the plugin reads by default."""
    monkeypatch.setenv("TOOLWIRE_AUDIT_KEY", KEY)
    return KEY


@pytest.fixture
def trail_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


MakeDispatcher = Callable[..., toolwire.Dispatcher]

#: The plugin instance each dispatcher a test made holds.
PLUGINS: dict[int, toolwire_audit.AuditPlugin] = {}


@pytest.fixture
def make(trail_path: Path) -> Iterator[MakeDispatcher]:
    """Dispatchers with the audit plugin (``[plugins.audit]`` from keyword settings), closed after the test."""
    made: list[toolwire.Dispatcher] = []

    def build(
        *objs: Any, config: Mapping[str, Any] | None = None, **settings: Any
    ) -> toolwire.Dispatcher:
        audit = {"path": str(trail_path), **settings}
        merged = {
            **(config or {}),
            "plugins": {**(config or {}).get("plugins", {}), "audit": audit},
        }
        dispatcher = make_dispatcher(*objs, config=merged)
        made.append(dispatcher)
        plugin = toolwire_audit.AuditPlugin()
        dispatcher.add(plugin, name="audit")
        PLUGINS[id(dispatcher)] = plugin
        return dispatcher

    yield build
    for dispatcher in made:
        dispatcher.close()
        PLUGINS.pop(id(dispatcher), None)


def read_records(*paths: Path) -> list[dict[str, Any]]:
    """Every complete record of the files, in order."""
    records = []
    for path in paths:
        for line in path.read_bytes().splitlines(keepends=True):
            if line.endswith(b"\n"):
                records.append(json.loads(line))
    return records


@pytest.fixture
def read() -> Callable[..., list[dict[str, Any]]]:
    """Read the complete records of trail files, in order."""
    return read_records


@pytest.fixture
def plugin_of() -> Callable[[toolwire.Dispatcher], toolwire_audit.AuditPlugin]:
    """The plugin instance a dispatcher from ``make`` holds."""
    return lambda dispatcher: PLUGINS[id(dispatcher)]
