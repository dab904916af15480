"""Trace context across process and network hops: into a carrier, and back out of one.

A carrier is a ``dict[str, str]`` of propagation headers: W3C Trace Context (``traceparent``,
``tracestate``) and Baggage (``baggage``) unless the host configured other propagators
(``OTEL_PROPAGATORS``, ``opentelemetry.propagate.set_global_textmap``). toolwire writes one
into each ``Job`` it hands to an executor (``Job.trace_context``), and the workers toolwire
runs (``process`` workers, ``toolwire-taskiq`` workers) make it current around the tool's
function, so the spans a tool opens on a worker join the trace of the call that sent it.

Everything here goes through ``opentelemetry-api``, imported on first use. Where it is not
installed there is no trace to carry: ``inject`` writes nothing and ``attached`` attaches
nothing. Nothing here raises on what came over the wire.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, MutableMapping
from types import ModuleType
from typing import Any

__all__ = ["attached", "extract", "inject"]


@functools.cache
def _api() -> tuple[ModuleType, ModuleType] | None:
    """``(opentelemetry.context, opentelemetry.propagate)``, or ``None`` without the API."""
    try:
        from opentelemetry import context, propagate
    except ImportError:
        return None
    return context, propagate


def inject(carrier: MutableMapping[str, Any] | None = None) -> MutableMapping[str, Any]:
    """Write the current trace context into ``carrier`` (a new dict when omitted); return it.

    A propagator that raises, or writes anything but string headers, adds nothing: tracing
    never fails a call.

    Returns:
        The carrier, with ``traceparent`` (and ``tracestate``, ``baggage`` when there are
        any) added; unchanged when neither a span nor baggage is current, or
        ``opentelemetry-api`` is missing.
    """
    carrier = {} if carrier is None else carrier
    api = _api()
    if api is None:
        return carrier
    written: dict[str, Any] = {}
    try:
        api[1].inject(written)
    except Exception:  # noqa: BLE001 - a failing propagator costs the trace, never the call
        return carrier
    for key, value in written.items():
        if isinstance(key, str) and isinstance(value, str):  # what travels as a header
            carrier[key] = value
    return carrier


def extract(carrier: object) -> Any:
    """The ``opentelemetry.context.Context`` a carrier holds; an empty one when it holds none.

    A carrier is a mapping of header names to strings. Anything else (``None``, a number, a
    list, any object) holds no context, nor do keys and values that are not strings, so
    nothing that came over the wire can make this raise.

    Returns:
        The extracted context, an empty ``Context`` (calls made under it start a new trace),
        or ``None`` when ``opentelemetry-api`` is not installed.
    """
    api = _api()
    if api is None:
        return None
    context, propagate = api
    if not isinstance(carrier, Mapping) or not carrier:
        return context.Context()
    try:
        headers = {k: v for k, v in carrier.items() if isinstance(k, str) and isinstance(v, str)}
        return propagate.extract(headers)
    except Exception:  # noqa: BLE001 - a carrier or propagator failing on odd input: "no context"
        return context.Context()


@contextlib.contextmanager
def attached(carrier: object) -> Iterator[None]:
    """Make the context a carrier holds current for the ``with`` block.

    Any value is accepted (see ``extract``). A carrier that holds no context (empty,
    missing, not a mapping, or only malformed headers) changes nothing: the block keeps
    whatever context is current. Tasks created inside the block copy the
    attached context and keep it after the block ends::

        with toolwire.propagation.attached(payload.get("trace_context")):
            task = asyncio.create_task(run_the_call())
    """
    api = _api()
    if api is None or not isinstance(carrier, Mapping) or not carrier:
        yield
        return
    extracted = extract(carrier)
    if not _holds_context(extracted):  # garbage headers: keep what is current
        yield
        return
    context = api[0]
    token = context.attach(extracted)
    try:
        yield
    finally:
        context.detach(token)


def _holds_context(context: Any) -> bool:
    """Whether an extracted context carries a valid remote span or any baggage."""
    from opentelemetry import baggage, trace

    return bool(
        trace.get_current_span(context).get_span_context().is_valid or baggage.get_all(context)
    )
