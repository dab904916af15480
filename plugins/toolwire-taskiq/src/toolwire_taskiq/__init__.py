"""Run toolwire tools on remote workers: an executor on taskiq, with its Redis broker.

Name a table ``[executors.NAME]`` with ``kind = "taskiq"`` and a Redis ``url``, bind tools to
it (``[tools.X] executor = "NAME"``), set the signing key in the variable ``key_env`` names
(``TOOLWIRE_TASKIQ_KEY``) on the host and the workers, and start workers with
``toolwire worker NAME``. The host keeps its middleware (retries, rate limits, concurrency,
timeouts) and signs every job; a worker runs only a signed, fresh job, once, and sends back
its signed result.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import Final

from ._executor import TaskiqExecutor, WorkerError
from ._plugin import TaskiqPlugin
from ._settings import Settings
from ._worker import Worker

#: What the ``toolwire`` entry point ``taskiq`` resolves to: a class, so every dispatcher gets
#: executors of its own.
plugin: Final = TaskiqPlugin

#: The installed distribution's version, from its metadata.
__version__: Final = _version("toolwire-taskiq")

__all__ = [
    "Settings",
    "TaskiqExecutor",
    "TaskiqPlugin",
    "Worker",
    "WorkerError",
    "__version__",
    "plugin",
]
