"""The plugin host: a dispatcher's pluggy manager, its table of plugins, and atomic
registration of built-in plugins, those a host adds, and installed ones.

Installed plugins are found through the ``toolwire`` entry-point group; only the enabled
ones are imported. Everything a plugin registers is attributed to it, and a plugin that
fails halfway leaves nothing behind.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pluggy

from . import hookspecs
from ._builtins import BUILTIN_PLUGINS
from ._catalogue import Catalogue
from ._config import PACK_KEYS, Config
from ._discovery import (
    Candidate,
    PluginInfo,
    PluginLoadError,
    describe_exception,
    installed_plugins,
    load_entry_point,
)
from ._errors import ConfigError, DuplicateToolError, PluginError
from ._logging import log as _log
from ._policy import CORE_FIELDS
from ._selection import select_tools, selection_of
from ._tools import Tool, Toolset
from .providers import Provider


class PluginHost:
    """A dispatcher's plugin manager, its table of plugins, and what they registered.

    Args:
        config: The dispatcher's config: which plugins load, and their settings.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.catalogue = Catalogue()
        self._table: dict[str, PluginInfo] = {}
        #: Held while the catalogue changes or a plan is built from it.
        self.lock = threading.RLock()
        #: Checks the catalogue as a start would, and takes it up (the dispatcher's rebuild).
        self.on_change: Callable[[], None] = lambda: None

    def add_builtins(self) -> None:
        """Register the built-in plugins, each by name, unless config disables it."""
        for name, factory in BUILTIN_PLUGINS.items():
            info = PluginInfo(name, "toolwire", own_version(), "enabled", builtin=True)
            if name in self.config.disable:
                self.pm.set_blocked(name)
                self._table[name] = info.with_status("blocked")
            else:
                self.add(factory(), info)

    def add_object(self, obj: Any, name: str | None) -> None:
        """Register what a host passed to ``Dispatcher.add``.

        Raises:
            ConfigError: see ``add``; an empty ``name``.
        """
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ConfigError(f"a plugin name is a non-empty string, not {name!r}")
        info = PluginInfo(name or _default_name(obj), _distribution_of(obj), "", "enabled")
        try:
            self.add(obj, info)
        except _RegistrationFailed as exc:
            raise ConfigError(str(exc)) from exc.__cause__

    def plugins(self) -> list[PluginInfo]:
        """One row per plugin, built-in ones first."""
        return sorted(self._table.values(), key=lambda p: (not p.builtin, p.name))

    def idle(self) -> list[PluginInfo]:
        """Installed plugins that are not loaded: disabled, blocked or failed."""
        return [p for p in self.plugins() if p.status in ("disabled", "blocked", "failed")]

    def is_loaded(self, name: str) -> bool:
        """Whether a plugin of that name is registered (a blocked name is not)."""
        return self.pm.get_plugin(name) is not None

    def registered(self) -> set[str]:
        """The names registered with the plugin manager now."""
        return {name for name, plugin in self.pm.list_name_plugin() if plugin is not None}

    def close_plugins(self) -> None:
        """Call every ``toolwire_close``, in pluggy's order; one that fails is logged, and
        the others still run."""
        for impl in reversed(self.pm.hook.toolwire_close.get_hookimpls()):
            try:
                impl.function()
            except Exception as exc:  # noqa: BLE001 - one plugin's failure must not keep others open
                _log.error(
                    "toolwire.plugin_failed",
                    plugin=impl.plugin_name,
                    hook="toolwire_close",
                    exc_info=exc,
                )

    def load_installed(self) -> None:
        """Discover installed plugins and load the ones the config enables.

        Listing imports nothing; only enabled plugins are imported. A plugin that fails to
        load is recorded as failed and skipped (or, with ``strict``, stops the start).
        """
        config = self.config
        # By name: which of two equal-order middleware is outer must not depend on sys.path.
        found = sorted(installed_plugins(), key=lambda c: (c.name, c.distribution))
        candidates = {c.name: c for c in found}
        claims: dict[str, list[Candidate]] = {}
        for c in found:
            claims.setdefault(c.name, []).append(c)

        def known(name: str) -> bool:
            # "mcp.time": a plugin that the installed plugin "mcp" contributes.
            return name.split(".")[0] in candidates or name in BUILTIN_PLUGINS

        for key, names in (("enable", config.enable), ("disable", config.disable)):
            missing = [n for n in names if not known(n)]
            if missing:
                raise PluginError(
                    f"{config.describe(f'plugins.{key}')}: [plugins] {key} names plugin(s) "
                    f"that are not installed: "
                    + "; ".join(not_installed(name, candidates) for name in missing)
                )
        for name in config.plugin_tables():
            if not known(name) and name not in self._table:
                raise PluginError(
                    f"{config.describe()}: [plugins.{name}] holds settings for a plugin that is "
                    f"not installed: {not_installed(name, candidates)}"
                )
        for candidate in candidates.values():
            wanted = config.autoload or candidate.name in config.enable
            existing = self._table.get(candidate.name)
            if existing is not None:
                if existing.distribution != candidate.distribution and wanted:
                    self._name_taken(candidate, existing)
                continue
            if len(claims[candidate.name]) > 1 and candidate.name not in config.disable:
                if wanted:
                    raise PluginError(_claimed_twice(candidate.name, claims[candidate.name]))
                self._table[candidate.name] = candidate.info("disabled")
                continue
            if candidate.name in config.disable:
                self.pm.set_blocked(candidate.name)
                self._table[candidate.name] = candidate.info("blocked")
            elif config.autoload or candidate.name in config.enable:
                self._load(candidate)
            else:
                self._table[candidate.name] = candidate.info("disabled")

    def _load(self, candidate: Candidate) -> None:
        try:
            obj = load_entry_point(candidate)
            self.add(obj, candidate.info("enabled"))
        except (PluginLoadError, _RegistrationFailed) as exc:
            self._failed(candidate.info("enabled"), str(exc), exc)

    def _name_taken(self, candidate: Candidate, existing: PluginInfo) -> None:
        """An installed plugin whose entry-point name another plugin has: it cannot be loaded
        (names are how operators enable and disable plugins), and it cannot have a row of
        its own. With ``strict`` it stops the start; else a warning says so."""
        owner = (
            "a built-in plugin" if existing.builtin else f"the plugin from {existing.distribution}"
        )
        error = (
            f"installed plugin {candidate.name!r} ({candidate.distribution} "
            f"{candidate.version}) is not loaded: {owner} has that name; the distribution "
            "must give its entry point another name"
        )
        if self.config.strict:
            raise PluginError(error)
        _log.warning(
            "toolwire.plugin_name_taken",
            plugin=candidate.name,
            distribution=candidate.distribution,
            version=candidate.version,
            error=error,
        )

    def _failed(self, info: PluginInfo, error: str, exc: Exception) -> None:
        """Record a plugin that could not be loaded; with ``strict`` it stops the start."""
        self._table[info.name] = info.with_status("failed", error)
        if self.config.strict:
            raise PluginError(
                f"plugin {info.name!r} ({info.distribution} {info.version}) failed to load: {error}"
            ) from exc
        _log.warning(
            "toolwire.plugin_failed_to_load",
            plugin=info.name,
            distribution=info.distribution,
            version=info.version,
            error=error,
        )

    def add(self, obj: Any, info: PluginInfo) -> None:
        """Register one plugin and everything it brings, atomically."""
        if isinstance(obj, type):
            # A class is a plugin factory: every dispatcher gets an instance of its own.
            try:
                obj = obj()
            except (Exception, SystemExit) as exc:
                raise _RegistrationFailed(
                    f"the plugin class {obj.__qualname__} could not be instantiated with no "
                    f"arguments ({describe_exception(exc)}); a plugin class takes none"
                ) from exc
        if self.pm.is_registered(obj):
            raise ConfigError(
                f"{_described(obj)} is already registered, as plugin "
                f"{self.pm.get_name(obj)!r}; an object is one plugin (a plugin class gives "
                "each registration an instance of its own)"
            )
        if info.name in self._table or self.pm.has_plugin(info.name):
            # Names are how operators disable plugins and how failures are told apart.
            raise ConfigError(
                f"a plugin named {info.name!r} is already registered; give this one another "
                "name (Dispatcher.add(obj, name=...), or the Toolset's name)"
            )
        selection = selection_of(self.config.plugin_table(info.name))
        reads_settings = callable(getattr(obj, "toolwire_configure", None))
        _refuse_unknown_pack_keys(self.config, info.name, reads_settings)
        if isinstance(obj, Tool | Toolset):
            pack = [obj] if isinstance(obj, Tool) else list(obj)
            pack = select_tools(info.name, pack, selection)
            self.catalogue.add(info.name, pack, [], [])
            self._table[info.name] = _with_counts(info, (), len(pack))
            return
        try:
            self.pm.register(obj, name=info.name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise _RegistrationFailed(describe_exception(exc)) from exc
        try:
            _refuse_wrappers(self.pm, obj)
            _refuse_unknown_hooks(self.pm, obj, info.name)
            try:
                self._call_own(obj, "toolwire_configure", config=self.config)
            except ConfigError as exc:
                # The operator's settings are wrong: fatal, strict or not, or a plugin that
                # enforces limits would silently be left out.
                raise PluginError(f"plugin {info.name!r} refused its settings: {exc}") from exc
            tools: list[Tool] = []
            middleware: list[Any] = []
            providers: list[Provider] = []
            options: dict[str, Callable[[Any], Any]] = {}
            self._call_own(obj, "toolwire_register_tools", register=_collector(tools, info.name))
            self._call_own(obj, "toolwire_register_middleware", register=middleware.append)
            self._call_own(obj, "toolwire_register_providers", register=providers.append)
            self._call_own(
                obj,
                "toolwire_register_tool_options",
                register=_option_collector(options, info.name),
            )
            executors: dict[str, Any] = {}
            self._call_own(
                obj,
                "toolwire_register_executors",
                register=_executor_collector(executors, info.name),
            )
            contributed: list[tuple[str, Any]] = []
            self._call_own(
                obj,
                "toolwire_register_plugins",
                register=lambda name, plugin: contributed.append((name, plugin)),
            )
            try:
                tools = select_tools(info.name, tools, selection)
            except ConfigError as exc:  # the operator's selection: fatal, as settings are
                raise PluginError(str(exc)) from exc
            self.catalogue.add(info.name, tools, middleware, providers, options, executors)
            self._call_own(
                obj, "toolwire_register_tool_updates", update=self._updater(info.name, obj)
            )
        except (DuplicateToolError, PluginError, _RegistrationFailed):
            self.pm.unregister(obj, name=info.name)
            raise
        except (Exception, SystemExit) as exc:
            self.pm.unregister(obj, name=info.name)
            raise _RegistrationFailed(describe_exception(exc)) from exc
        hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(obj) or ()))
        if not hooks:
            self.pm.unregister(obj, name=info.name)
            raise _RegistrationFailed(
                f"{_described(obj)} provides no tools and no hooks, so it would do nothing; a "
                "plugin names a toolwire.Toolset or Tool, a module with @toolwire.hookimpl "
                "functions, or a class whose methods are marked @toolwire.hookimpl"
            )
        self._table[info.name] = _with_counts(info, hooks, len(tools))
        for name, plugin in contributed:
            self._add_contributed(name, plugin, info)

    def _updater(self, source: str, owner: Any) -> Callable[[Any], None]:
        """The ``update`` a plugin keeps (``toolwire_register_tool_updates``): good for that
        one registration of ``owner``, from when its registration is done."""

        def update(obj: Any) -> None:
            tools: list[Tool] = []
            collect = _collector(tools, source)
            items = obj if isinstance(obj, Iterable) and not isinstance(obj, Toolset) else [obj]
            for item in items:
                collect(item)
            selection = selection_of(self.config.plugin_table(source))
            tools = select_tools(source, tools, selection, strict=False)
            with self.lock:
                if source not in self._table or self.pm.get_plugin(source) is not owner:
                    raise ConfigError(
                        f"plugin {source!r} cannot change its tools: its registration is not "
                        "done yet (call update after the hook returns), or it failed, or the "
                        "plugin was removed"
                    )
                old = self.catalogue.replace_tools(source, tools)
                try:
                    self.on_change()
                except BaseException:
                    self.catalogue.replace_tools(source, old)
                    raise
                self._table[source] = _with_counts(
                    self._table[source], self._table[source].hooks, len(tools)
                )
            if {t.name for t in tools} == {t.name for t in old}:
                return
            _log.info(
                "toolwire.tools_updated",
                plugin=source,
                added=sorted({t.name for t in tools} - {t.name for t in old}),
                removed=sorted({t.name for t in old} - {t.name for t in tools}),
            )

        return update

    def _add_contributed(self, name: Any, plugin: Any, parent: PluginInfo) -> None:
        """A plugin another plugin brought: a failure is recorded like a failed install."""
        info = PluginInfo(str(name), parent.distribution, parent.version, "enabled")
        try:
            if not isinstance(name, str) or not name.startswith(f"{parent.name}."):
                # Its row must not take another plugin's (a built-in's) place: the parent's.
                info = PluginInfo(
                    f"{parent.name}.{name}", parent.distribution, parent.version, "enabled"
                )
                raise _RegistrationFailed(
                    f"plugin {parent.name!r} contributed a plugin named {name!r}; a contributed "
                    f"plugin's name starts with its parent's: '{parent.name}.NAME'"
                )
            if name in self.config.disable:
                self._table[name] = info.with_status("blocked")
                return
            self.add(plugin, info)
        except _RegistrationFailed as exc:
            self._failed(info, str(exc), exc)

    def _call_own(self, plugin: Any, hook_name: str, **kwargs: Any) -> None:
        """Call one plugin's own implementation of a startup hook (attribution, atomicity)."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin is plugin:
                impl.function(*[kwargs[a] for a in impl.argnames])


def _claimed_twice(name: str, claims: list[Candidate]) -> str:
    """Two distributions bring an entry point of one name: which one the config means cannot
    be told, and loading either in silence could leave the other's limits out."""
    owners = " and ".join(f"{c.distribution} {c.version}" for c in claims)
    return (
        f"plugin {name!r} is installed twice, by {owners}; a name must be one plugin's: "
        "uninstall one of them, or have its distribution give its entry point another name"
    )


