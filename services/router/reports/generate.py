"""One report from the database: fetch the facts, then aggregate (the CLI, the API and the
schedule all go through here)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.policy.config import Policy
from services.router.reports.aggregate import build
from services.router.reports.fetch import Progress, ack_deadlines, fetch_facts
from services.router.reports.model import Report
from services.router.reports.period import Period


async def make_report(
    conn: AsyncConnection,
    period: Period,
    *,
    policy: Policy,
    now: datetime,
    progress: Progress | None = None,
) -> Report:
    return await report_of(
        conn, period, deadlines=ack_deadlines(policy), now=now, progress=progress
    )


async def report_of(
    conn: AsyncConnection,
    period: Period,
    *,
    deadlines: Mapping[str, timedelta],
    now: datetime,
    progress: Progress | None = None,
) -> Report:
    """The report, given the chains' ack deadlines rather than the policy (what the report
    worker receives)."""
    facts = await fetch_facts(conn, period, deadlines=dict(deadlines), progress=progress)
    if progress is not None:
        progress("aggregate")
    return build(facts, period, now=now)
