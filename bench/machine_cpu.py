"""CPU seconds of the broker, the database and the load generator, besides the services'.

On a machine of two cores, the services' own CPU per comment says little about the ceiling:
the Kafka broker, PostgreSQL and the benchmark's client share the same cores. Summing all of
them gives the CPU the whole pipeline spends per comment, and so the rate the machine could
sustain at most (its cores divided by that cost).

Linux only (``/proc``). PostgreSQL runs a process per connection: a backend that exits
between two samples has its time added to the postmaster's children time once reaped, so
the postmaster's own and reaped-children time plus every live backend's own time grows
monotonically.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

PROC = Path("/proc")
# Indexes in ``_stat_fields``'s list, which starts at the command name (field 2 of proc(5)).
PPID, UTIME, STIME, CUTIME, CSTIME = 2, 12, 13, 14, 15


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ")".
    head, tail = text.rsplit(")", 1)
    return [head.split("(", 1)[1], *tail.split()]


def _ticks_to_s(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far."""
    fields = _stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(pid)
    return _ticks_to_s(int(fields[UTIME]) + int(fields[STIME]))


def _processes() -> list[tuple[int, list[str]]]:
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            found.append((int(entry.name), fields))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def postgres_seconds(processes: list[tuple[int, list[str]]]) -> float | None:
    """CPU of every local PostgreSQL cluster, reaped backends included."""
    postgres = {pid: fields for pid, fields in processes if fields[0] == "postgres"}
    if not postgres:
        return None
    total = 0.0
    for fields in postgres.values():
        own = int(fields[UTIME]) + int(fields[STIME])
        parent_is_postgres = int(fields[PPID]) in postgres
        reaped = 0 if parent_is_postgres else int(fields[CUTIME]) + int(fields[CSTIME])
        total += _ticks_to_s(own + reaped)
    return total


def kafka_seconds(processes: list[tuple[int, list[str]]]) -> float | None:
    """CPU of the local Kafka broker(s) (every thread of the JVM)."""
    total, seen = 0.0, False
    for pid, fields in processes:
        if fields[0] == "java" and "kafka.Kafka " in _cmdline(pid):
            total += _ticks_to_s(int(fields[UTIME]) + int(fields[STIME]))
            seen = True
    return total if seen else None


def client_seconds() -> float:
    """CPU of this process: the load generator, the receiver and the bench's own readers."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def infrastructure_seconds() -> dict[str, float]:
    """CPU seconds so far of what is not a service: broker, database and this process.

    A part that runs elsewhere (a remote broker or database) is left out.
    """
    processes = _processes()
    out = {"bench client": client_seconds()}
    kafka = kafka_seconds(processes)
    if kafka is not None:
        out["kafka"] = kafka
    postgres = postgres_seconds(processes)
    if postgres is not None:
        out["postgresql"] = postgres
    return out
