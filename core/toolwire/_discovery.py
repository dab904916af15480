"""Plugin discovery: entry points listed without importing, loaded only when enabled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    import importlib_metadata

ENTRY_POINT_GROUP: Final = "toolwire"

PluginStatus = Literal["enabled", "disabled", "blocked", "failed"]


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One row of ``dispatcher.plugins()``.

    Attributes:
        name: The entry-point name (or the built-in plugin's name).
        distribution: The installed distribution that provides it (``toolwire`` for built-ins).
        version: That distribution's version.
        status: ``enabled``; ``disabled`` (installed, not enabled: autoload is off);
            ``blocked`` (listed in ``[plugins] disable``); ``failed`` (could not be loaded).
        error: Why it failed, for a failed plugin.
        hooks: The hooks it implements.
        tools: How many tools it registered.
        builtin: Whether it ships with toolwire itself.
    """

    name: str
    distribution: str
    version: str
    status: PluginStatus
    error: str | None = None
    hooks: tuple[str, ...] = field(default=())
    tools: int = 0
    builtin: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "hooks": list(self.hooks),
            "tools": self.tools,
            "builtin": self.builtin,
        }

    def with_status(self, status: PluginStatus, error: str | None = None) -> PluginInfo:
        return replace(self, status=status, error=error)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An installed plugin, found through its entry point and not yet imported."""

    name: str
    entry_point: importlib_metadata.EntryPoint
    distribution: str
    version: str

    def info(self, status: PluginStatus, error: str | None = None) -> PluginInfo:
        return PluginInfo(self.name, self.distribution, self.version, status, error)


def installed_plugins() -> Iterator[Candidate]:
    """Every entry point in the ``toolwire`` group; reading metadata imports nothing. Two
    distributions may bring an entry point of one name: both are listed."""
    import importlib_metadata

    seen: set[tuple[str, str]] = set()
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        distribution = dist.name if dist is not None else "?"
        if (ep.name, distribution) in seen:  # one dist-info on sys.path twice (lib64 -> lib)
            continue
        seen.add((ep.name, distribution))
        yield Candidate(ep.name, ep, distribution, dist.version if dist is not None else "?")


def load_entry_point(candidate: Candidate) -> Any:
    """Import a plugin; whatever its import raises is turned into ``PluginLoadError``.

    ``SystemExit`` from a plugin's import is caught too: a plugin must not end the host.
    """
    try:
        return candidate.entry_point.load()
    except (Exception, SystemExit) as exc:
        raise PluginLoadError(describe_exception(exc)) from exc


class PluginLoadError(Exception):
    """A plugin could not be imported or registered; the message says why."""


def describe_exception(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
