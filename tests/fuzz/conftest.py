"""Fuzz tests report how many cases each HTTP surface received."""

from __future__ import annotations

import pytest

from tests.fuzz.scale import CASES, STATUSES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    terminalreporter.section("fuzz cases")
    width = max(len(surface) for surface in CASES) + 2
    for surface, n in sorted(CASES.items()):
        statuses = " ".join(f"{s}:{k}" for s, k in sorted(STATUSES[surface].items()))
        terminalreporter.write_line(f"{surface:<{width}} {n:>7}   {statuses}")
    for service in sorted({surface.split()[0] for surface in CASES}):
        total = sum(n for surface, n in CASES.items() if surface.split()[0] == service)
        terminalreporter.write_line(f"{service + ' total':<{width}} {total:>7}")
    terminalreporter.write_line(f"{'total':<{width}} {sum(CASES.values()):>7}")
