"""The library's logger: the standard library's ``logging``, or structlog when the host uses it.

toolwire logs and never configures logging; the host does. An event goes to the standard
library's logger ``toolwire`` unless the host has configured structlog (``structlog.configure``),
in which case it goes through structlog. Either way the host's level decides first: an event the
host's logger would drop is never built. Nothing is written to stdout by this module.

No handler is added to the ``toolwire`` logger, not even a ``NullHandler``: with no logging
configured at all, Python's last-resort handler writes warnings and errors (a failed plugin, a
tool's traceback) to stderr, and everything below ``warning`` is dropped unbuilt. A host that
wants silence, or anything else, configures logging.

Secrets: the call sites that log a call's failure pass the call's secret values (see
``secret_values``); they are masked in every field of the event, in the exception's message and
in its rendered traceback. The exception object itself is then not handed to the host's
handlers, which could render it (or its frames' local variables) unmasked. The same rule is
public as ``toolwire.types.Redaction``, for whatever else carries a call out (spans, the CLI).
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
import traceback
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._config import Config

REDACTED: Final = "[redacted]"
"""What a secret is replaced with, in arguments and in text."""

_TOO_DEEP: Final = "[nested too deep]"
#: How deep a logged copy of arguments goes (the parse stage's default cap is 64); deeper ones,
#: cyclic ones included, are cut off rather than overflow the stack.
_MAX_DEPTH: Final = 100
_METHODS: Final = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


def redact_names(settings: Mapping[str, Any]) -> frozenset[str]:
    """The ``redact`` names of a ``[logging]`` table, lower-cased for matching.

    Args:
        settings: The ``[logging]`` table with its defaults (``config.section("logging")``).

    Returns:
        The names; a key is secret when its lower-cased text contains one of them.
    """
    return frozenset(str(name).lower() for name in settings["redact"])


def is_secret_key(key: Any, names: Collection[str]) -> bool:
    """Whether an argument named ``key`` holds a secret: its name contains a redacted name."""
    text = str(key).lower()
    return any(name in text for name in names)


def redact(value: Any, names: Collection[str], depth: int = 0) -> Any:
    """A copy of ``value`` with the values of secret keys (at any depth) replaced by the mask.

    Containers nested deeper than 100 levels (a cycle is) are cut off as ``[nested too deep]``.
    """
    if depth > _MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        return _TOO_DEEP
    if isinstance(value, Mapping):
        return {
            k: REDACTED if is_secret_key(k, names) else redact(v, names, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, names, depth + 1) for v in value]
    return value


#: The shortest part of a secret (a line of it, or it without its surrounding whitespace)
#: masked on its own.
_SECRET_PART_MIN: Final = 4
#: Secret texts one call may have masked one by one. Masking costs a search of each text for
#: each secret: past this many (a model can send thousands of secret-named keys), every
#: string that would be masked is replaced whole instead, in time that does not grow with them.
MAX_SECRET_TEXTS: Final = 512
#: Characters one string may have searched in all (its length times the secrets): past this,
#: it is replaced whole too, so that a long text (a large argument a tool's error repeats)
#: under many secrets costs no more than this.
MAX_MASK_WORK: Final = 16_000_000


def secret_values(arguments: Any, names: Collection[str]) -> tuple[str, ...]:
    """The texts that would show a call's secrets in a log, longest first.

    A secret is every string or number found under a key whose name contains one of ``names``,
    at any depth. Each is given as it reads raw, inside ``repr`` and inside JSON, so a tool that
    formats its arguments either way is masked too (and as bytes, and through ``ascii()``); so
    is each line of it and it without its surrounding whitespace (a secret read from a file
    ends in a newline a traceback drops), when at least four characters long.

    Args:
        arguments: The call's arguments: a mapping, or the JSON text the model sent.
        names: Lower-cased names, as ``redact_names`` gives them.

    Returns:
        The texts to mask; empty when there is nothing secret (or nothing readable).
    """
    if not names:
        return ()
    if isinstance(arguments, str | bytes | bytearray):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):  # unreadable: no key can say what is secret
            return ()
    found = _secrets_in(arguments, names)
    if len(found) > MAX_SECRET_TEXTS:  # mask() replaces whole strings: no forms needed
        return tuple(found)
    texts: set[str] = set()
    for value in found:
        texts.update((value, repr(value)[1:-1], json.dumps(value)[1:-1]))
        texts.add(json.dumps(value, ensure_ascii=False)[1:-1])
        # As bytes (``repr(value.encode())``) and through ``ascii()``: the forms a tool's
        # message shows a non-ASCII secret in.
        texts.update((repr(value.encode("utf-8", "surrogatepass"))[2:-1], ascii(value)[1:-1]))
        # A secret read from a file ends in a newline, which a traceback or a log line
        # strips; one of several lines shows line by line. Those parts are secret too (when
        # long enough not to mask ordinary words).
        parts = {value.strip(), *(line.strip() for line in value.splitlines())}
        texts.update(part for part in parts if len(part) >= _SECRET_PART_MIN)
    texts.discard("")
    return tuple(sorted(texts, key=len, reverse=True))


def _secrets_in(arguments: Any, names: Collection[str]) -> set[str]:
    """Every string or number under a secret key, the keys of a mapping under one included.

    A loop that visits each container once: a host may pass arguments of any depth, or
    cyclic ones (the parse stage refuses them, but the log still sees them).
    """
    found: set[str] = set()
    visited: set[tuple[int, bool]] = set()
    pending: list[tuple[Any, bool]] = [(arguments, False)]
    while pending:
        value, secret = pending.pop()
        if isinstance(value, Mapping | list | tuple):
            if (id(value), secret) in visited:
                continue
            visited.add((id(value), secret))
        if isinstance(value, Mapping):
            if secret:  # under a secret key, its keys are part of the secret too (when long
                # enough not to mask ordinary words)
                pending += [(k, True) for k in value if len(str(k)) >= _SECRET_PART_MIN]
            pending += [(v, secret or is_secret_key(k, names)) for k, v in value.items()]
        elif isinstance(value, list | tuple):
            pending += [(v, secret) for v in value]
        elif secret and isinstance(value, str):
            found.add(value)
        elif secret and isinstance(value, int | float) and not isinstance(value, bool):
            found.add(str(value))
    return found


def mask(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` with every secret text in its strings (at any depth) replaced by the mask.

    With more than ``MAX_SECRET_TEXTS`` secrets, every string holding any text is replaced
    whole: searching each for each secret would take time in proportion to their product; so
    is a string whose length times the number of secrets is over ``MAX_MASK_WORK``.
    """
    secrets = secrets if isinstance(secrets, tuple) else tuple(secrets)
    return _mask(value, secrets, len(secrets) > MAX_SECRET_TEXTS)


