"""Sending the scheduled reports from the router's timer loop, once per period.

The state lives in the audit log, in the database every replica shares: a
``report.scheduled`` row records when a schedule was first seen, a ``report.sent`` row
(unique key: the period) each report sent. A report due and not sent is found again after
a restart, so none is skipped (within ``CATCH_UP``); the ``report.sent`` row is written in
the transaction that stages the report's actions in the outbox, and a second replica's
insert of the same key waits for the first and then does nothing, so none is sent twice.
Between two due times nothing touches the database: the next due time is kept in memory.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.report_mail import ReportMail
from services.router import outbox, store
from services.router.policy.config import Policy
from services.router.reports import offload
from services.router.reports.mailing import Mailing, report_action, sent_key
from services.router.reports.render import Format, render, subject
from services.router.reports.schedule import Schedule
from shared.bus import Message
from shared.codec import to_message
from shared.stage import is_recoverable
from shared.storage.tables import audit_log
from shared.storage.writes import insert_ignore
from shared.topics import ACTIONS

log = logging.getLogger(__name__)

ACTOR = "system:reports"
SUBJECT = "report"
CATCH_UP = timedelta(days=92)  # a report missed longer ago than this is not sent late
RETRY_BROKEN = timedelta(minutes=10)


def _registration_key(schedule: Schedule) -> str:
    return f"report-schedule:{schedule.key}"


class ScheduledReports:
    def __init__(
        self, engine: AsyncEngine, mailing: Mailing, policy: Policy, *, topic: str = ACTIONS
    ) -> None:
        self._engine = engine
        self._topic = topic
        self._mailing = mailing
        self._policy = policy
        self._due: dict[str, datetime] = {}
        self._paused: dict[str, datetime] = {}

    async def run_due(self, now: datetime) -> list[Message]:
        """Stage every report due at ``now``; the messages of the actions staged, to publish
        once committed (the outbox holds them should that fail)."""
        staged: list[Message] = []
        for schedule in self._mailing.schedules:
            due = self._due.get(schedule.key)
            if due is None:
                due = self._due[schedule.key] = await self._next_unsent(schedule, now)
            if now < self._paused.get(schedule.key, due):
                continue
            while due <= now:
                try:
                    async with self._engine.begin() as conn:
                        staged += await self._send(conn, schedule, due, now)
                except Exception as exc:
                    if is_recoverable(exc):
                        raise
                    # A bug, not an outage: try again later rather than on every tick.
                    log.error("scheduled report failed; retried later", exc_info=exc)
                    self._paused[schedule.key] = now + RETRY_BROKEN
                    break
                due = self._due[schedule.key] = schedule.next_after(due)
        return staged

    async def _next_unsent(self, schedule: Schedule, now: datetime) -> datetime:
        """The earliest time this schedule should have sent a report and did not."""
        async with self._engine.begin() as conn:
            await store.audit(
                conn,
                dedup_key=_registration_key(schedule),
                at=now,
                action="report.scheduled",
                subject_type=SUBJECT,
                subject_id=schedule.key,
                reason=f"reports {schedule.key}",
                policy_version=self._policy.version,
                trace_id=None,
                details={"schedule": schedule.key},
                actor=ACTOR,
            )
            since = (
                await conn.execute(
                    select(audit_log.c.at).where(
                        audit_log.c.dedup_key == _registration_key(schedule)
                    )
                )
            ).scalar_one()
            sent = set(
                (
                    await conn.execute(
                        select(audit_log.c.dedup_key).where(
                            audit_log.c.subject_type == SUBJECT,
                            audit_log.c.action == "report.sent",
                        )
                    )
                ).scalars()
            )
        start = max(store.aware(since), now - CATCH_UP)
        for occurrence in schedule.occurrences(start):
            if occurrence > now or sent_key(schedule.period(occurrence)) not in sent:
                return occurrence
        raise AssertionError("unreachable: occurrences never end")

    async def _send(
        self, conn: AsyncConnection, schedule: Schedule, due: datetime, now: datetime
    ) -> list[Message]:
        period = schedule.period(due)
        receivers = self._mailing.receivers
        claimed = await insert_ignore(
            conn,
            audit_log,
            {
                "dedup_key": sent_key(period),
                "at": now,
                "actor": ACTOR,
                "action": "report.sent",
                "subject_type": SUBJECT,
                "subject_id": schedule.key,
                "policy_version": self._policy.version,
                "reason": f"{period.kind.value} report {period.label} to "
                + ", ".join(r.name for r in receivers),
                "details": {
                    "period": period.kind.value,
                    "first_day": period.first_day.isoformat(),
                    "last_day": period.last_day.isoformat(),
                    "due_at": due.isoformat(),
                    "receivers": [r.name for r in receivers],
                },
                "trace_id": None,
            },
        )
        if not claimed:
            return []  # sent already, by this replica before a restart or by another one
        lang = self._mailing.lang
        report = await offload.make_report(self._engine, period, policy=self._policy, now=now)
        mail = ReportMail(
            subject=subject(report, lang),
            text=render(report, fmt=Format.TEXT, lang=lang),
            html=render(report, fmt=Format.HTML, lang=lang),
        )
        actions = [
            report_action(period, r, mail, lang=lang, policy_version=self._policy.version, now=now)
            for r in receivers
        ]
        messages = [to_message(self._topic, a, key=str(a.case_id)) for a in actions]
        staged = await outbox.stage(conn, messages, now=now)
        log.info(
            "report staged",
            extra={"fields": {"period": period.kind.value, "receivers": len(receivers)}},
        )
        return staged
