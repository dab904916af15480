"""The ``toolwire`` command: what is installed, what a role may call, and calls by hand.

Results go to stdout, logs to stderr. This is the one place that configures structlog: the
library only logs. Exit codes: 0 success, 1 a tool error (or, for ``check``, problems found),
2 a usage or config error, reported as one line on stderr and never as a traceback, 3 a turn
held for a person's decision (``dispatch``, ``approvals resume``).

What the CLI prints about a call hides its secrets as the log does (``[logging] redact``):
``call`` and the ``approvals`` commands print no secret argument's value.

One module per command group: ``_inspect`` (plugins, tools, check), ``_calls`` (call,
dispatch), ``_approvals``; ``_parser`` builds the parser, ``_main`` runs it, ``_common`` holds
what they share.
"""

from __future__ import annotations

from ._common import EXIT_HELD, EXIT_OK, EXIT_TOOL_ERROR, EXIT_USAGE
from ._main import configure_logging, main

__all__ = ["EXIT_HELD", "EXIT_OK", "EXIT_TOOL_ERROR", "EXIT_USAGE", "configure_logging", "main"]