def _mask(value: Any, secrets: tuple[str, ...], whole: bool) -> Any:
    if isinstance(value, str):
        if whole or len(value) * len(secrets) > MAX_MASK_WORK:
            return REDACTED if value else value
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {k: _mask(v, secrets, whole) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, secrets, whole) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Redaction:
    """The ``[logging] redact`` rule, for whatever else carries a call out of the process.

    The log masks secrets with it; a plugin that writes a call anywhere else (a span, a file,
    a message to another process) uses the same object, so that one rule decides what is
    secret everywhere. An argument is secret when its key, lower-cased, contains one of
    ``names``, at any depth. Its value is then replaced by ``[redacted]`` in the arguments
    (``redact``), and every text that shows it (an error message that quotes it, a result
    that repeats it, a traceback) has it replaced too (``secret_values``, then ``mask``).

    Usage, in a plugin::

        @toolwire.hookimpl
        def toolwire_configure(self, config):
            self.redaction = toolwire.types.Redaction.from_config(config)

        @toolwire.hookimpl
        def toolwire_call_finished(self, call, result, context):
            secrets = self.redaction.secret_values(call.arguments)
            arguments = self.redaction.redact(call.arguments)  # a mapping: by key
            message = self.redaction.mask(result.output, secrets)  # any text: by value

    Attributes:
        names: The lower-cased names (``[logging] redact``); empty, nothing is secret.
    """

    names: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, config: Config) -> Redaction:
        """The rule a config sets: its ``[logging] redact`` list (the defaults when unset)."""
        return cls(redact_names(config.section("logging")))

    def is_secret(self, key: Any) -> bool:
        """Whether an argument named ``key`` holds a secret."""
        return is_secret_key(key, self.names)

    def redact(self, value: Any) -> Any:
        """A copy of ``value`` whose secret keys' values (at any depth) are ``[redacted]``.

        Tuples become lists; containers nested deeper than 100 levels (a cyclic one is)
        become ``[nested too deep]``; anything else is returned as it is (text too: redaction
        works by key, so parse JSON text first).
        """
        return redact(value, self.names)

    def secret_values(self, arguments: Any) -> tuple[str, ...]:
        """The texts that would show a call's secrets, longest first, for ``mask``.

        Args:
            arguments: The call's arguments: a mapping, or the JSON text the model sent
                (text that does not parse holds no key, so nothing in it is known secret).

        Returns:
            Every string or number under a secret key, as it reads raw, in ``repr`` and in
            JSON; empty when nothing is secret.
        """
        return secret_values(arguments, self.names)

    def mask(self, value: Any, secrets: Iterable[str]) -> Any:
        """``value`` with each of ``secrets`` replaced by ``[redacted]`` in every string, at any
        depth (mappings and lists copied, tuples as lists, other values as they are); with no
        secrets, ``value`` itself."""
        secrets = tuple(secrets)
        return mask(value, secrets) if secrets else value


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1] if len(exc_info) == 3 else None
    if exc_info:
        return sys.exc_info()[1]
    return None


