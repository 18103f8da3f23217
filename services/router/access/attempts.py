"""Bounds on console logins.

A password check is slow on purpose (scrypt: about 70 ms of CPU). The router's event loop
also routes crisis comments, so a check must never run on it, and anonymous clients must
not be able to keep the CPU busy with checks or guess passwords at leisure:

- ``PasswordChecks`` runs checks in a worker thread of the lowest CPU priority (scrypt
  releases the GIL; on Linux a thread has its own nice value), so that they take only the
  CPU that routing and the broker leave; when too many already wait, a login is refused at
  once instead of queued.
- ``FailureWindow`` counts failed logins per key (a user name, a peer address) over a sliding
  window; a key at its limit is refused, without any check, until its oldest failure in the
  window ages out. Its memory is bounded: beyond ``tracked`` keys, the least recently failed
  ones are forgotten.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from shared.cpu_priority import lower_priority


class ChecksBusy(Exception):
    """Too many password checks are already running or waiting."""


class FailureWindow:
    """Failed attempts per key within the last ``window_s`` seconds (pure: the caller gives
    the time)."""

    def __init__(self, *, limit: int, window_s: float, tracked: int = 10_000) -> None:
        if limit < 1 or window_s <= 0 or tracked < 1:
            raise ValueError("limit and tracked must be at least 1, window_s positive")
        self._limit = limit
        self._window_s = window_s
        self._tracked = tracked
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        failures = self._failures.get(key)
        if failures is None:
            return None
        self._expire(failures, now)
        if not failures:
            del self._failures[key]
            return None
        if len(failures) < self._limit:
            return None
        return failures[0] + self._window_s - now

    def failed(self, key: str, now: float) -> None:
        failures = self._failures.get(key)
        if failures is None:
            failures = self._failures[key] = deque(maxlen=self._limit)
            while len(self._failures) > self._tracked:
                self._failures.popitem(last=False)
        else:
            self._expire(failures, now)
            self._failures.move_to_end(key)
        failures.append(now)

    def forget(self, key: str) -> None:
        """Clear ``key``'s failures (its owner has just logged in)."""
        self._failures.pop(key, None)

    def _expire(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self._window_s:
            failures.popleft()


def retry_after_header(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))


class PasswordChecks:
    """Password checks off the event loop: ``running`` at once in worker threads of the
    lowest CPU priority, at most ``waiting`` more queued behind them; beyond, ``ChecksBusy``."""

    def __init__(self, check: Callable[[str, str], bool], *, running: int, waiting: int) -> None:
        if running < 1 or waiting < 0:
            raise ValueError("running must be at least 1 and waiting not negative")
        self._check = check
        self._running = running
        self._capacity = running + waiting
        self._admitted = 0
        self._workers: ThreadPoolExecutor | None = None

    async def verify(self, password: str, stored: str) -> bool:
        if self._admitted >= self._capacity:
            raise ChecksBusy
        if self._workers is None:  # threads only once someone logs in
            self._workers = ThreadPoolExecutor(
                self._running,
                thread_name_prefix="password-check",
                initializer=lower_priority,
            )
        self._admitted += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._workers, self._check, password, stored)
        finally:
            self._admitted -= 1
