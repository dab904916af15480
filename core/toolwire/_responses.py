"""A model's response: which provider's it is, and the calls in it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import ConfigError
from .providers import ParsedResponse, Provider
from .providers._json import to_plain


def provider_named(providers: Mapping[str, Provider], name: str) -> Provider:
    """One provider by name.

    Raises:
        ConfigError: no provider has that name (the known ones are listed).
    """
    if name not in providers:
        raise ConfigError(
            f"unknown provider {name!r}; known: {', '.join(sorted(providers)) or '(none)'}"
        )
    return providers[name]


def parse_response(
    providers: Mapping[str, Provider], response: Any, name: str | None
) -> tuple[Provider, ParsedResponse]:
    """The response's provider (named, or detected) and what it parses out of it.

    Raises:
        ConfigError: an unknown provider, or a response that no provider (or several) claims.
    """
    try:
        plain = to_plain(response)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    if name is not None:
        provider = provider_named(providers, name)
        if not provider.detect(plain):
            others = [p.name for p in providers.values() if p is not provider and p.detect(plain)]
            looks = f"; it looks like {', '.join(others)}" if others else ""
            raise ConfigError(
                f"the response is not one provider {name!r} reads{looks}: its calls would be dropped "
                "unanswered"
            )
    else:
        matches = [p for p in providers.values() if p.detect(plain)]
        if len(matches) != 1:
            raise ConfigError(_undetected(plain, matches))
        provider = matches[0]
    parsed = provider.parse_response(plain)
    parsed.original = response
    return provider, parsed


def _undetected(plain: Any, matches: Sequence[Provider]) -> str:
    if matches:
        return (
            "the response matches several providers "
            f"({', '.join(p.name for p in matches)}); name one with provider="
        )
    if isinstance(plain, Mapping):
        keys = ", ".join(sorted(map(str, plain))[:12]) or "(none)"
        return f"no provider recognises this response (a JSON object with keys: {keys})"
    return f"no provider recognises this response (a {type(plain).__name__})"
