"""The ``[plugins.otel]`` table: its keys, their defaults, and how a mistake is reported."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import toolwire
from toolwire.types import Redaction


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
        table = config.plugin_settings("otel")
        problems = _problems(table)
        if problems:
            raise toolwire.ConfigError(
                f"{config.describe()}: {len(problems)} problem(s):\n"
                + "\n".join(f"  - {p}" for p in problems),
                problems,
            )
        return cls(
            capture_content=table.get("capture_content", False),
            redaction=Redaction.from_config(config),
        )


def _problems(table: Mapping[str, Any]) -> list[str]:
    known = [f.name for f in fields(Settings) if f.name != "redaction"]
    problems = []
    for key in sorted(set(table) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(f"unknown key [plugins.otel] {key}{hint}")
    if "capture_content" in table and not isinstance(table["capture_content"], bool):
        problems.append(
            f"[plugins.otel] capture_content: {table['capture_content']!r} is not true or false"
        )
    return problems
