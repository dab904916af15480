"""Run the installed ``toolwire`` console script as an operator would, in a directory of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(sys.executable).parent / ("toolwire.exe" if os.name == "nt" else "toolwire")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: Plugins written into a directory on PYTHONPATH for the CLI under test: a dist-info holds
#: their entry points, exactly as pip would have installed them, and nothing else sees them.
FIXTURE_MODULE = '''
"""Plugins for the CLI tests."""

import toolwire

good = toolwire.Toolset("cli-good", description="Tools that pass every check")


@good.tool
def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: What to look up.
    """
    return key.upper()


clash = toolwire.Toolset("cli-clash")


@clash.tool(name="lookup")
def lookup_again(key: str) -> str:
    """Look a key up, again."""
    return key


odd = toolwire.Toolset("cli-odd")


@odd.tool
def count_words(counts: dict[str, int]) -> int:
    """An open mapping, which OpenAI strict mode cannot express."""
    return sum(counts.values())


class Picky:
    """A plugin that validates its own settings."""

    @toolwire.hookimpl
    def toolwire_configure(self, config):
        mode = config.plugin_settings("cli-picky").get("mode", "fast")
        if mode not in ("fast", "safe"):
            raise toolwire.ConfigError(f"mode must be 'fast' or 'safe', got {mode!r}")
'''

BROKEN_MODULE = '''
"""A plugin whose import fails."""

raise ImportError("cli_fixture_dependency is not installed")
'''

ENTRY_POINTS = """
[toolwire]
cli-good = twcli_fixtures:good
cli-clash = twcli_fixtures:clash
cli-odd = twcli_fixtures:odd
cli-broken = twcli_broken
cli-picky = twcli_fixtures:Picky
"""


@dataclass
class Run:
    """What one run of the CLI did."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


RunCli = Callable[..., Run]


@pytest.fixture
def plugin_site(tmp_path: Path) -> Path:
    """A directory on the CLI's PYTHONPATH with the fixture plugins 'installed' in it."""
    site = tmp_path / "site"
    dist_info = site / "toolwire_cli_fixtures-1.2.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toolwire-cli-fixtures\nVersion: 1.2.3\n"
    )
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "twcli_fixtures.py").write_text(FIXTURE_MODULE)
    (site / "twcli_broken.py").write_text(BROKEN_MODULE)
    return site


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a toolwire.toml under tmp_path from TOML text; returns its path."""

    def write(text: str, name: str = "toolwire.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def cli(tmp_path: Path, plugin_site: Path) -> RunCli:
    """Run the console script with arguments; returns its exit code, stdout and stderr."""
    work = tmp_path / "work"
    work.mkdir()

    def run(*args: str | os.PathLike[str], stdin: str | None = None, **env: str) -> Run:
        environment = {
            k: v for k, v in os.environ.items() if not k.startswith(("TOOLWIRE_", "PYTHON"))
        }
        environment.update(COLUMNS="100", PYTHONPATH=str(plugin_site), **env)
        done = subprocess.run(
            [str(SCRIPT), *map(str, args)],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=work,
            env=environment,
            timeout=60,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def demo_config(write_config: Callable[[str], Path]) -> Path:
    """A config that loads the demo pack and nothing else installed."""
    if "demo" not in entry_points(group="toolwire").names:
        pytest.skip("the demo pack (plugins/toolwire-demo) is not installed")
    return write_config(
        """
        [plugins]
        autoload = false
        enable = ["demo"]
        """,
        name="demo.toml",
    )
