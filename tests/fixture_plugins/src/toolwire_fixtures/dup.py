"""A pack whose tool name is already taken by the demo pack."""

import toolwire

pack = toolwire.Toolset("dup")


@pack.tool
def get_weather(location: str) -> str:
    """A second get_weather: the start must stop and name both packs."""
    return location
