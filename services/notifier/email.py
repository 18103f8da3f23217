"""E-mail: one message per action, or one digest for a storm. Pure (no SMTP here).

Each message carries a plain-text and an HTML part (multipart/alternative, RFC 2046), a
``Message-ID`` derived from the idempotency key (so a resend is recognisably the same
message) and ``Auto-Submitted: auto-generated`` (RFC 3834) so that auto-responders stay
quiet. The shell sends it with aiosmtplib over STARTTLS
(https://aiosmtplib.readthedocs.io/en/stable/usage.html, RFC 3207).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime

from services.notifier.templates import Style
from shared.events import Action


def recipients(target: str | None) -> list[str]:
    return [a.strip() for a in (target or "").split(",") if a.strip()]


def _message_id(key: str, sender: str) -> str:
    domain = sender.rpartition("@")[2] or "vigie.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def _envelope(subject: str, *, key: str, sender: str, to: Sequence[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = _message_id(key, sender)
    message["Auto-Submitted"] = "auto-generated"
    return message


def message(action: Action, style: Style, *, sender: str) -> EmailMessage:
    to = recipients(action.receiver.target)
    mail = _envelope(
        style.render("summary.txt.j2", action), key=action.action_id, sender=sender, to=to
    )
    mail["Date"] = format_datetime(action.occurred_at)
    mail["X-Vigie-Case"] = str(action.case_id)
    mail.set_content(style.render("email.txt.j2", action))
    mail.add_alternative(style.render("email.html.j2", action), subtype="html")
    return mail


def digest(
    actions: Sequence[Action], style: Style, *, sender: str, key: str | None = None
) -> EmailMessage:
    """One message for many cases to the same receiver; the most severe first. ``key`` is
    the digest's idempotency key, if it has one (held pages: receiver and window)."""
    ordered = sorted(actions, key=lambda a: (-a.severity.rank, a.case_opened_at, a.action_id))
    key = key or "digest:" + ",".join(sorted(a.action_id for a in actions))
    to = recipients(ordered[0].receiver.target)
    mail = _envelope(style.digest("digest_subject.txt.j2", ordered), key=key, sender=sender, to=to)
    mail["Date"] = format_datetime(max(a.occurred_at for a in actions))
    mail.set_content(style.digest("digest.txt.j2", ordered))
    mail.add_alternative(style.digest("digest.html.j2", ordered), subtype="html")
    return mail
