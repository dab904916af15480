"""The ``taskiq`` plugin: an executor per ``[executors.NAME]`` table of ``kind = "taskiq"``,
and the ``toolwire worker NAME`` command that runs the workers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import toolwire
from toolwire.types import Command

from ._executor import TaskiqExecutor
from ._settings import taskiq_tables


class TaskiqPlugin:
    """Registers the taskiq executors the config names; closes them with the dispatcher."""

    def __init__(self) -> None:
        self.executors: dict[str, TaskiqExecutor] = {}

    @toolwire.hookimpl
    def toolwire_configure(self, config: toolwire.Config) -> None:
        self.executors = {
            name: TaskiqExecutor(settings) for name, settings in taskiq_tables(config).items()
        }

    @toolwire.hookimpl
    def toolwire_register_executors(self, register: Callable[[str, Any], None]) -> None:
        for name, executor in self.executors.items():
            register(name, executor)

    @toolwire.hookimpl
    def toolwire_register_commands(self, register: Callable[[Command], None]) -> None:
        register(
            Command(
                "worker",
                "run a worker of a taskiq executor",
                _run_worker,
                _worker_arguments,
                "Take calls from the queue of executor NAME ([executors.NAME] kind = "
                '"taskiq") and run them, until SIGTERM or Ctrl-C. Loads the same config and '
                "packs as the host, and the same signing key (the variable key_env names, "
                "TOOLWIRE_TASKIQ_KEY by default); runs only signed, fresh jobs of the tools "
                "bound to NAME, each once.",
            )
        )

    @toolwire.hookimpl
    def toolwire_close(self) -> None:
        for executor in self.executors.values():
            executor.close()


def _worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the executor's name ([executors.NAME])")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="calls run at once (default: the table's concurrency, else 8)",
    )


def _run_worker(args: argparse.Namespace) -> int:
    from ._worker import serve

    if args.concurrency is not None and args.concurrency < 1:
        sys.stderr.write("toolwire worker: --concurrency must be at least 1\n")
        return 2
    try:
        return serve(args.config, args.name, args.concurrency)
    except toolwire.ConfigError as exc:
        sys.stderr.write(f"toolwire worker: {exc}\n")
        return 2
