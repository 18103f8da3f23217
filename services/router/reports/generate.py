"""One report from the database: fetch the facts, then aggregate (the CLI, the API and the
schedule all go through here)."""

from __future__ import annotations

from datetime import datetime

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
    facts = await fetch_facts(conn, period, deadlines=ack_deadlines(policy), progress=progress)
    if progress is not None:
        progress("aggregate")
    return build(facts, period, now=now)
