"""The built-in ``executors`` plugin: ``thread``, ``loop`` and ``process``, and a process
executor per ``[executors.NAME]`` table of ``kind = "process"``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .._config import Config
from .._errors import ConfigError
from .._executors import IN_PROCESS, InProcess
from .._process import ProcessPool
from ..hookspecs import hookimpl

#: The settings a process executor reads from its ``[executors.NAME]`` table.
PROCESS_SETTINGS: Final = ("kind", "workers", "max_memory_mb")


class BuiltinExecutors:
    """Registers the executors that ship with toolwire; closes them with the dispatcher."""

    def __init__(self) -> None:
        self.executors: dict[str, Any] = {}

    @hookimpl
    def toolwire_configure(self, config: Config) -> None:
        tables = config.executor_settings()
        executors: dict[str, Any] = {name: InProcess(name) for name in IN_PROCESS}
        for name, table in {"process": {"kind": "process"}, **tables}.items():
            if table["kind"] in IN_PROCESS:
                raise ConfigError(
                    f"[executors.{name}] in {config.describe()}: the {table['kind']} "
                    "executor has no settings; remove the table"
                )
            if table["kind"] != "process":
                continue
            unknown = sorted(set(table) - set(PROCESS_SETTINGS))
            if unknown:
                raise ConfigError(
                    f"[executors.{name}] in {config.describe()}: {', '.join(unknown)} "
                    f"is not a setting of a process executor ({', '.join(PROCESS_SETTINGS)})"
                )
            executors[name] = ProcessPool(name, table.get("workers"), table.get("max_memory_mb"))
        self.executors = executors

    @hookimpl
    def toolwire_register_executors(self, register: Callable[[str, Any], None]) -> None:
        for name, executor in self.executors.items():
            register(name, executor)

    @hookimpl
    def toolwire_close(self) -> None:
        for executor in self.executors.values():
            executor.close()
