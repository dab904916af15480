"""Rate limits with the default in-process storage."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
import toolwire
import toolwire_ratelimit
from toolwire_ratelimit._settings import STRATEGIES

MakeDispatcher = Callable[..., toolwire.Dispatcher]


def successes(results: list[toolwire.DispatchResult]) -> int:
    return sum(result.success for result in results)


async def test_calls_past_the_limit_are_rate_limited(make: MakeDispatcher) -> None:
    """The first N calls run; the next one gets a retryable rate_limited error with retry_after."""
    dispatcher = make()
    results = [await dispatcher.dispatch("lookup", {"query": str(i)}) for i in range(4)]
    assert [r.success for r in results] == [True, True, True, False]
    error = results[3].error
    assert error is not None
    assert error.kind == "rate_limited" and error.retryable
    assert 0 < error.details["retry_after"] <= 60
    assert set(error.details) == {"retry_after"}
    assert results[3].attempts == 0, "a refused call never starts the function"
    assert "3 per 1 minute" in error.message


async def test_roles_have_limits_of_their_own(make: MakeDispatcher) -> None:
    """Using up one role's limit leaves another role's untouched."""
    dispatcher = make()
    admin = [await dispatcher.dispatch("lookup", {}, role="admin") for _ in range(4)]
    user = [await dispatcher.dispatch("lookup", {}, role="user") for _ in range(3)]
    assert successes(admin) == 3
    assert successes(user) == 3


async def test_per_role_off_shares_one_limit(make: MakeDispatcher) -> None:
    """With per_role = false every role counts against the same limit."""
    dispatcher = make("[plugins.ratelimit]\nper_role = false\n")
    results = [await dispatcher.dispatch("lookup", {}, role=role) for role in ("a", "b", "c", "d")]
    assert successes(results) == 3


async def test_principals_have_limits_of_their_own(make: MakeDispatcher) -> None:
    """With principal_key set, each value of that key in the host's state has its own limit."""
    dispatcher = make('[plugins.ratelimit]\nprincipal_key = "user_id"\n')
    alice = [await dispatcher.dispatch("lookup", {}, state={"user_id": 1}) for _ in range(4)]
    bob = [await dispatcher.dispatch("lookup", {}, state={"user_id": 2}) for _ in range(3)]
    nobody = [await dispatcher.dispatch("lookup", {}) for _ in range(4)]
    assert (successes(alice), successes(bob)) == (3, 3)
    assert successes(nobody) == 3, "calls without a principal share one limit"


async def test_keys_cannot_collide_through_separators(make: MakeDispatcher) -> None:
    """A role or principal holding the key separator or the placeholder cannot share another's key."""
    dispatcher = make('[plugins.ratelimit]\nprincipal_key = "user"\n')
    for _ in range(3):
        await dispatcher.dispatch("lookup", {}, role="a/b")
    assert (await dispatcher.dispatch("lookup", {}, role="a", state={"user": "b"})).success
    for _ in range(3):
        await dispatcher.dispatch("lookup", {}, role=None)
    assert (await dispatcher.dispatch("lookup", {}, role="*")).success


async def test_tools_without_a_limit_are_not_wrapped(make: MakeDispatcher) -> None:
    """A tool with no rate_limit is never limited, and the middleware is not even on its path."""
    dispatcher = make()
    results = [await dispatcher.dispatch("free", {}) for _ in range(50)]
    assert successes(results) == 50
    middleware = toolwire_ratelimit.RateLimit()
    tools = {tool.name: tool for tool in dispatcher.tools()}
    assert not middleware.applies_to(tools["free"], dispatcher.policy("free"))
    assert middleware.applies_to(tools["lookup"], dispatcher.policy("lookup"))


