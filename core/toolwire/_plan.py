"""What a started dispatcher builds once and every call reads: a route per tool.

A route holds a tool's compiled validator, its effective policy (code, then config, over
defaults, its plugin options checked by the plugins that claim them) and its handler: the
middleware that applies to it, in their declared order, around the innermost layer chosen
for the tool (await an ``async def``; hand a plain function to the thread runner; hand the
call to the executor the tool is bound to). Everything comes in as an argument; nothing here
reaches into a dispatcher.
"""

from __future__ import annotations

import asyncio
import difflib
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import CodeType, MappingProxyType
from typing import Any, Final, Protocol

from ._arguments import ArgumentsValidator
from ._config import Config
from ._discovery import PluginInfo
from ._errors import ConfigError, RequireApproval, ToolError, TransientError
from ._executors import OnExecutor, executor_for, is_in_process, unclaimed_tables
from ._hookwalk import CallHooks, plugin_failed
from ._innermost import INNERMOST, innermost_layer
from ._logging import log as _log
from ._logging import redact_names, secret_values
from ._middleware import Awaited, applies, awaited, code_of, compose, order_of
from ._names import arguments_validator, definition_of
from ._plugins import PluginHost
from ._policy import BUILTIN_DEFAULTS, CORE_FIELDS, ToolPolicy
from ._tasks import TaskRunner
from ._threads import ThreadRunner
from ._tools import Tool
from ._values import CallContext, ToolCall
from .middleware import ConcurrencyLimit, Retry, Timeout
from .middleware._stack import PolicyStack, fuse
from .providers import Provider, ToolDefinition
from .types import CallNext

UNEXPECTED_MESSAGE: Final = "the tool failed with an unexpected error; details were logged"

#: A tool option check: the value to keep, or ``ValueError``.
OptionCheck = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Route:
    """One enabled tool, ready to call.

    Attributes:
        tool: The tool.
        plugin: The plugin that registered it.
        validator: Its compiled validator and converters.
        policy: Its effective policy.
        handler: The middleware onion around the innermost layer.
        bare: No middleware applies and no executor takes the call: a plain function may run
            inline in the caller's thread.
        max_output_chars: Its output budget.
        check_permission: The permission stage for its calls: without the votes known at
            start to abstain for this tool (``_hookwalk.idle_when``).
        blame: Code objects of its middleware, to name the plugin whose middleware failed.
        redact: Argument names whose values are masked when a failure is logged.
        approval: Every call waits for a person's approval (the policy's ``approval``).
        renamed: Property names some registered provider refuses, each with the name it is
            sent under instead (``_names``); calls made with those are mapped back.
    """

    tool: Tool
    plugin: str
    validator: ArgumentsValidator
    policy: ToolPolicy
    handler: CallNext
    bare: bool
    max_output_chars: int
    check_permission: Callable[..., Any]
    blame: Mapping[CodeType, str] = field(default_factory=dict)
    redact: frozenset[str] = frozenset()
    approval: bool = False
    renamed: Mapping[str, str] = field(default_factory=dict)

    def failure(self, call: ToolCall, exc: BaseException) -> ToolError:
        """The error for an exception that escaped the handler, logged with whose it was.

        An exception that passed through the innermost layer is the tool's own (a generic
        ``execution_error`` for the model); one that did not was raised by a middleware and
        is blamed on its plugin (``internal_error``).
        """
        culprit = None
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            code = frame.f_code
            if code in INNERMOST:
                culprit = None
                break
            if code is _AWAITED:  # one code for every wrapped middleware: its frame knows whose
                culprit = frame.f_locals["self"].plugin
                continue
            culprit = self.blame.get(code, culprit)
        if culprit is not None:
            return plugin_failed(culprit, "middleware", call, exc, self.redact)
        if isinstance(exc, TransientError):
            # The tool said the failure is passing: its message is meant for the model.
            _log.warning("toolwire.tool_transient", tool=call.name, call_id=call.call_id)
            return ToolError(
                str(exc) or f"{call.name} failed for a passing reason; try again",
                kind="execution_error",
                retryable=True,
            )
        _log.error(
            "toolwire.tool_failed",
            tool=call.name,
            call_id=call.call_id,
            exc_info=exc,
            secrets=secret_values(call.arguments, self.redact),
        )
        return ToolError(UNEXPECTED_MESSAGE, kind="execution_error")


