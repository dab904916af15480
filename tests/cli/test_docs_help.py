"""docs/cli.md shows each command's real ``--help``, and documents every command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
SCRIPT = Path(sys.executable).parent / ("toolwire.exe" if os.name == "nt" else "toolwire")
#: ``<!-- help: toolwire call -->`` followed by a ```text block holding that command's --help.
HELP_BLOCK = re.compile(r"<!-- help: (?P<command>[^>]+?) -->\n```text\n(?P<text>.*?)\n```", re.S)
COMMANDS = (
    "toolwire",
    *(f"toolwire {c}" for c in ("plugins", "tools", "call", "dispatch", "check")),
    *(f"toolwire approvals {c}".rstrip() for c in ("", "list", "approve", "reject", "resume")),
)


def _documented() -> dict[str, str]:
    return {m["command"]: m["text"] for m in HELP_BLOCK.finditer(DOCS.read_text())}


def _help(command: str) -> str:
    # The core's own help: installed plugins' commands are documented on their own pages.
    env = {**os.environ, "COLUMNS": "100", "TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [str(SCRIPT), *command.split()[1:], "--help"],
        capture_output=True, text=True, env=env, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout.rstrip()


def test_every_command_has_its_help_in_the_docs():
    """Each command, and toolwire itself, has exactly one help block in docs/cli.md."""
    documented = [m["command"] for m in HELP_BLOCK.finditer(DOCS.read_text())]
    assert sorted(documented) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_help_matches_the_real_help(command):
    """The help text in docs/cli.md is what ``--help`` prints (at 100 columns)."""
    assert _documented()[command] == _help(command)
