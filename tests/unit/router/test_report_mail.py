"""Who gets the scheduled reports, the action that carries one, and the e-mail the
notifier makes of it."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache

import pytest
from pydantic import SecretStr

from services.notifier.attempt import Attempt
from services.notifier.delivery import Job
from services.notifier.report_mail import (
    REPORT_ROUTE,
    ReportMail,
    ReportMailSender,
    is_report,
    message,
    plan_jobs,
)
from services.notifier.settings import NotifierSettings
from services.router.policy.config import Policy
from services.router.reports.mailing import MailingError, mailing, report_action
from services.router.reports.period import PeriodKind, ending
from shared.events import Action, ActionKind, Channel, Receiver
from tests.unit import factories as f
from tests.unit.router.conftest import POLICY_FILE, policy_with

BOARD = Receiver(name="board", channel=Channel.EMAIL, target="board@example.org, ceo@example.org")
PERIOD = ending(PeriodKind.WEEK, date(2026, 11, 15), "Europe/Paris")
MAIL = ReportMail(subject="Vigie weekly report", text="plain", html="<p>rich</p>")


@cache
def board_policy() -> Policy:
    """The shipped policy and an e-mail receiver for the reports."""
    text = POLICY_FILE.read_text().replace(
        "receivers:\n",
        "receivers:\n  - name: board\n    channel: email\n"
        "    target: board@example.org, ceo@example.org\n",
        1,
    )
    return policy_with(text)


@pytest.fixture
def with_board() -> Policy:
    return board_policy()


def test_no_schedule_no_mailing(with_board: Policy) -> None:
    assert mailing(schedule="", recipients="board", lang="en", policy=with_board) is None


def test_a_mailing_names_email_receivers_of_the_policy(with_board: Policy) -> None:
    found = mailing(
        schedule="weekly:mon 08:00 Europe/Paris", recipients=" board ", lang="fr", policy=with_board
    )
    assert found is not None
    assert found.receivers == (BOARD,) and found.lang == "fr"
    assert [s.key for s in found.schedules] == ["weekly:mon 08:00 Europe/Paris"]


@pytest.mark.parametrize(
    ("schedule", "recipients", "says"),
    [
        ("weekly:mon 08:00", "", "VIGIE_REPORT_RECIPIENTS: name the policy's e-mail receivers"),
        ("weekly:mon 08:00", "board,nobody", "VIGIE_REPORT_RECIPIENTS: the policy has no"),
        ("weekly:mon 08:00", "moderators", "'moderators' is a webhook receiver"),
        ("weekly:someday 08:00", "board", "VIGIE_REPORT_SCHEDULE: "),
    ],
)
def test_a_bad_mailing_stops_the_router_naming_the_setting(
    with_board: Policy, schedule: str, recipients: str, says: str
) -> None:
    with pytest.raises(MailingError, match=says):
        mailing(schedule=schedule, recipients=recipients, lang="en", policy=with_board)


def report_of(receiver: Receiver = BOARD, period_end: date = date(2026, 11, 15)) -> Action:
    return report_action(
        ending(PeriodKind.WEEK, period_end, "Europe/Paris"),
        receiver,
        MAIL,
        lang="en",
        policy_version="p1",
        now=f.NOW,
    )


def test_the_action_is_named_after_its_period_and_receiver() -> None:
    action = report_of()
    again = report_of()
    assert action == again  # staged twice: the same event, sent once
    assert is_report(action) and action.route == REPORT_ROUTE
    assert action.action_id == "report:week:2026-11-09:2026-11-15:board"
    other = report_of(Receiver(name="comms", channel=Channel.EMAIL, target="c@example.org"))
    next_week = report_of(period_end=date(2026, 11, 22))
    assert len({action.event_id, other.event_id, next_week.event_id}) == 3
    assert other.case_id == action.case_id != next_week.case_id
    assert ReportMail.model_validate_json(action.message or "") == MAIL


def test_the_mail_carries_text_and_html_to_every_address() -> None:
    mail = message(report_of(), sender="vigie@example.org")
    assert mail["To"] == "board@example.org, ceo@example.org"
    assert mail["Subject"] == MAIL.subject
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Message-ID"].endswith("@example.org>")
    assert mail.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content().strip() for p in mail.iter_parts()}
    assert parts == {"text/plain": "plain", "text/html": "<p>rich</p>"}
    assert message(report_of(), sender="vigie@example.org")["Message-ID"] == mail["Message-ID"]


def test_an_action_without_a_report_is_refused() -> None:
    broken = report_of().model_copy(update={"message": "not json"})
    with pytest.raises(ValueError, match="no readable report"):
        message(broken, sender="vigie@example.org")


def test_reports_are_never_folded_into_a_storm_digest() -> None:
    pages = [page(n) for n in range(3)]
    reports = [report_of(), report_of(period_end=date(2026, 11, 22))]
    jobs = plan_jobs([*pages, *reports], digest_threshold=3)
    sizes = sorted(len(job.actions) for job in jobs)
    assert sizes == [1, 1, 3]  # each report alone; the three pages one digest
    assert all(not is_report(a) for job in jobs if len(job.actions) > 1 for a in job.actions)


def page(n: int) -> Action:
    action = f.action()
    return action.model_copy(
        update={
            "receiver": BOARD,
            "action_id": f"{action.action_id}:{n}",
            "kind": ActionKind.NOTIFY,
        }
    )


class Recording:
    def __init__(self) -> None:
        self.sent: list[Job] = []

    def idempotent(self, action: Action) -> bool:
        return True

    def key(self, action: Action) -> str:
        return f"email:{action.receiver.name}"

    async def send(self, job: Job, now: datetime) -> Attempt:
        self.sent.append(job)
        return Attempt(ok=True)


async def test_other_mail_goes_through_the_email_channels_own_sender() -> None:
    inner = Recording()
    sender = ReportMailSender(NotifierSettings(webhook_signing_secret=SecretStr("s")), inner)
    other = page(1)
    assert (await sender.send(Job((other,)), f.NOW)).ok
    assert inner.sent == [Job((other,))]
    assert sender.idempotent(other) and not sender.idempotent(report_of())
    nowhere = report_of(Receiver(name="x", channel=Channel.EMAIL, target=" , "))
    attempt = await sender.send(Job((nowhere,)), f.NOW)
    assert not attempt.ok and not attempt.recoverable and "no e-mail address" in str(attempt.error)
    assert inner.sent == [Job((other,))]
