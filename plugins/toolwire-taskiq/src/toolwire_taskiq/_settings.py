"""An ``[executors.NAME]`` table of ``kind = "taskiq"``: its keys, defaults and checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

import toolwire

#: The URL schemes of the Redis the broker and result backend use.
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")


@dataclass(frozen=True, slots=True)
class Settings:
    """One taskiq executor, as its ``[executors.NAME]`` table sets it.

    Attributes:
        name: The executor's name (the table's).
        url: The Redis the broker, the result backend, heartbeats and cancellations use
            (``redis://host:port[/db]``).
        queue: The Redis list calls are queued on; also the prefix of every other key.
        heartbeat: Seconds within which a call whose worker died gets ``executor_lost``.
            Workers refresh their heartbeat four times per interval.
        concurrency: Calls one worker runs at once (``toolwire worker --concurrency``
            overrides it). A worker takes no call while all of its slots are busy, so calls
            spread over the workers.
        connect_timeout: Seconds to reach Redis before a call gets ``executor_unavailable``.
        result_ttl: Seconds a result no host collected stays in Redis (a late reply).
    """

    name: str
    url: str
    queue: str
    heartbeat: float = 5.0
    concurrency: int = 8
    connect_timeout: float = 2.0
    result_ttl: int = 600

    @property
    def prefix(self) -> str:
        return f"{self.queue}:"

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any], where: str) -> Settings:
        """Check and read one table.

        Raises:
            toolwire.ConfigError: a key it does not know, a missing or bad ``url``, a bad value.
        """
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(table) - known - {"kind"})
        if unknown:
            raise toolwire.ConfigError(
                f"[executors.{name}] in {where}: {', '.join(unknown)} is not a setting of a "
                f"taskiq executor ({', '.join(sorted(known))})"
            )
        url = table.get("url")
        if not isinstance(url, str) or url.partition("://")[0] not in REDIS_SCHEMES:
            raise toolwire.ConfigError(
                f"[executors.{name}] in {where}: url must be a Redis URL "
                f"(redis://host:port/db), got {url!r}"
            )
        values: dict[str, Any] = {"name": name, "url": url}
        values["queue"] = table.get("queue", f"toolwire:{name}")
        for key, kind, least in (
            ("heartbeat", float, 0.0),
            ("concurrency", int, 1),
            ("connect_timeout", float, 0.0),
            ("result_ttl", int, 1),
        ):
            if key not in table:
                continue
            value = table[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (kind is int and not isinstance(value, int))
                or value < least
                or (least == 0.0 and value == 0)
            ):
                raise toolwire.ConfigError(
                    f"[executors.{name}] in {where}: {key} must be a positive "
                    f"{'whole ' if kind is int else ''}number, got {value!r}"
                )
            values[key] = kind(value)
        return cls(**values)


def taskiq_tables(config: toolwire.Config) -> dict[str, Settings]:
    """Every ``[executors.NAME]`` table of kind ``taskiq``, checked."""
    return {
        name: Settings.from_table(name, table, config.describe())
        for name, table in config.executor_settings().items()
        if table["kind"] == "taskiq"
    }
