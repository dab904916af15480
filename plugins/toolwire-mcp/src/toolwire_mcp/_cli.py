"""``toolwire mcp serve``."""

from __future__ import annotations

import argparse

from toolwire.types import Command


def serve_command() -> Command:
    return Command("mcp", "MCP: serve toolwire's tools to MCP clients", _run, _setup)


def _setup(parser: argparse.ArgumentParser) -> None:
    pass


def _run(args: argparse.Namespace) -> int:
    return 2
