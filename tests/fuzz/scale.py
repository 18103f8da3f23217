"""How many cases each fuzz test runs, and how many every surface received in this session.

``VIGIE_FUZZ_EXAMPLES`` sets the hypothesis examples of each fuzz test: a small default keeps
``make test`` quick, ``make fuzz`` raises it. Every request sent is counted per surface and
the counts are printed at the end of the session (see ``conftest.py``).
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

DEFAULT_EXAMPLES = 25

CASES: Counter[str] = Counter()
STATUSES: dict[str, Counter[int]] = {}


def examples() -> int:
    """Examples per fuzz test: ``VIGIE_FUZZ_EXAMPLES``, else the default."""
    raw = os.environ.get("VIGIE_FUZZ_EXAMPLES", "")
    if not raw:
        return DEFAULT_EXAMPLES
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"VIGIE_FUZZ_EXAMPLES must be a positive whole number, not {raw!r}")
    return int(raw)


def fuzz_settings(factor: float = 1.0) -> settings:
    """Hypothesis settings of a fuzz test: ``factor`` times the configured examples."""
    return settings(
        max_examples=max(1, round(examples() * factor)),
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


def count(surface: str, status: int) -> None:
    """One request sent to ``surface`` (a method and a route) and answered ``status``."""
    CASES[surface] += 1
    STATUSES.setdefault(surface, Counter())[status] += 1
