"""An MCP server (the SDK's MCPServer, over stdio) that starts a child process of its own.

Tool: ``family``, the server's pid and its child's. The child inherits the server's stdio, as
a child started without a thought does.

``--deaf-child``: the child ignores SIGTERM. ``--stubborn``: the server ignores SIGTERM and
does not exit when its stdin closes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from mcp.server.mcpserver import MCPServer

DEAF_CHILD = "--deaf-child" in sys.argv
STUBBORN = "--stubborn" in sys.argv

if STUBBORN:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"],
    preexec_fn=(lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN)) if DEAF_CHILD else None,
)
server = MCPServer("parent")


@server.tool()
def family() -> dict[str, int]:
    """The server's process id and its child's."""
    return {"server": os.getpid(), "child": child.pid}


server.run()
if STUBBORN:
    time.sleep(600)