def _rendered(exc: BaseException, secrets: Iterable[str]) -> str:
    """The traceback as ``logging`` renders it (causes, notes, groups), secrets masked."""
    text = "".join(traceback.format_exception(exc)).rstrip("\n")
    return str(mask(text, secrets))


def _message(event: str, fields: Mapping[str, Any]) -> str:
    """``event key=value ...``; values as ``repr``, so a newline in one cannot forge a line."""
    parts = [event]
    parts += [f"{key}={value!r}" for key, value in fields.items() if value is not None]
    return " ".join(parts)


def _configured_structlog() -> ModuleType | None:
    """structlog, when the host has configured it (never imported here to find out)."""
    structlog = sys.modules.get("structlog")
    if structlog is not None and structlog.is_configured():
        return structlog
    return None


class Logger:
    """Where toolwire's events go: ``log.info("toolwire.event", key=value)`` and so on.

    Every method takes the event name, then its fields as keywords, plus two keywords of its
    own: ``exc_info`` (an exception, an ``exc_info`` tuple, or ``True`` for the one being
    handled) and ``secrets`` (texts to mask, as ``secret_values`` gives them).
    """

    __slots__ = ("_asked", "_name", "_stdlib")

    def __init__(self, name: str = "toolwire") -> None:
        self._name = name
        self._stdlib = logging.getLogger(name)
        #: structlog's wrapper class and logger factory, and a logger bound under them.
        self._asked: tuple[tuple[Any, Any], Any] | None = None

    def enabled(self, level: int) -> bool:
        """Whether the host's logger keeps an event at ``level``: ask before building one."""
        structlog = _configured_structlog()
        if structlog is None:
            return self._stdlib.isEnabledFor(level)
        bound = self._to_ask(structlog)
        if bound is None:
            return self._stdlib.isEnabledFor(level)
        return _structlog_enabled(bound, level)

    def _to_ask(self, structlog: ModuleType) -> Any | None:
        """A structlog logger to ask whether a level is kept. What decides that is the wrapper
        class (a filtering one) and the logger factory (a stdlib logger's level, read when
        asked): the logger is bound again only when the host configures another of either,
        not for every call (binding one costs more than a whole call's pipeline)."""
        config = structlog.get_config()
        key = (config["wrapper_class"], config["logger_factory"])
        asked = self._asked
        if asked is not None and asked[0][0] is key[0] and asked[0][1] is key[1]:
            return asked[1]
        bound = _bind(structlog, self._name)
        if bound is not None:
            self._asked = (key, bound)
        return bound

    def log(self, level: int, event: str, /, **fields: Any) -> None:
        """Log ``event`` at ``level`` (a ``logging`` level number)."""
        self._emit(level, event, fields)

    def debug(self, event: str, /, **fields: Any) -> None:
        """Log ``event`` at debug."""
        self._emit(logging.DEBUG, event, fields)

    def info(self, event: str, /, **fields: Any) -> None:
        """Log ``event`` at info."""
        self._emit(logging.INFO, event, fields)

    def warning(self, event: str, /, **fields: Any) -> None:
        """Log ``event`` at warning."""
        self._emit(logging.WARNING, event, fields)

    def error(self, event: str, /, **fields: Any) -> None:
        """Log ``event`` at error."""
        self._emit(logging.ERROR, event, fields)

    def critical(self, event: str, /, **fields: Any) -> None:
        """Log ``event`` at critical."""
        self._emit(logging.CRITICAL, event, fields)

    def _emit(self, level: int, event: str, fields: dict[str, Any]) -> None:
        try:
            self._send(level, event, fields, sys._getframe(2))
        except (KeyboardInterrupt, SystemExit):
            raise  # the host's own Ctrl-C, or its request to exit
        except BaseException:  # noqa: BLE001 - the host's logging must never fail a call
            # Only the host's handlers and processors can raise here (the standard library
            # catches an Exception a handler raises; this is a CancelledError of theirs, say):
            # nothing here awaits, so it is no cancellation of the caller's.
            return

    def _send(self, level: int, event: str, fields: dict[str, Any], caller: FrameType) -> None:
        structlog = _configured_structlog()
        if structlog is None:
            if self._stdlib.isEnabledFor(level):
                # The caller of the public method, for %(pathname)s and friends.
                _to_stdlib(self._stdlib, level, event, fields, caller)
            return
        bound = _bind(structlog, self._name)
        if bound is not None:
            if not _structlog_enabled(bound, level):
                return
            if _to_structlog(bound, level, event, dict(fields)):
                return
        # The host's structlog could not take it (a wrapper that cannot be made here, a
        # logger without that method, an async one): the standard library's logging gets it,
        # rather than the caller an exception or nobody the event.
        if self._stdlib.isEnabledFor(level):
            _to_stdlib(self._stdlib, level, event, fields, caller)