@dataclass(frozen=True, slots=True)
class Limits:
    """The caps a started dispatcher applies (``[limits]``, ``[defaults] max_concurrency`` and
    ``schedule``)."""

    max_bytes: int
    max_depth: int
    max_batch: int
    max_concurrency: int
    #: ``[defaults] schedule = "by_effect"``: a call of a tool not ``read_only`` runs alone.
    by_effect: bool = False


class ApprovalGate(Protocol):
    """Where a call that needs a person's approval goes instead of running (``_approvals``).

    ``hold`` records the call as waiting and returns the error that ends it now
    (``approval_required``, or ``internal_error`` when it could not be recorded). Driven
    inline (no running loop), it does its store I/O in the caller's thread.
    """

    async def hold(
        self,
        route: Route,
        call: ToolCall,
        context: CallContext,
        asked: RequireApproval | None,
        turn: Any,
    ) -> ToolError: ...


#: How many distinct unknown roles a plan logs; past it, none (roles can come from tokens).
_UNKNOWN_ROLES_LOGGED: Final = 32
#: The names toolwire's own tool search is called by (``_deferred``): ``search_tools``, and
#: ``tool_search`` for OpenAI's client-side search.
SEARCH_NAMES: Final = ("search_tools", "tool_search")


@dataclass
class Plan:
    """Everything a call reads, built once per start of a dispatcher."""

    routes: dict[str, Route]
    hooks: CallHooks
    providers: dict[str, Provider]
    limits: Limits
    roles_enforced: bool
    approvals: ApprovalGate
    redact: frozenset[str] = frozenset()
    names: tuple[str, ...] = ()
    definitions: dict[tuple[str, str], ToolDefinition] = field(default_factory=dict)
    #: Observer tasks still running for calls their caller cancelled (kept from the collector).
    observers: set[asyncio.Future[Any]] = field(default_factory=set)
    #: Every role some tool's policy names (code, ``[tools.NAME]``, a plugin's tools).
    known_roles: frozenset[str] = frozenset()
    #: The unknown roles already logged, each once (at most ``_UNKNOWN_ROLES_LOGGED``).
    unknown_roles: set[str] = field(default_factory=set)
    #: Tools a sync twin runs in the caller's thread (``_pipeline.run_inline``): a plain
    #: function, no middleware, no executor, no ``async`` hook.
    inline: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.names = tuple(sorted(self.routes))
        self.known_roles = frozenset(
            role for route in self.routes.values() for role in (route.policy.roles or ())
        )
        routes = () if self.hooks.any_async else self.routes.items()
        self.inline = frozenset(n for n, route in routes if route.bare and not route.tool.is_async)

    def note_role(self, role: str | None) -> None:
        """Log, once per plan, a role that no tool names: most often a typo, or a role the
        host meant to configure. A role that no tool names still calls every tool without
        ``roles``, and none with them. Where no tool has roles at all, every role reaches
        every tool and none is logged."""
        if not self.known_roles or role is None:
            return
        # A role that is no text is the host's bug: it is no role any tool names, and is
        # named in the log by its type.
        role = role if isinstance(role, str) else f"<not text: {type(role).__name__}>"
        if role in self.known_roles or role in self.unknown_roles:
            return
        if len(self.unknown_roles) >= _UNKNOWN_ROLES_LOGGED:
            return  # roles can come from tokens' claims: the log stays bounded
        self.unknown_roles.add(role)
        _log.warning(
            "toolwire.unknown_role",
            role=role[:64],
            known=sorted(self.known_roles),
            hint="no tool's roles name it: it may call only the tools without roles",
        )

    def may_call(self, route: Route, role: str | None) -> bool:
        """Whether ``role`` may call the route's tool (roles apply only while enforced)."""
        self.note_role(role)
        roles = route.policy.roles
        return roles is None or not self.roles_enforced or (isinstance(role, str) and role in roles)

    def definition(self, provider: Provider, tool: Tool) -> ToolDefinition:
        """One tool as that provider describes it, built once; its problems are logged once."""
        key = (provider.name, tool.name)
        found = self.definitions.get(key)
        if found is None:
            route = self.routes.get(tool.name)
            found = self.definitions[key] = definition_of(
                provider, tool, route.renamed if route else {}
            )
            for problem in found.problems:
                _log.warning(
                    "toolwire.definition_problem",
                    provider=provider.name,
                    tool=tool.name,
                    problem=problem,
                )
        return found


