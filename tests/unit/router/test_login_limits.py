"""Console logins are bounded: failures per name and per address within a window, password
checks off the event loop and never more than a few at once."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from services.router.access.attempts import (
    ChecksBusy,
    FailureWindow,
    PasswordChecks,
    retry_after_header,
)
from services.router.access.roles import Role
from services.router.policy.config import Policy
from shared.cpu_priority import LOWEST_PRIORITY
from shared.runtime import Runtime
from tests.unit.router.conftest import MovingClock, Router, prepared_router
from tests.unit.router.test_access_support import PASSWORD, add_user, app_of, client_of

WRONG = "not the password at all"


def test_a_key_at_its_limit_waits_for_its_oldest_failure_to_leave_the_window() -> None:
    window = FailureWindow(limit=3, window_s=60)
    for at in (0.0, 10.0, 20.0):
        assert window.retry_after("ana", at) is None
        window.failed("ana", at)

    assert window.retry_after("ana", 30.0) == 30.0  # the failure at 0 leaves at 60
    assert window.retry_after("ana", 60.0) is None  # two left in the window
    assert window.retry_after("bob", 30.0) is None  # keys are apart


def test_failures_outside_the_window_do_not_add_up() -> None:
    window = FailureWindow(limit=2, window_s=60)
    window.failed("ana", 0.0)
    window.failed("ana", 61.0)

    assert window.retry_after("ana", 62.0) is None
    window.failed("ana", 62.0)
    assert window.retry_after("ana", 63.0) == 58.0


def test_forgetting_a_key_clears_its_failures() -> None:
    window = FailureWindow(limit=1, window_s=60)
    window.failed("ana", 0.0)
    window.forget("ana")

    assert window.retry_after("ana", 1.0) is None


def test_only_the_most_recently_failed_keys_are_remembered() -> None:
    window = FailureWindow(limit=1, window_s=60, tracked=2)
    for key in ("a", "b", "c"):
        window.failed(key, 0.0)

    assert window.retry_after("a", 1.0) is None
    assert window.retry_after("b", 1.0) == 59.0
    assert window.retry_after("c", 1.0) == 59.0


@pytest.mark.parametrize(("seconds", "header"), [(0.2, "1"), (1.0, "1"), (59.01, "60")])
def test_retry_after_is_whole_seconds_and_never_zero(seconds: float, header: str) -> None:
    assert retry_after_header(seconds) == header


async def test_a_check_runs_in_a_worker_thread_of_the_lowest_priority() -> None:
    threads: list[int] = []
    priorities: list[int] = []

    def check(password: str, stored: str) -> bool:
        threads.append(threading.get_ident())
        priorities.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return password == stored

    checks = PasswordChecks(check, running=1, waiting=0)

    assert await checks.verify("x", "x") is True
    assert await checks.verify("x", "y") is False
    assert threading.get_ident() not in threads
    assert priorities == [LOWEST_PRIORITY, LOWEST_PRIORITY]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < LOWEST_PRIORITY


async def test_checks_beyond_the_running_and_waiting_ones_are_refused_at_once() -> None:
    release = threading.Event()

    def slow_check(password: str, stored: str) -> bool:
        release.wait(30)
        return True

    checks = PasswordChecks(slow_check, running=1, waiting=1)
    admitted = [asyncio.create_task(checks.verify("p", "h")) for _ in range(2)]
    await asyncio.sleep(0)  # both admitted: one running, one waiting

    with pytest.raises(ChecksBusy):
        await checks.verify("p", "h")
    release.set()
    assert await asyncio.gather(*admitted) == [True, True]
    assert await checks.verify("p", "h") is True  # room again


async def limited_router(runtime: Runtime, policy: Policy, **settings: int) -> Router:
    return await prepared_router(runtime, policy, console_insecure_cookies=True, **settings)


def logins(router: Router, outcome: str) -> float:
    value = router.runtime.registry.get_sample_value(
        "vigie_router_console_logins_total", {"outcome": outcome}
    )
    return value or 0.0


async def test_a_name_that_keeps_failing_is_refused_even_with_the_right_password(
    runtime: Runtime, policy: Policy, clock: MovingClock
) -> None:
    router = await limited_router(
        runtime, policy, console_login_failures=2, console_login_window_minutes=10
    )
    await add_user(runtime.engine, "ana", Role.VIEWER)
    async with client_of(app_of(router)) as client:
        wrong = [
            await client.post("/console/login", data={"name": name, "password": WRONG})
            for name in ("ana", " ANA ")  # the same name, however typed
        ]
        clock.at(minutes=1)
        refused = await client.post(
            "/console/login",
            data={"name": "ana", "password": PASSWORD},
            headers={"Accept-Language": "en"},
        )
        other = await client.post("/console/login", data={"name": "bob", "password": WRONG})
        clock.at(minutes=10.5)  # the first failure has left the window
        later = await client.post("/console/login", data={"name": "ana", "password": PASSWORD})

    assert [r.status_code for r in wrong] == [401, 401]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "540"
    assert "Too many failed attempts. Try again in 9 min." in refused.text
    assert "set-cookie" not in refused.headers
    assert other.status_code == 401  # another name is not held back
    assert later.status_code == 303
    assert (logins(router, "failed"), logins(router, "throttled")) == (3, 1)
    assert logins(router, "success") == 1


async def test_an_address_that_keeps_failing_is_refused_whatever_the_name(
    runtime: Runtime, policy: Policy
) -> None:
    router = await limited_router(
        runtime, policy, console_login_failures=5, console_login_peer_failures=3
    )
    await add_user(runtime.engine, "ana", Role.VIEWER)
    async with client_of(app_of(router)) as client:
        guesses = [
            await client.post("/console/login", data={"name": name, "password": WRONG})
            for name in ("u1", "u2", "u3", "u4")
        ]

    assert [r.status_code for r in guesses] == [401, 401, 401, 429]
    assert "essais infructueux" in guesses[-1].text  # French by default


async def test_a_login_clears_the_names_earlier_failures(runtime: Runtime, policy: Policy) -> None:
    router = await limited_router(runtime, policy, console_login_failures=2)
    await add_user(runtime.engine, "ana", Role.VIEWER)
    async with client_of(app_of(router)) as client:
        first = await client.post("/console/login", data={"name": "ana", "password": WRONG})
        good = await client.post("/console/login", data={"name": "ana", "password": PASSWORD})
        second = await client.post("/console/login", data={"name": "ana", "password": WRONG})
        again = await client.post("/console/login", data={"name": "ana", "password": PASSWORD})

    assert [r.status_code for r in (first, good, second, again)] == [401, 303, 401, 303]
