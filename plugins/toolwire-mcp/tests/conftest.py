"""Fixtures: dispatchers built from config files, the process table, npm-installed MCP programs."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import toolwire
from toolwire.testing import closing_all

# The helpers module sits beside this file; test modules import it by name.
sys.path.insert(0, str(Path(__file__).parent))

from mcp_helpers import NPM_PACKAGES, NPM_PREFIX, MakeDispatcher, _toml, children, wait_until


@pytest.fixture
def make(tmp_path: Path) -> Iterator[MakeDispatcher]:
    """Build dispatchers from config text (only the ``mcp`` plugin and those named), closed after."""
    count = itertools.count()

    def build(
        toml: str = "", *, enable: tuple[str, ...] = (), strict: bool = False
    ) -> toolwire.Dispatcher:
        path = tmp_path / f"toolwire-{next(count)}.toml"
        plugins = ", ".join(_toml(p) for p in ("mcp", *enable))
        head = f"[plugins]\nautoload = false\nenable = [{plugins}]\nstrict = {_toml(strict)}\n"
        path.write_text(head + toml)
        return toolwire.Dispatcher.from_config(path)

    yield from closing_all(build)


@pytest.fixture(autouse=True)
def no_child_left() -> Iterator[None]:
    """Every test leaves the process table as it found it: no MCP server outlives its test."""
    before = children()
    yield
    assert wait_until(lambda: not (children() - before), 15.0), (
        f"processes left behind: {sorted(children() - before)}"
    )


@pytest.fixture(scope="session")
def npm_bin() -> Path:
    """The ``node_modules/.bin`` with the npm packages installed (installed on first use)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node and npm are needed for the npm MCP packages (apt-get install nodejs npm)")
    bin_dir = NPM_PREFIX / "node_modules" / ".bin"
    wanted = [f"{name}@{version}" for name, version in NPM_PACKAGES.items()]
    installed = all(
        (NPM_PREFIX / "node_modules" / name / "package.json").exists() for name in NPM_PACKAGES
    )
    if not installed:
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund", *wanted],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return bin_dir
