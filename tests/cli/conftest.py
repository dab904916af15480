"""Run the installed ``toolwire`` console script as an operator would, in a directory of its own."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from toolwire.testing import install_plugin, process_environment, run_toolwire

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


noisy = toolwire.Toolset("cli-noisy")


@noisy.tool(approval=True)
def chatty(word: str) -> str:
    """Print a word to stdout, then return it (a tool that prints).

    Args:
        word: What to print.
    """
    print(f"chatty says {word}")
    return word


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

ENTRY_POINTS = {
    "cli-good": "twcli_fixtures:good",
    "cli-clash": "twcli_fixtures:clash",
    "cli-odd": "twcli_fixtures:odd",
    "cli-broken": "twcli_broken",
    "cli-picky": "twcli_fixtures:Picky",
    "cli-noisy": "twcli_fixtures:noisy",
}


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
    modules = {"twcli_fixtures": FIXTURE_MODULE, "twcli_broken": BROKEN_MODULE}
    return install_plugin(
        tmp_path / "site", "toolwire-cli-fixtures", ENTRY_POINTS, modules, version="1.2.3"
    )


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
        environment = process_environment(
            drop=("TOOLWIRE_", "PYTHON"), pythonpath=plugin_site, COLUMNS="100", **env
        )
        done = run_toolwire(*args, stdin=stdin, cwd=work, env=environment, timeout=60)
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
