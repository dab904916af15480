"""A plugin that brings a ``toolwire greet`` subcommand and no tools."""

from __future__ import annotations

import argparse
import sys

import toolwire
from toolwire.types import Command


def _setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("who", help="whom to greet")


def _run(args: argparse.Namespace) -> int:
    if args.who == "crash":
        raise RuntimeError("the greeter broke")
    sys.stdout.write(f"hello {args.who} (config: {args.config})\n")
    return 0 if args.who != "nobody" else 1


def _clashing_setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a global option again: argparse refuses it")


@toolwire.hookimpl
def toolwire_register_commands(register):  # type: ignore[no-untyped-def]
    register(Command("greet", "greet someone", _run, _setup, "Print a greeting."))
    register(Command("clashy", "takes a global option's name", _run, _clashing_setup))