class Plans:
    """A dispatcher's plan over time: built on first need, from what its host has registered
    then; dropped when plugins are added or the dispatcher closes; rebuilt at once when a
    plugin of a started dispatcher changes its tools (``PluginHost.on_change``)."""

    def __init__(
        self, host: PluginHost, threads: ThreadRunner, tasks: TaskRunner, approvals: ApprovalGate
    ) -> None:
        self._inputs = (host, threads, tasks, approvals)
        self._lock = host.lock
        self._plan: Plan | None = None
        host.on_change = self.rebuild

    def current(self) -> Plan:
        """The plan, built now if there is none.

        Raises:
            ConfigError: see ``build_plan``.
        """
        plan = self._plan
        if plan is None:
            with self._lock:
                if (plan := self._plan) is None:
                    plan = self._plan = plan_for(*self._inputs)
        return plan

    def drop(self) -> None:
        """Forget the plan: the next call builds one from what is registered then."""
        self._plan = None

    def rebuild(self) -> None:
        """A plugin changed its tools: a built plan is replaced now (or the change refused
        with the ``ConfigError`` a start would raise); none built yet, nothing to do."""
        if self._plan is not None:
            self._plan = plan_for(*self._inputs)


def plan_for(
    host: PluginHost, threads: ThreadRunner, tasks: TaskRunner, approvals: ApprovalGate
) -> Plan:
    """The plan of what ``host`` has registered now, under its config.

    Raises:
        ConfigError: see ``build_plan``.
    """
    defaults = host.config.section("defaults")
    redact = redact_names(host.config.section("logging"))
    return build_plan(
        config=host.config,
        tools=host.catalogue.tools(),
        middleware=host.catalogue.middleware(),
        options=host.catalogue.options(),
        providers=host.catalogue.providers(),
        hooks=CallHooks(
            host.pm,
            default_allow=defaults["permission"] == "allow",
            permission_timeout=float(defaults["permission_timeout"]),
            redact=redact,
        ),
        threads=threads,
        tasks=tasks,
        roles_enforced=host.is_loaded("roles"),
        approvals=approvals,
        idle_plugins=host.idle(),
        executors=host.catalogue.executors(),
        versions={row.name: row.version for row in host.plugins()},
    )


