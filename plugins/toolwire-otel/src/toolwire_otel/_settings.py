"""The ``[plugins.otel]`` table: its keys, their defaults, and how a mistake is reported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import toolwire
from toolwire import settings
from toolwire.types import Redaction

#: ``[plugins.otel]``, as ``toolwire.settings`` checks it.
SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "capture_content": {"type": "boolean", "default": False, "x-expected": "true or false"},
    },
}


@dataclass(frozen=True, slots=True)
class Settings:
    """The OpenTelemetry plugin's settings, read from ``[plugins.otel]``.

    Attributes:
        capture_content: Record the arguments (``gen_ai.tool.call.arguments``), the result
            (``gen_ai.tool.call.result``), error messages and the exception a tool raised on
            spans, with ``[logging] redact`` applied. Off by default: they may hold personal
            or secret data.
        redaction: What is secret: the ``[logging] redact`` rule, the one the log masks with.
    """

    capture_content: bool = False
    redaction: Redaction = field(default_factory=Redaction)

    @classmethod
    def from_config(cls, config: toolwire.Config) -> Settings:
        """Read and check ``[plugins.otel]`` (and ``[logging] redact``).

        Raises:
            toolwire.ConfigError: a key is unknown (with the closest known one) or has a
                wrong value; each problem names its key and the config file.
        """
        values = settings.read_settings(config, "otel", SCHEMA)
        return cls(
            capture_content=values["capture_content"], redaction=Redaction.from_config(config)
        )
