"""Slow clients over raw sockets: ``slow_clients.py HOST PORT COUNT SECONDS``.

Each client opens a connection and sends a request's headers a byte a second, never
finishing them (slowloris); when the server hangs up it connects again a second later. The
process runs at the lowest CPU priority: it stands for clients on other machines. At
the end one JSON line goes to stdout: connections made, connections the server ended, the
most held at once, and connects that failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

HEAD = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
TRICKLE = b"X-Slow: " + b"a" * 4000


async def client(host: str, port: int, until: float, stats: dict[str, int]) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            stats["failed"] += 1
            await asyncio.sleep(1.0)
            continue
        stats["connected"] += 1
        stats["open"] += 1
        stats["most_open"] = max(stats["most_open"], stats["open"])
        try:
            writer.write(HEAD)
            for byte in TRICKLE:
                await asyncio.sleep(1.0)
                if reader.at_eof() or writer.transport.is_closing():
                    stats["cut"] += 1
                    break
                if time.monotonic() >= until:
                    break
                writer.write(bytes([byte]))
        except OSError:
            stats["cut"] += 1
        finally:
            stats["open"] -= 1
            writer.close()
        await asyncio.sleep(1.0)


async def main(host: str, port: int, count: int, seconds: float) -> None:
    stats = {"connected": 0, "cut": 0, "failed": 0, "open": 0, "most_open": 0}
    until = time.monotonic() + seconds
    await asyncio.gather(*(client(host, port, until, stats) for _ in range(count)))
    del stats["open"]
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    # A load generator, not the server's competitor: on a shared machine the slow clients
    # (which would run elsewhere) yield the CPU to the server under test.
    os.nice(19)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
