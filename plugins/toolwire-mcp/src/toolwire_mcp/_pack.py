"""An MCP server as a tool pack: its tools as toolwire tools, its results as toolwire values."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import mcp_types as types
import toolwire

from ._elicit import ElicitationCall
from ._link import ServerLink, StartError

_log = toolwire.get_logger("toolwire.mcp")

#: The tool option that keeps a server's own behaviour hints (claimed by the ``mcp`` plugin).
ANNOTATIONS_OPTION: Final = "mcp_annotations"
#: Hints of a tool nobody vouches for: MCP's defaults for a tool that says nothing.
_UNTRUSTED: Final = {
    "read_only": False,
    "destructive": True,
    "idempotent": False,
    "open_world": True,
}
_HINTS: Final = {
    "read_only_hint": "read_only",
    "destructive_hint": "destructive",
    "idempotent_hint": "idempotent",
    "open_world_hint": "open_world",
}
#: The tool option that holds the server's own name for a tool offered under another.
NAME_OPTION: Final = "mcp_name"
#: A name every provider takes (toolwire's own rule for tool names).
_SAFE_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_UNSAFE_CHAR: Final = re.compile(r"[^A-Za-z0-9_-]")
#: The parameter name through which a remote tool's function receives its call's context.
_CONTEXT: Final = "toolwire_mcp_call_context"


class ServerPack:
    """The plugin ``mcp.NAME``: registers the server's tools once its first session is up.

    A server that does not start makes this registration fail, so toolwire records the plugin
    as failed (and stops the start under ``strict``).
    """

    def __init__(self, link: ServerLink) -> None:
        self.link = link

    @toolwire.hookimpl
    def toolwire_register_tools(self, register: Callable[[Any], None]) -> None:
        try:
            remote = self.link.wait_started()
        except (StartError, TimeoutError) as exc:
            self.link.close()
            raise StartError(str(exc) or "the server did not start in time") from None
        settings = self.link.settings
        stale = sorted((settings.exclude & settings.stale_ok) - set(remote))
        if stale:  # Roo Code keeps a tool in disabledTools after the server drops it
            _log.info(
                "toolwire_mcp.exclude_stale",
                server=settings.name,
                tools=stale,
                reason=f"{settings.exclude_key} names tools the server no longer offers",
            )
        unknown = sorted(settings.exclude - settings.stale_ok - set(remote))
        if unknown:
            self.link.close()
            raise StartError(
                _unknown_excluded(settings.name, unknown, list(remote), settings.exclude_key)
            )
        register(build_toolset(self.link, remote))

    @toolwire.hookimpl
    def toolwire_register_tool_updates(self, update: Callable[[Any], None]) -> None:
        def changed(remote: Mapping[str, types.Tool]) -> None:
            try:
                update(build_toolset(self.link, remote))
            except toolwire.ConfigError as exc:
                _log.warning(
                    "toolwire_mcp.tools_update_refused",
                    server=self.link.settings.name,
                    reason=str(exc),
                )

        self.link.on_tools_changed = changed


def _unknown_excluded(
    server: str, unknown: list[str], offered: list[str], key: str | None = None
) -> str:
    """Why a server whose ``exclude`` names tools it does not offer is not loaded (``key``:
    where the list came from, as the user wrote it)."""
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, offered, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (
        f"{key or f'[plugins.mcp.servers.{server}] exclude'} names tools the server does not "
        f"offer: "
        f"{', '.join(hints)}. A misspelt exclude would leave offered the tool it meant to "
        "keep out, so the server is not loaded: correct the name, or remove it."
    )


def build_toolset(link: ServerLink, remote: Mapping[str, types.Tool]) -> toolwire.Toolset:
    """The server's tools, filtered by ``include``/``exclude``, as the pack ``mcp.NAME``."""
    settings = link.settings
    pack = toolwire.Toolset(f"mcp.{settings.name}", description=f"MCP server {settings.name}")
    offered = {
        name: tool
        for name, tool in remote.items()
        if (settings.include is None or name in settings.include) and name not in settings.exclude
    }
    local = provider_names(offered, settings.prefix)
    renamed = {
        remote_name: name
        for remote_name, name in local.items()
        if name != settings.prefix + remote_name
    }
    if renamed:
        _log.info("toolwire_mcp.tools_renamed", server=settings.name, renamed=renamed)
    for name, tool in offered.items():
        try:
            pack.add(_tool(link, tool, local[name]))
        except toolwire.ConfigError as exc:
            # One tool toolwire cannot describe to every provider must not cost the others.
            _log.warning(
                "toolwire_mcp.tool_skipped", server=settings.name, tool=name, reason=str(exc)
            )
    missing = sorted((settings.include or frozenset()) - set(remote))
    if missing:
        _log.warning("toolwire_mcp.include_not_offered", server=settings.name, tools=missing)
    return pack


