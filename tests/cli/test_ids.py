"""Call ids toolwire makes never repeat, across dispatchers, processes and runs."""

from __future__ import annotations

import toolwire


def _pack() -> toolwire.Toolset:
    pack = toolwire.Toolset("ids")

    @pack.tool
    def ping() -> str:
        """Pong."""
        return "pong"

    return pack


def test_ids_made_by_two_dispatchers_differ() -> None:
    """Two dispatchers (two runs of a command, two processes) never make the same call id."""
    ids = []
    for _ in range(2):
        with toolwire.Dispatcher().add(_pack()) as dispatcher:
            ids += [dispatcher.dispatch_sync("ping", {}).call_id for _ in range(2)]
    assert len(set(ids)) == 4
    assert all(i.startswith("call_tw") for i in ids)


def test_cli_runs_make_distinct_ids(cli, demo_config):
    """Each run of ``toolwire call`` gives its call an id no other run gives."""
    first = cli("--config", demo_config, "call", "get_weather", '{"location": "Oslo"}').json()
    second = cli("--config", demo_config, "call", "get_weather", '{"location": "Oslo"}').json()
    assert first["call_id"] != second["call_id"]
