"""A pack with an import side effect, to prove that a plugin not enabled is never imported."""

import os

import toolwire

_marker = os.environ.get("TOOLWIRE_FIXTURE_IMPORT_MARKER")
if _marker:
    with open(_marker, "a", encoding="utf-8") as fh:
        fh.write("imported\n")

pack = toolwire.Toolset("lazy")


@pack.tool
def lazy_ping() -> str:
    """Answers pong."""
    return "pong"
