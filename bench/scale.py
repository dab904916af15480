"""10,000 tools in one dispatcher: the registry every MCP server of a company makes (issue 27).

The corpus (``shared/data/tool-schemas.json``, 1,311 published tool schemas) is registered
over and over under distinct names, in one pack per copy, until there are 10,000 tools; one
tool in ten is for the ``admin`` role only. Everything is measured in a fresh interpreter
(``python bench/scale.py --child``), so that its resident memory is the registry's and
nothing a benchmark before it left behind:

- start: building the tools from their schemas, the dispatcher, and ``start()`` (every route
  built and checked), after ``import toolwire`` and reading the corpus file; wall time, and
  the process's CPU time beside it (the start is one thread: on a machine shared with other
  work the wall time is mostly how long it waited for a core);
- resident memory (``VmRSS``) of that process once started, searched and described;
- ``tool_definitions("openai-responses", role="user")``: the first call (each definition built
  once) and the median of later ones (each taken from the plan);
- search: p99 of 1,000 searches for the ``user`` role, three content words of a tool's
  description each, after the first search built the index.

These are absolute figures (seconds, MiB), not ratios: the issue sets them as such.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tool-schemas.json"
TOOLS = 10_000
SEARCHES = 1_000


def _description(entry: dict[str, Any]) -> str:
    schema = entry["schema"]
    texts = [schema.get("description")]
    texts += [sub.get("description") for sub in (schema.get("properties") or {}).values()]
    return " ".join(t for t in texts if isinstance(t, str))


def child() -> dict[str, float]:
    """Build, start, describe and search the registry; the figures as JSON data."""
    import logging

    import toolwire
    from toolwire._search import words

    # The corpus's schemas make thousands of definition notes; a host reads them once, so
    # they are not what the figures measure.
    logging.getLogger("toolwire").setLevel(logging.ERROR)

    entries = json.loads(CORPUS.read_text(encoding="utf-8"))["schemas"]
    started, started_cpu = time.perf_counter(), time.process_time()
    dispatcher = toolwire.Dispatcher()
    made = 0
    copy = 0
    queries: list[str] = []
    while made < TOOLS:
        pack = toolwire.Toolset(f"copy{copy}", f"Copy {copy} of the published tools.")
        for index, entry in enumerate(entries):
            if made >= TOOLS:
                break
            name = f"{re.sub(r'[^A-Za-z0-9_-]', '_', entry['name'])[:40]}_{copy}_{index}"
            description = _description(entry)
            roles = ["admin"] if made % 10 == 0 else None
            tool = toolwire.tool(
                name=name, description=description, schema=entry["schema"], roles=roles
            )(dict)
            pack.add(tool)
            if copy == 0 and len(queries) < SEARCHES:
                terms = list(dict.fromkeys(words(description))) or list(dict.fromkeys(words(name)))
                queries.append(" ".join(terms[:3]))
            made += 1
        dispatcher.add(pack)
        copy += 1
    dispatcher.start()
    start_s = time.perf_counter() - started
    start_cpu_s = time.process_time() - started_cpu

    first = time.perf_counter()
    sent = dispatcher.tool_definitions("openai-responses", role="user")
    first_ms = (time.perf_counter() - first) * 1000
    again = []
    for _ in range(7):
        begin = time.perf_counter()
        dispatcher.tool_definitions("openai-responses", role="user")
        again.append((time.perf_counter() - begin) * 1000)

    dispatcher.search_tools("warm the index", role="user")
    times = []
    for query in queries:
        begin = time.perf_counter()
        dispatcher.search_tools(query, role="user")
        times.append((time.perf_counter() - begin) * 1000)
    times.sort()
    rss = _rss_mib()
    tools = len(dispatcher.tools(all_roles=True))
    dispatcher.close()
    return {
        "tools": tools,
        "sent": len(sent),
        "start_s": start_s,
        "start_cpu_s": start_cpu_s,
        "rss_mib": rss,
        "definitions_first_ms": first_ms,
        "definitions_ms": statistics.median(again),
        "search_p99_ms": times[int(len(times) * 0.99) - 1],
        "search_p50_ms": times[len(times) // 2],
    }


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: the peak, which is at least as large

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure() -> dict[str, float] | None:
    """The figures from a fresh interpreter; ``None`` without the corpus."""
    if not CORPUS.exists():
        return None
    done = subprocess.run(
        [sys.executable, __file__, "--child"], capture_output=True, text=True, check=True
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        print(json.dumps(child()))
    else:
        print(json.dumps(measure(), indent=2))
