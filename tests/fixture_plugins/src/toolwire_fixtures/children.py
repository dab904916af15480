"""Tools that start a child process, for the process executor's process-group tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import toolwire

pack = toolwire.Toolset("children", description="Tools that start processes of their own")


@pack.tool
def family(mark: str, seconds: float = 0.0, leave_group: bool = False, exit: bool = False) -> int:
    """Start a child that sleeps for a minute, record both pids, then sleep or exit.

    Args:
        mark: A file that gets ``{"worker": pid, "child": pid}`` once the child runs.
        seconds: How long the tool then sleeps in time.sleep.
        leave_group: Start the child in a session of its own (``setsid``), out of the
            worker's process group.
        exit: End the worker at once after the child started, as a crash would.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        start_new_session=leave_group,
    )
    Path(mark).write_text(json.dumps({"worker": os.getpid(), "child": child.pid}))
    if exit:
        os._exit(5)
    time.sleep(seconds)
    return child.pid