def _bind(structlog: ModuleType, name: str) -> Any | None:
    """A logger bound under the host's structlog configuration; ``None`` when none can be
    made here (structlog's ``AsyncBoundLogger`` needs a running event loop)."""
    try:
        return structlog.get_logger(name).bind()
    except Exception:  # noqa: BLE001 - the host's logging must never fail a call
        return None


def _structlog_enabled(bound: Any, level: int) -> bool:
    # Filtering loggers (structlog's own, and its stdlib one) can say. A wrapper that does not
    # define the check (structlog's generic BoundLogger would pass it on to whatever logger it
    # wraps), or whose check fails, cannot: the host's processors decide, so the event is built.
    check = getattr(type(bound), "is_enabled_for", None)
    if check is None:
        return True
    try:
        return bool(check(bound, level))
    except Exception:  # noqa: BLE001 - the host's logging must never fail a call
        return True


def _prepared(fields: dict[str, Any]) -> tuple[dict[str, Any], BaseException | None, str | None]:
    """The fields (masked), the exception to hand over as it is, and its masked rendering."""
    exc = _exception(fields.pop("exc_info", None))
    secrets: tuple[str, ...] = tuple(fields.pop("secrets", None) or ())
    if not secrets:
        return fields, exc, None
    masked = {key: mask(value, secrets) for key, value in fields.items()}
    return masked, None, None if exc is None else _rendered(exc, secrets)


def _to_stdlib(
    _stdlib: logging.Logger, level: int, event: str, fields: dict[str, Any], caller: FrameType
) -> None:
    fields, exc, rendered = _prepared(fields)
    code = caller.f_code
    record = _stdlib.makeRecord(
        _stdlib.name,
        level,
        code.co_filename,
        caller.f_lineno,
        _message(event, fields),
        (),
        None if exc is None else (type(exc), exc, exc.__traceback__),
        code.co_name,
    )
    if rendered is not None:
        # Formatter.format appends exc_text whether or not exc_info is set.
        record.exc_text = rendered
    # The fields as attributes too, as ``extra=`` would set them, for formatters that read them.
    for key, value in {"event": event, **fields}.items():
        if key not in record.__dict__:
            setattr(record, key, value)
    _stdlib.handle(record)


def _to_structlog(bound: Any, level: int, event: str, fields: dict[str, Any]) -> bool:
    """Hand the event to the host's structlog; ``False`` when it could not take it."""
    fields, exc, rendered = _prepared(fields)
    if exc is not None:
        fields["exc_info"] = exc
    elif rendered is not None:
        fields["exception"] = rendered  # structlog's key for an already rendered traceback
    method = _METHODS.get(level)
    try:
        if method is None:
            done = bound.log(level, event, **fields)
        else:
            done = getattr(bound, method)(event, **fields)
    except Exception:  # noqa: BLE001 - the host's logging must never fail a call
        return False
    if inspect.isawaitable(done):  # an async logger: nothing here may await it
        if inspect.iscoroutine(done):
            done.close()
        return False
    return True


log: Final = Logger()


def get_logger(name: str) -> Logger:
    """The logger toolwire's own events go through, under another name, for plugins.

    Events go to the standard library's ``logging`` (logger ``name``: use a child of
    ``toolwire``, such as ``toolwire.ratelimit``, so that the host's settings for ``toolwire``
    cover it), or through structlog when the host has configured structlog. Nothing is built
    below the host's level, and nothing ever goes to stdout.

    Usage: ``log = toolwire.get_logger("toolwire.mine")`` then
    ``log.warning("mine.event", key=value, exc_info=exc, secrets=...)``.
    """
    return Logger(name)
