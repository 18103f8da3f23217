"""Who gets the scheduled reports, and the action that carries one to the notifier.

The receivers are e-mail receivers of the policy, named by ``VIGIE_REPORT_RECIPIENTS`` and
checked when the router starts. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.notifier.report_mail import REPORT_ROUTE, ReportMail
from services.router.policy.config import Policy
from services.router.policy.decide import receiver_of
from services.router.reports.period import Period
from services.router.reports.schedule import Schedule, ScheduleError, parse
from shared.events import Action, ActionKind, Channel, CommentRef, Receiver, Severity, derive_id


class MailingError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Mailing:
    schedules: tuple[Schedule, ...]
    receivers: tuple[Receiver, ...]
    lang: str


def mailing(*, schedule: str, recipients: str, lang: str, policy: Policy) -> Mailing | None:
    """The configured mailing, or None when no schedule is set."""
    try:
        schedules = parse(schedule)
    except ScheduleError as exc:
        raise MailingError(f"VIGIE_REPORT_SCHEDULE: {exc}") from exc
    if not schedules:
        return None
    names = [n.strip() for n in recipients.split(",") if n.strip()]
    if not names:
        raise MailingError(
            "VIGIE_REPORT_RECIPIENTS: name the policy's e-mail receivers that get the reports"
        )
    receivers: list[Receiver] = []
    for name in names:
        config = policy.receivers.get(name)
        if config is None:
            raise MailingError(f"VIGIE_REPORT_RECIPIENTS: the policy has no receiver {name!r}")
        if config.channel is not Channel.EMAIL:
            raise MailingError(
                f"VIGIE_REPORT_RECIPIENTS: {name!r} is a {config.channel.value} receiver; "
                "reports go by e-mail"
            )
        receivers.append(receiver_of(config))
    return Mailing(tuple(schedules), tuple(receivers), lang)


def sent_key(period: Period) -> str:
    """One report per period, whatever schedule asked for it."""
    return f"report-sent:{period.kind.value}:{period.first_day}:{period.last_day}:{period.tz}"


def report_action(
    period: Period,
    receiver: Receiver,
    mail: ReportMail,
    *,
    lang: str,
    policy_version: str,
    now: datetime,
) -> Action:
    """The notify action that mails ``mail`` to ``receiver``; its ids come from the period
    and the receiver, so that staging it twice sends it once."""
    what = f"{period.kind.value}:{period.first_day}:{period.last_day}"
    action_id = f"report:{what}:{receiver.name}"
    return Action(
        event_id=derive_id("action", action_id),
        trace_id=f"report-{period.kind.value}-{period.first_day}",
        occurred_at=now,
        action_id=action_id,
        kind=ActionKind.NOTIFY,
        case_id=derive_id("report", what, period.tz),
        receiver=receiver,
        severity=Severity.NONE,
        labels=(),
        categories=("report",),
        comment=CommentRef(platform="vigie", comment_id=f"report:{what}"),
        case_opened_at=period.end.astimezone(UTC),
        policy_version=policy_version,
        route=REPORT_ROUTE,
        message=mail.model_dump_json(),
        lang=lang,
    )
