"""Rate limits for toolwire tools, per tool, role and principal, in memory or in Redis.

Enable the ``ratelimit`` plugin and give a tool a limit (``@pack.tool(rate_limit="10/minute")``
or ``[tools.NAME] rate_limit``); calls past it end with a ``rate_limited`` error that says when
to retry. ``[plugins.ratelimit]`` chooses the storage and how keys are built.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import Final

from ._middleware import RateLimit
from ._plugin import RateLimitPlugin
from ._settings import Settings

#: What the ``toolwire`` entry point ``ratelimit`` resolves to: a class, so every dispatcher
#: gets an instance (and counts) of its own.
plugin: Final = RateLimitPlugin

#: The installed distribution's version, from its metadata.
__version__: Final = _version("toolwire-ratelimit")

__all__ = [
    "RateLimit",
    "RateLimitPlugin",
    "Settings",
    "__version__",
    "plugin",
]
