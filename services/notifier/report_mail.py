"""Scheduled reports by e-mail: the router renders them, this module mails them as they are.

A report travels as a ``notify`` action on the ``vigie.report`` route (a name no policy
route can take) whose ``message`` is a ``ReportMail``: subject, plain text and the
self-contained HTML page. It is sent on its own (never folded into a storm digest), as a
multipart/alternative message with a ``Message-ID`` derived from the action's idempotency
key, over the same SMTP settings as every other e-mail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.notifier.attempt import Attempt, permanent
from services.notifier.delivery import Job, Sender, plan
from services.notifier.email import recipients
from services.notifier.senders import SmtpRelay
from services.notifier.settings import NotifierSettings
from shared.events import Action, ActionKind, Channel

REPORT_ROUTE = "vigie.report"


class ReportMail(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=300)
    text: str
    html: str


def is_report(action: Action) -> bool:
    return action.kind is ActionKind.NOTIFY and action.route == REPORT_ROUTE


def message(action: Action, *, sender: str) -> EmailMessage:
    """The report's e-mail; ValueError when the action carries no readable report."""
    try:
        body = ReportMail.model_validate_json(action.message or "")
    except ValidationError as exc:
        raise ValueError("the action carries no readable report") from exc
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(recipients(action.receiver.target))
    mail["Subject"] = body.subject
    domain = sender.rpartition("@")[2] or "vigie.invalid"
    digest = hashlib.sha256(action.action_id.encode()).hexdigest()[:32]
    mail["Message-ID"] = f"<{digest}@{domain}>"
    mail["Date"] = format_datetime(action.occurred_at)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(body.text)
    mail.add_alternative(body.html, subtype="html")
    return mail


def plan_jobs(actions: Sequence[Action], *, digest_threshold: int) -> list[Job]:
    """Each report on its own; everything else as ``delivery.plan`` groups it."""
    reports = [Job((a,)) for a in actions if is_report(a)]
    rest = [a for a in actions if not is_report(a)]
    return reports + plan(rest, digest_threshold=digest_threshold)


class ReportMailSender:
    """The e-mail channel's sender, which sends reports itself and hands it the rest."""

    def __init__(self, settings: NotifierSettings, inner: Sender) -> None:
        self._settings = settings
        self._inner = inner
        self._relay = SmtpRelay(settings)

    def idempotent(self, action: Action) -> bool:
        return False if is_report(action) else self._inner.idempotent(action)

    def key(self, action: Action) -> str:
        return self._inner.key(action)

    async def send(self, job: Job, now: datetime) -> Attempt:
        if not is_report(job.action):
            return await self._inner.send(job, now)
        s = self._settings
        if not recipients(job.action.receiver.target):
            return permanent("the receiver has no e-mail address")
        try:
            mail = message(job.action, sender=s.email_from)
        except ValueError as exc:
            return permanent(str(exc))
        return await self._relay.deliver(mail)


def with_reports(senders: dict[str, Sender], settings: NotifierSettings) -> dict[str, Sender]:
    """The senders by channel, the e-mail one able to send reports."""
    email = Channel.EMAIL.value
    if email in senders:
        senders = {**senders, email: ReportMailSender(settings, senders[email])}
    return senders
