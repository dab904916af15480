"""A fixture pack installed for other processes, with a config that names it and an approval store."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Site:
    """The folder a pack is installed in, the config file, and the ledger its tools write to."""

    site: Path
    config: Path
    ledger: Path

    def executions(self) -> list[str]:
        """The ledger's lines: one per time a tool body ran, in any process."""
        if not self.ledger.exists():
            return []
        return self.ledger.read_text(encoding="utf-8").splitlines()


def write_approvals_config(folder: Path, store: str, plugins: str) -> Path:
    """``folder / "toolwire.toml"``: autoload off, ``plugins`` (TOML array items) enabled, and
    the approval store at ``store``."""
    config = folder / "toolwire.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [plugins]
            autoload = false
            enable = [{plugins}]

            [approvals]
            store = "{store}"
            """
        )
    )
    return config