def build_plan(
    *,
    config: Config,
    tools: Sequence[tuple[Tool, str]],
    middleware: Sequence[tuple[Any, str]],
    options: Mapping[str, tuple[OptionCheck, str]],
    providers: Mapping[str, Provider],
    hooks: CallHooks,
    threads: ThreadRunner,
    tasks: TaskRunner,
    roles_enforced: bool,
    approvals: ApprovalGate,
    idle_plugins: Sequence[PluginInfo] = (),
    executors: Mapping[str, tuple[Any, str]] | None = None,
    versions: Mapping[str, str] | None = None,
) -> Plan:
    """A route per enabled tool, from what the plugins registered and what config says.

    Args:
        config: The validated config (``[defaults]``, ``[limits]``, ``[tools.NAME]``).
        tools: Every registered tool, with the plugin that registered it.
        middleware: Every registered middleware, with its plugin, in registration order.
        options: The tool options plugins claim: name -> (check, plugin).
        providers: The registered providers, by name.
        hooks: The per-call hook stages, resolved.
        threads: Where plain functions run.
        tasks: What awaits ``async def`` tools (and leaves behind one that ignores a cancel).
        roles_enforced: Whether the ``roles`` plugin is loaded.
        approvals: Where calls that need a person's approval wait.
        idle_plugins: Installed plugins that are not loaded, named when an option is unclaimed.
        executors: The registered executors: name -> (executor, plugin).
        versions: Each plugin's distribution version, by plugin name (for remote workers).

    Raises:
        ConfigError: a tool option no loaded plugin claims, or a value its plugin refuses; an
            executor no loaded plugin registers, or one that refuses a tool bound to it.
    """
    executors = executors or {}
    unclaimed_tables(config, executors)
    started: set[str] = set()
    defaults = config.section("defaults")
    principal_key = config.section("approvals")["principal_key"]
    limits = config.section("limits")
    redact = redact_names(config.section("logging"))
    base = ToolPolicy.from_mapping(
        {
            key: value
            for key, value in {**BUILTIN_DEFAULTS, **defaults}.items()
            # max_concurrency bounds a batch; approval is decided per tool below
            if key in CORE_FIELDS and key not in ("max_concurrency", "approval")
        }
    )
    # False until a tool's code, its table or [defaults] says otherwise (_needs_approval): the
    # tools nothing sets apart then share this one policy, with no copy made per tool.
    base = replace(base, approval=False)
    problems: list[str] = []
    ordered = sorted(middleware, key=lambda pair: order_of(pair[0]))  # stable: ties keep order
    enforced = _enforced_fields(ordered, roles_enforced)
    rules = [p.property_names for p in providers.values() if p.property_names is not None]
    routes: dict[str, Route] = {}
    for tool, plugin in tools:
        settings = config.tool_settings(tool.name)
        policy = base.overridden_by(tool.policy).overridden_by(ToolPolicy.from_mapping(settings))
        if policy.enabled is False:
            continue
        problems += _unenforced(tool, policy, enforced)
        if policy.options:
            try:
                policy = _checked_options(tool, policy, settings, options, config, idle_plugins)
            except ConfigError as exc:
                problems += exc.problems or [str(exc)]
                continue
        approval = _needs_approval(defaults["approval"], policy, settings)
        if policy.approval is not approval:
            policy = replace(policy, approval=approval)
        fused = fuse([(m, p) for m, p in ordered if applies(m, p, tool, policy)])
        layers = [(awaited(m, p), p) for m, p in fused]
        executor = executor_for(tool, policy.executor, executors, config, started)
        innermost: CallNext = (
            innermost_layer(tool, policy, threads, tasks, not layers)
            if executor is None or is_in_process(executor)
            else OnExecutor(tool, executor, plugin, (versions or {}).get(plugin, ""), principal_key)
        )
        validator, renamed = arguments_validator(tool, redact, rules)
        routes[tool.name] = Route(
            tool,
            plugin,
            validator,
            policy,
            compose([m for m, _ in layers], innermost) if layers else innermost,
            not layers and not isinstance(innermost, OnExecutor),
            policy.max_output_chars or BUILTIN_DEFAULTS["max_output_chars"],
            hooks.permission.without_idle(policy),
            MappingProxyType(_blame(layers)),
            redact,
            approval,
            MappingProxyType(renamed),
        )
    problems += _unknown_tools(config, [tool.name for tool, _ in tools])
    problems += _search_clash(routes)
    if problems:
        raise ConfigError(
            f"the dispatcher cannot start: {len(problems)} problem(s):\n"
            + "\n".join(f"  - {p}" for p in problems),
            problems,
        )
    return Plan(
        routes,
        hooks,
        dict(providers),
        Limits(
            limits["max_argument_bytes"],
            limits["max_argument_depth"],
            limits["max_batch_calls"],
            defaults["max_concurrency"],
            defaults["schedule"] == "by_effect",
        ),
        roles_enforced,
        approvals,
        redact,
    )


def _needs_approval(default: Any, policy: ToolPolicy, settings: Mapping[str, Any]) -> bool:
    """Whether every call of a tool waits for a person, decided once per start.

    ``[tools.NAME] approval`` is the operator's last word on one tool. A tool's code may ask
    for approval but cannot escape ``[defaults] approval``: that is the operator's to lift.
    """
    if "approval" in settings:
        return bool(settings["approval"])
    if policy.approval:
        return True
    return default is True or (default == "destructive" and policy.destructive is True)


_AWAITED: Final = Awaited.__call__.__code__


def _blame(layers: Sequence[tuple[Any, str]]) -> dict[CodeType, str]:
    """Whose code each layer's frames are, to name the plugin whose middleware failed."""
    owners: dict[CodeType, str] = {}
    for layer, plugin in layers:
        if isinstance(layer, PolicyStack):
            owners.update(layer.blame())
        elif isinstance(layer, Awaited):
            if (code := code_of(layer.layer)) is not None:
                owners[code] = plugin
        elif (code := code_of(layer)) is not None:
            owners[code] = plugin
    return owners


