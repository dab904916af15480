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


def extract(carrier: Mapping[str, Any] | None) -> otel_context.Context:
    """The trace context a carrier holds (an empty context when it holds none or is ``None``).

    Values that are not strings are ignored, so a carrier that came over the wire cannot
    make this raise.
    """
    if not carrier:
        return otel_context.Context()
    return propagate.extract({k: v for k, v in carrier.items() if isinstance(v, str)})


@contextlib.contextmanager
def attached(carrier: Mapping[str, Any] | None) -> Iterator[otel_context.Context]:
    """Make the context a carrier holds current for the ``with`` block.

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