def provider_names(remote: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The name each remote tool is offered under: ``prefix + name`` when every provider takes
    it, else a provider-safe name made from it, deterministic and distinct from every other.

    A character no provider takes (``calendar.listEvents``, ``drive/search``) becomes ``_``;
    a name that would then start with a digit gets a leading ``_``; a name that would then be
    longer than 64 characters, or equal another tool's name, ends in ``_`` and six hex digits
    of its original's SHA-256 instead. Calls made under the new name reach the server under
    its own (see ``NAME_OPTION``).

    Args:
        remote: The server's tools by their own names.
        prefix: The server's ``prefix`` setting.

    Returns:
        Each remote name's local name.
    """
    names: dict[str, str] = {}
    for name in remote:
        if _SAFE_NAME.match(prefix + name):
            names[name] = prefix + name
    taken = set(names.values())
    for name in sorted(set(remote) - set(names)):
        safe = _UNSAFE_CHAR.sub("_", prefix + name)
        if not safe[:1].isalpha() and safe[:1] != "_":
            safe = "_" + safe
        if len(safe) > 64 or safe in taken:
            digest = hashlib.sha256(name.encode()).hexdigest()
            for width in (6, 12, 24, 63):  # longer only if the shorter one is taken too
                suffix = "_" + digest[:width]
                candidate = safe[: 64 - len(suffix)] + suffix
                if candidate not in taken:
                    break
            safe = candidate
        names[name] = safe
        taken.add(safe)
    return names


def _tool(link: ServerLink, remote: types.Tool, local_name: str) -> toolwire.Tool:
    settings = link.settings
    remote_name = remote.name

    async def call(toolwire_mcp_call_context: toolwire.CallContext, **arguments: Any) -> Any:
        context = toolwire_mcp_call_context
        timeout = context.policy.timeout if context.policy is not None else None
        progress = context.report_progress if context.progress is not None else None
        principal = context.state.get("principal")
        call_info = ElicitationCall(
            local_name,
            remote_name,
            context.call_id,
            context.role,
            principal if isinstance(principal, str) else None,
        )
        as_task = bool(context.policy is not None and context.policy.task)
        result = await link.call(
            remote_name,
            arguments,
            timeout or settings.timeout,
            progress,
            call=call_info,
            as_task=as_task,
        )
        return result_value(result)

    given = remote.annotations.model_dump(exclude_none=True) if remote.annotations else {}
    hints = {_HINTS[k]: v for k, v in given.items() if k in _HINTS}
    if settings.trust_annotations:
        policy_hints: dict[str, bool] = {**_UNTRUSTED, **hints}
        if policy_hints["read_only"]:
            policy_hints["destructive"] = False
    else:
        policy_hints = dict(_UNTRUSTED)
    kept = {k: v for k, v in given.items() if k in _HINTS}
    options: dict[str, Any] = {ANNOTATIONS_OPTION: kept} if kept else {}
    if local_name != settings.prefix + remote_name:
        options[NAME_OPTION] = remote_name
    policy = toolwire.ToolPolicy(
        read_only=policy_hints["read_only"],
        destructive=policy_hints["destructive"],
        idempotent=policy_hints["idempotent"],
        open_world=policy_hints["open_world"],
        options=MappingProxyType(options),
    )

    def made(output_schema: Any) -> toolwire.Tool:
        return toolwire.Tool(
            call,
            name=local_name,
            description=remote.description or remote.title or "",
            schema=remote.input_schema,
            policy=policy,
            output_schema=output_schema,
        )

    if remote.output_schema is None:
        return made(False)
    try:
        # The server's outputSchema is the tool's: what its structuredContent matches.
        return made(dict(remote.output_schema))
    except toolwire.ConfigError as exc:
        tool = made(False)  # an input schema toolwire cannot take raises here, as before
        _log.warning(
            "toolwire_mcp.output_schema_dropped",
            server=settings.name,
            tool=remote_name,
            reason=str(exc),
        )
        return tool


def check_name(value: Any) -> str:
    """The ``mcp_name`` option: the server's own name for a renamed tool (set by the plugin)."""
    if not isinstance(value, str) or not value:
        raise ValueError(
            "mcp_name is the MCP server's own name for a tool; it is set by the mcp plugin"
        )
    return value


def check_annotations(value: Any) -> dict[str, bool]:
    """The ``mcp_annotations`` option: the server's hints as it sent them (kept, not enforced)."""
    if not isinstance(value, Mapping) or not all(
        k in _HINTS and isinstance(v, bool) for k, v in value.items()
    ):
        raise ValueError(
            "mcp_annotations holds an MCP server's behaviour hints "
            f"({', '.join(_HINTS)}: true or false); it is set by the mcp plugin"
        )
    return dict(value)


def result_value(result: types.CallToolResult) -> Any:
    """What a tool call returned, as the value a toolwire tool returns.

    ``isError`` raises ``execution_error`` with the server's text (it is written for the
    model) and its ``structuredContent`` as the error's ``details``; ``structuredContent`` is
    the value; text alone is the string; anything with images, audio, files or resource links
    is a ``toolwire.Content`` of those parts.

    Raises:
        toolwire.ToolError: the server said the call failed.
    """
    if result.is_error:
        text = "\n".join(_texts(result.content)).strip()
        raise toolwire.ToolError(
            text or "the tool failed and said nothing",
            kind="execution_error",
            details=result.structured_content or None,
        )
    if result.structured_content is not None:
        return result.structured_content
    parts = [part for block in result.content for part in _parts(block)]
    if all(isinstance(p, toolwire.TextPart) for p in parts):
        return "\n".join(p.text for p in parts if isinstance(p, toolwire.TextPart))
    return toolwire.Content(parts)


def _texts(blocks: list[types.ContentBlock]) -> list[str]:
    return [p.text for b in blocks for p in _parts(b) if isinstance(p, toolwire.TextPart)]


def _parts(block: Any) -> list[Any]:
    """One MCP content block as result parts; what cannot be read is said in text."""
    if isinstance(block, types.TextContent):
        return [toolwire.TextPart(block.text)]
    try:
        if isinstance(block, types.ImageContent):
            return [toolwire.ImagePart(block.data, block.mime_type)]
        if isinstance(block, types.AudioContent):
            return [toolwire.AudioPart(block.data, block.mime_type)]
        if isinstance(block, types.ResourceLink):
            return [
                toolwire.LinkPart(
                    str(block.uri),
                    block.title or block.name,
                    block.mime_type,
                    block.description,
                )
            ]
        if isinstance(block, types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, types.TextResourceContents):
                return [toolwire.TextPart(resource.text)]
            mime = resource.mime_type or "application/octet-stream"
            if mime.startswith("image/"):
                return [toolwire.ImagePart(resource.blob, mime)]
            if mime.startswith("audio/"):
                return [toolwire.AudioPart(resource.blob, mime)]
            name = str(resource.uri).rstrip("/").rsplit("/", 1)[-1] or None
            return [toolwire.FilePart(resource.blob, mime, name)]
    except (TypeError, ValueError) as exc:  # not base64, not a MIME type: said, never shown
        kind = getattr(block, "type", "content")
        return [toolwire.TextPart(f"[{kind} content the server sent could not be read: {exc}]")]
    return [toolwire.TextPart(f"[{getattr(block, 'type', 'unknown')} content, not shown]")]