async def test_config_limit_overrides_the_code(make: MakeDispatcher) -> None:
    """[tools.NAME] rate_limit replaces the limit the code declared, and can add one."""
    dispatcher = make(
        '[tools.lookup]\nrate_limit = "1/minute"\n[tools.free]\nrate_limit = "2/hour"\n'
    )
    lookups = [await dispatcher.dispatch("lookup", {}) for _ in range(3)]
    frees = [await dispatcher.dispatch("free", {}) for _ in range(3)]
    assert successes(lookups) == 1
    assert successes(frees) == 2
    error = frees[2].error
    assert error is not None and error.details["retry_after"] > 60


async def test_a_batch_never_exceeds_the_limit(make: MakeDispatcher) -> None:
    """Calls of one batch run concurrently, and still only N of them get through."""
    dispatcher = make()
    results = await dispatcher.dispatch_many([{"name": "lookup", "arguments": {}}] * 10)
    assert successes(results) == 3
    assert {r.error.kind for r in results if r.error is not None} == {"rate_limited"}


def test_sync_calls_share_the_count_across_event_loops(make: MakeDispatcher) -> None:
    """dispatch_sync runs each call on a new event loop; the count carries over between them."""
    dispatcher = make()
    results = [dispatcher.dispatch_sync("lookup", {}) for _ in range(5)]
    assert successes(results) == 3


def test_threads_share_the_count(make: MakeDispatcher) -> None:
    """Sync calls from several threads at once (a loop each) together stay within the limit."""
    dispatcher = make('[tools.lookup]\nrate_limit = "10/minute"\n')
    results: list[toolwire.DispatchResult] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(5):
            result = dispatcher.dispatch_sync("lookup", {})
            with lock:
                results.append(result)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 20
    assert successes(results) == 10


def test_sync_call_from_inside_a_running_loop(make: MakeDispatcher) -> None:
    """dispatch_sync called from a coroutine (run on a loop in another thread) still counts."""
    dispatcher = make()

    async def host() -> list[toolwire.DispatchResult]:
        return [dispatcher.dispatch_sync("lookup", {}) for _ in range(4)]

    assert successes(asyncio.run(host())) == 3


async def test_the_window_moves_on(make: MakeDispatcher) -> None:
    """A limit of one a second refuses the second call with retry_after 1 and allows it a second later."""
    dispatcher = make('[tools.lookup]\nrate_limit = "1/second"\n')
    assert (await dispatcher.dispatch("lookup", {})).success
    refused = await dispatcher.dispatch("lookup", {})
    assert refused.error is not None and refused.error.details["retry_after"] == 1
    await asyncio.sleep(1.05)
    assert (await dispatcher.dispatch("lookup", {})).success


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_every_strategy_limits(make: MakeDispatcher, strategy: str) -> None:
    """Each of the strategies lets N calls through and refuses the next."""
    dispatcher = make(f'[plugins.ratelimit]\nstrategy = "{strategy}"\n')
    results = [await dispatcher.dispatch("lookup", {}) for _ in range(4)]
    assert [r.success for r in results] == [True, True, True, False]
    assert results[3].error is not None and results[3].error.details["retry_after"] >= 0


async def test_dispatchers_keep_their_own_counts(make: MakeDispatcher) -> None:
    """Two dispatchers loading the one plugin object each count for themselves in memory."""
    first, second = make(), make()
    assert successes([await first.dispatch("lookup", {}) for _ in range(4)]) == 3
    assert successes([await second.dispatch("lookup", {}) for _ in range(4)]) == 3


@pytest.mark.parametrize("limit", ["often", "0/minute", "10/0 minute", "1/second;5/minute"])
async def test_a_bad_limit_in_code_stops_the_start(limit: str) -> None:
    """A rate_limit that cannot mean what was meant stops the start, naming the tool and the value."""
    pack = toolwire.Toolset("bad")

    @pack.tool(rate_limit=limit)
    def misconfigured() -> str:
        """A tool whose limit does not parse."""
        return "never"

    dispatcher = toolwire.Dispatcher().add(pack).add(toolwire_ratelimit.RateLimitPlugin())
    with pytest.raises(toolwire.ConfigError) as raised:
        dispatcher.start()
    assert "misconfigured" in str(raised.value) and repr(limit) in str(raised.value)