def _search_clash(routes: Mapping[str, Route]) -> list[str]:
    """A tool named as toolwire's search, beside deferred tools: it would take the search's
    calls, and no deferred tool could be found."""
    if not any(route.policy.defer_loading for route in routes.values()):
        return []
    return [
        f"tool {name!r} (plugin {routes[name].plugin}) has the name of toolwire's tool search, "
        "which the deferred tools (defer_loading) are found with; rename the tool "
        "(name=...), or turn defer_loading off"
        for name in SEARCH_NAMES
        if name in routes
    ]


def _unknown_tools(config: Config, names: Sequence[str]) -> list[str]:
    """A ``[tools.NAME]`` table must name a tool: a typo would leave the meant tool unguarded.

    Returns:
        One problem per table that names no tool, with its file and the closest names.
    """
    problems = []
    for name in config.section("tools"):
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "no tool has a similar name"
            problems.append(
                f"{config.describe()}: [tools.{name}] names no tool ({hint}); its settings "
                "would apply to nothing"
            )
    return problems


#: Core policy fields carried out by middleware, and the middleware that carries each out.
_ENFORCERS: Final = {"timeout": Timeout, "retries": Retry, "max_concurrency": ConcurrencyLimit}


def _enforced_fields(middleware: Sequence[tuple[Any, str]], roles_enforced: bool) -> set[str]:
    """The core policy fields something loaded carries out (``roles``: the roles plugin)."""
    enforced = {
        f for f, kind in _ENFORCERS.items() if any(isinstance(m, kind) for m, _ in middleware)
    }
    return enforced | ({"roles"} if roles_enforced else set())


def _unenforced(tool: Tool, policy: ToolPolicy, enforced: set[str]) -> list[str]:
    """A tool limited by a rule nothing loaded enforces would run unlimited: one problem each."""
    problems = []
    for name in ("roles", *_ENFORCERS):
        value = getattr(policy, name)
        if isinstance(value, frozenset):
            value = sorted(value)
        if value and name not in enforced:
            owner = "roles" if name == "roles" else "policy"
            problems.append(
                f"tool {tool.name!r} sets {name} = {value!r}, which the built-in {owner!r} plugin "
                f"enforces, and it is not loaded ([plugins] disable names it): enable it, or "
                f"remove {name} from the tool and [defaults]"
            )
    return problems


def _checked_options(
    tool: Tool,
    policy: ToolPolicy,
    settings: Mapping[str, Any],
    claimed: Mapping[str, tuple[OptionCheck, str]],
    config: Config,
    idle: Sequence[PluginInfo],
) -> ToolPolicy:
    """The policy with each plugin option checked by the plugin that claims it.

    Raises:
        ConfigError: an option no loaded plugin claims (fail closed: a missing rate-limit
            plugin must not mean "unlimited"), or a value its plugin refuses.
    """
    checked: dict[str, Any] = {}
    for option, value in policy.options.items():
        where = (
            f"[tools.{tool.name}] in {config.describe()}"
            if option in settings
            else f"the code of tool {tool.name!r}"
        )
        if option not in claimed:
            close = difflib.get_close_matches(option, [*CORE_FIELDS, *claimed], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            names = [f"{p.name} ({p.distribution}, {p.status})" for p in idle]
            shown = ", ".join(names[:20]) + (
                f" and {len(names) - 20} more" if len(names) > 20 else ""
            )
            advice = (
                f" Plugins installed but not loaded: {shown}; enable the one that provides it."
                if names
                else " Install and enable the plugin that provides it, or remove the option."
            )
            raise ConfigError(
                f"{where}: {option!r} is not a tool option toolwire or any loaded plugin "
                f"enforces (options loaded plugins enforce: {', '.join(sorted(claimed)) or 'none'})"
                f"{hint}.{advice}"
            )
        check, plugin = claimed[option]
        try:
            checked[option] = check(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{where}: {option} = {value!r}: {exc} (checked by plugin {plugin!r})"
            ) from None
    return replace(policy, options=MappingProxyType(checked))
