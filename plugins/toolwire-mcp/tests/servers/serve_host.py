"""A host serving the demo pack and the testing pack over stdio: ``serve_host.py CONFIG [ROLE]``."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import testing_pack
import toolwire
import toolwire_mcp

logging.basicConfig(stream=sys.stdout, level=logging.INFO)  # a careless host: logs to stdout
dispatcher = toolwire.Dispatcher.from_config(sys.argv[1]).add(testing_pack.pack)
role = sys.argv[2] if len(sys.argv) > 2 else None
try:
    asyncio.run(toolwire_mcp.serve_stdio(dispatcher, role=role))
finally:
    dispatcher.close()