def _described(obj: Any) -> str:
    if isinstance(obj, type(difflib)):
        return f"the module {obj.__name__!r}"
    return f"the {type(obj).__qualname__} object {obj!r:.60}"


def _refuse_unknown_pack_keys(config: Config, name: str, reads_settings: bool) -> None:
    """A plugin that reads no settings of its own (no ``toolwire_configure``: a tool pack)
    takes only the core's keys in ``[plugins.NAME]``; any other is a typo that would leave a
    tool offered (``exclde``), so it stops the start, with "did you mean".

    Raises:
        PluginError: naming the key, the table and what it may hold.
    """
    if reads_settings:
        return
    unknown = sorted(key for key in config.plugin_table(name) if key not in PACK_KEYS)
    if not unknown:
        return
    lines = []
    for key in unknown:
        close = difflib.get_close_matches(key, PACK_KEYS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"it takes {', '.join(PACK_KEYS)}"
        lines.append(f"unknown key [plugins.{name}] {key} ({hint})")
    raise PluginError(
        f"{config.describe()}: plugin {name!r} reads no settings of its own, so " + "; ".join(lines)
    )


def not_installed(name: str, candidates: Mapping[str, Candidate]) -> str:
    """Why ``name`` is no plugin, and what to do: a close entry-point name, or the fact that
    a distribution of that name is installed but brings no ``toolwire`` entry point."""
    from importlib.metadata import PackageNotFoundError, distribution

    known = sorted({*candidates, *BUILTIN_PLUGINS})
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"installed: {', '.join(known)}"
        return f"{name!r} ({hint})"
    own = [c.name for c in candidates.values() if c.distribution == dist.metadata["Name"]]
    if own:
        return f"{name!r} is a distribution; name its entry point(s): {', '.join(own)}"
    return (
        f"{name!r} is an installed distribution with no 'toolwire' entry point, so it is no "
        "plugin; a plugin declares [project.entry-points.toolwire] in its pyproject.toml"
    )


class _RegistrationFailed(ConfigError):
    """A plugin's own code failed while it registered (not a duplicate name)."""


def _collector(tools: list[Tool], source: str) -> Callable[[Any], None]:
    def register(obj: Any) -> None:
        if isinstance(obj, Toolset):
            tools.extend(obj)
        elif isinstance(obj, Tool):
            tools.append(obj)
        else:
            raise ConfigError(
                f"plugin {source!r} registered a {type(obj).__name__}; "
                "register(...) takes a toolwire.Tool or toolwire.Toolset"
            )

    return register


def _option_collector(
    options: dict[str, Callable[[Any], Any]], source: str
) -> Callable[[str, Callable[[Any], Any]], None]:
    def register(name: str, check: Callable[[Any], Any]) -> None:
        if not isinstance(name, str) or not name.isidentifier() or name in CORE_FIELDS:
            raise ConfigError(
                f"plugin {source!r} claimed the tool option {name!r}; an option is a Python "
                f"identifier that is not a core policy field ({', '.join(CORE_FIELDS)})"
            )
        if not callable(check):
            raise ConfigError(
                f"plugin {source!r} claimed {name!r} with a check that is not callable"
            )
        options[name] = check

    return register


def _executor_collector(executors: dict[str, Any], source: str) -> Callable[[str, Any], None]:
    def register(name: str, executor: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"plugin {source!r} registered an executor with no name")
        missing = [
            m
            for m in ("check", "start", "submit", "close")
            if not callable(getattr(executor, m, None))
        ]
        if missing:
            raise ConfigError(
                f"plugin {source!r} registered executor {name!r} without "
                f"{', '.join(missing)}; see toolwire.types.Executor"
            )
        if name in executors:
            raise ConfigError(f"plugin {source!r} registered the executor {name!r} twice")
        executors[name] = executor

    return register


def _refuse_wrappers(pm: pluggy.PluginManager, plugin: Any) -> None:
    for hook_name in hookspecs.PER_CALL_HOOKS:
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                raise ConfigError(
                    f"{hook_name} is walked per call and cannot be a wrapper; "
                    "use middleware (toolwire_register_middleware) to wrap calls"
                )


def _refuse_unknown_hooks(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    """A hookimpl whose name is no toolwire hook would never be called: a misspelt
    ``toolwire_check_permision`` guard would leave every call allowed. Fail closed, naming
    every such hook (an ``optionalhook`` is the plugin's own business)."""
    known = sorted(hook for hook in dir(hookspecs) if hook.startswith("toolwire_"))
    unknown = []
    for caller in pm.get_hookcallers(plugin) or ():
        own = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
        if caller.spec is None and not all(impl.optionalhook for impl in own):
            close = difflib.get_close_matches(caller.name, known, n=1)
            unknown.append(caller.name + (f" (did you mean {close[0]!r}?)" if close else ""))
    if unknown:
        raise _RegistrationFailed(
            f"plugin {name!r} implements hooks toolwire does not have, which would never be "
            f"called: {'; '.join(sorted(unknown))}. The hooks are in toolwire.hookspecs; mark "
            "a hook of your own @toolwire.hookimpl(optionalhook=True)"
        )


def _with_counts(info: PluginInfo, hooks: tuple[str, ...], tools: int) -> PluginInfo:
    return PluginInfo(
        info.name,
        info.distribution,
        info.version,
        info.status,
        info.error,
        hooks,
        tools,
        info.builtin,
    )


def _default_name(obj: Any) -> str:
    if isinstance(obj, Toolset | Tool):
        return obj.name
    return str(getattr(obj, "__name__", None) or type(obj).__name__)


def _distribution_of(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
    return str(module).split(".")[0] if module else ""


def own_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("toolwire")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"
