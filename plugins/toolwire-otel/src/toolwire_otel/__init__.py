"""OpenTelemetry traces and metrics for toolwire calls.

Enable the ``otel`` plugin and configure the OpenTelemetry SDK in the host: every call then
gets an ``execute_tool {tool}`` span (the OpenTelemetry GenAI semantic conventions for tool
execution), parent of whatever the tool itself traces, and is measured by the
``gen_ai.execute_tool.duration`` histogram and the ``toolwire.calls`` counter. Without an SDK
the plugin costs nothing per call. ``inject``/``extract``/``attached`` carry the trace context
across process and network hops.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import Final

from ._plugin import DENIALS, DURATION_BUCKETS, OTHER_TOOL, AttemptLayer, OtelPlugin, SpanLayer
from ._propagation import attached, extract, inject
from ._settings import Settings

#: What the ``toolwire`` entry point ``otel`` resolves to: a class, so every dispatcher gets
#: an instance of its own.
plugin: Final = OtelPlugin

#: The installed distribution's version, from its metadata.
__version__: Final = _version("toolwire-otel")

__all__ = [
    "DENIALS",
    "DURATION_BUCKETS",
    "OTHER_TOOL",
    "AttemptLayer",
    "OtelPlugin",
    "Settings",
    "SpanLayer",
    "__version__",
    "attached",
    "extract",
    "inject",
    "plugin",
]
