"""Trace context across process and network hops: into a carrier, and back out of one.

A carrier is a ``dict[str, str]`` such as HTTP headers, a task's metadata, or the ``_meta``
object of an MCP request (which carries ``traceparent`` and ``tracestate``). The format is
the globally configured propagator's: W3C Trace Context and Baggage unless the host set
``OTEL_PROPAGATORS`` or called ``opentelemetry.propagate.set_global_textmap``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate


def inject(carrier: MutableMapping[str, Any] | None = None) -> MutableMapping[str, Any]:
    """Write the current trace context into ``carrier`` (a new dict when omitted); return it.

    Called inside a tool, or inside the ``execute_tool`` span toolwire-otel opens around it,
    the context written is that of the call's span: a worker that extracts it starts its
    spans as children of the call.

    Returns:
        The carrier, with ``traceparent`` (and ``tracestate``, ``baggage`` when there are
        any) added; unchanged when there is no current span.
    """
    carrier = {} if carrier is None else carrier
    propagate.inject(carrier)
    return carrier


def extract(carrier: object) -> otel_context.Context:
    """The trace context a carrier holds: an empty context when it holds none.

    A carrier is a mapping of header names to strings. Anything else (``None``, a number, a
    string, a list, any object) holds no context, and so do keys and values that are not
    strings, so nothing that came over the wire can make this raise.

    Args:
        carrier: Normally a ``Mapping[str, str]``; any value is accepted.

    Returns:
        The extracted context, or an empty ``Context`` (no span: calls made under it start a
        new trace).
    """
    if not isinstance(carrier, Mapping) or not carrier:
        return otel_context.Context()
    try:
        headers = {k: v for k, v in carrier.items() if isinstance(k, str) and isinstance(v, str)}
        return propagate.extract(headers)
    except Exception:  # noqa: BLE001 - a mapping or propagator that fails on odd input means "no context"
        return otel_context.Context()


@contextlib.contextmanager
def attached(carrier: object) -> Iterator[otel_context.Context]:
    """Make the context a carrier holds current for the ``with`` block (see ``extract``: any
    value is accepted, and one that holds no context attaches an empty one).

    Dispatch inside it and the call's ``execute_tool`` span becomes a child of the remote
    caller's span (an MCP client's request, a queued task's producer)::

        with toolwire_otel.attached(request_meta):
            result = await dispatcher.dispatch(name, arguments)
    """
    extracted = extract(carrier)
    token = otel_context.attach(extracted)
    try:
        yield extracted
    finally:
        otel_context.detach(token)
