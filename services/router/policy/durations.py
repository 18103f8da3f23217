"""Durations as policy files write them: ``90s``, ``5m``, ``4h``, ``1d``, ``1h30m``, ``0``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+)(d|h|m|s)")
_WHOLE = re.compile(r"^(?:\d+(?:d|h|m|s))+$")
_UNIT = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def parse_duration(value: Any) -> Any:
    """``"1h30m"`` -> ``timedelta(minutes=90)``; a timedelta passes through.

    Bare numbers other than 0 are refused: ``5`` could be seconds or minutes.
    """
    if isinstance(value, timedelta):
        return value
    if value == 0 or value == "0":
        return timedelta(0)
    if not isinstance(value, str) or not _WHOLE.match(value.strip()):
        raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 5m, 4h, 1d or 1h30m)")
    total = timedelta(0)
    for amount, unit in _PART.findall(value):
        total += int(amount) * _UNIT.get(unit, timedelta(seconds=1))
    return total


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]
