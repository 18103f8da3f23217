"""Scheduled reports from the router's timer loop, on SQLite with a clock the test moves:
each report once, after a restart too, and none skipped while the router was down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.report_mail import ReportMail, is_report
from services.router.policy.config import Policy
from services.router.reports.mailing import Mailing
from services.router.reports.schedule import parse
from services.router.reports.scheduled import ScheduledReports
from shared.bus.memory import MemoryBus
from shared.events import Channel, Receiver
from shared.runtime import Runtime
from shared.storage.tables import audit_log
from tests.unit import factories as f
from tests.unit.router.conftest import outbox_actions, prepared_router, published_actions
from tests.unit.router.test_report_mail import board_policy

BOARD = Receiver(name="board", channel=Channel.EMAIL, target="board@example.org")
COMMS = Receiver(name="comms", channel=Channel.EMAIL, target="comms@example.org")
WEEKLY = "weekly:mon 08:00 Europe/Paris"
# f.NOW is Saturday 21 November 2026; Monday 08:00 in Paris is 07:00 UTC.
MONDAY = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def reports(engine: AsyncEngine, policy: Policy, spec: str = WEEKLY) -> ScheduledReports:
    return ScheduledReports(engine, Mailing(parse(spec), (BOARD, COMMS), "fr"), policy)


async def sent_periods(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(audit_log.c.dedup_key)
            .where(audit_log.c.action == "report.sent")
            .order_by(audit_log.c.id)
        )
        return list(rows.scalars())


async def test_a_report_goes_out_when_due_and_once(engine: AsyncEngine, policy: Policy) -> None:
    loop = reports(engine, policy)
    assert len(await loop.run_due(f.NOW)) == 0  # first seen on Saturday: nothing due yet
    assert len(await loop.run_due(MONDAY - timedelta(seconds=1))) == 0
    assert len(await loop.run_due(MONDAY)) == 2  # one action per receiver
    assert len(await loop.run_due(MONDAY + timedelta(minutes=1))) == 0
    staged = await outbox_actions(engine)
    assert [a.receiver.name for a in staged] == ["board", "comms"]
    assert all(is_report(a) and a.lang == "fr" for a in staged)
    mail = ReportMail.model_validate_json(staged[0].message or "")
    assert mail.subject == "Vigie — rapport hebdomadaire · 2026-11-16 – 2026-11-22"
    assert mail.html.startswith("<!doctype html>") and "Période: 2026-11-16" in mail.text
    assert await sent_periods(engine) == ["report-sent:week:2026-11-16:2026-11-22:Europe/Paris"]


async def test_a_restart_neither_doubles_nor_skips(engine: AsyncEngine, policy: Policy) -> None:
    first = reports(engine, policy)
    await first.run_due(f.NOW)
    # The router is down from Saturday to Tuesday: Monday's report goes out on restart.
    restarted = reports(engine, policy)
    assert len(await restarted.run_due(MONDAY + timedelta(days=1))) == 2
    # Restarted again the same day: nothing more.
    assert len(await reports(engine, policy).run_due(MONDAY + timedelta(days=1, hours=1))) == 0
    # Down for two more weeks: both missed weeks, oldest first, in one pass.
    later = reports(engine, policy)
    assert len(await later.run_due(MONDAY + timedelta(days=15))) == 4
    assert [key.split(":")[2] for key in await sent_periods(engine)] == [
        "2026-11-16",
        "2026-11-23",
        "2026-11-30",
    ]


async def test_two_replicas_send_one_report(engine: AsyncEngine, policy: Policy) -> None:
    one, two = reports(engine, policy), reports(engine, policy)
    await one.run_due(f.NOW)
    await two.run_due(f.NOW)
    assert len(await one.run_due(MONDAY) + await two.run_due(MONDAY)) == 2
    assert len(await outbox_actions(engine)) == 2


async def test_a_period_goes_out_once_even_when_its_schedule_changes(
    engine: AsyncEngine, policy: Policy
) -> None:
    await reports(engine, policy).run_due(f.NOW)
    assert len(await reports(engine, policy).run_due(MONDAY)) == 2
    # The same Monday, an hour later: the week to Sunday was already sent.
    later = reports(engine, policy, "weekly:mon 09:00 Europe/Paris")
    await later.run_due(MONDAY - timedelta(days=1))
    assert len(await later.run_due(MONDAY + timedelta(hours=1))) == 0


async def test_the_timer_loop_publishes_the_report(runtime: Runtime, bus: MemoryBus) -> None:
    router = await prepared_router(
        runtime, board_policy(), report_schedule=WEEKLY, report_recipients="board"
    )
    await router.timers.tick(f.NOW)
    assert published_actions(bus) == []
    await router.timers.tick(MONDAY)
    (action,) = published_actions(bus)
    assert is_report(action) and action.receiver.name == "board"
    assert action.receiver.target == "board@example.org, ceo@example.org"
