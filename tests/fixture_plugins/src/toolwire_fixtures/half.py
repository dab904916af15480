"""A plugin that registers two tools, then fails: none of them may stay registered."""

import toolwire

pack = toolwire.Toolset("half")


@pack.tool
def half_one() -> str:
    """First tool of a plugin that fails halfway."""
    return "one"


@pack.tool
def half_two() -> str:
    """Second tool of a plugin that fails halfway."""
    return "two"


@toolwire.hookimpl
def toolwire_register_tools(register):
    register(pack["half_one"])
    register(pack["half_two"])
    raise RuntimeError("failed after registering two tools")
