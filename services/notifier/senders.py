"""The channels' shells: HTTP providers through httpx, signed webhooks through the lean
HTTP/1.1 client (``http1``), e-mail through aiosmtplib.

Each sender turns a job into one attempt and maps every provider or transport failure to
an ``Attempt`` (recoverable or permanent); it never raises for the provider's sake. A
receiver whose secret is not configured fails permanently, naming the setting, never the
secret.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from email.message import EmailMessage

import aiosmtplib
import httpx
from pydantic import SecretStr

from services.notifier import email, meta, pagerduty, slack, teams, twilio, webhook, x
from services.notifier.attempt import Attempt, HttpAnswer, HttpRequest, by_status, permanent
from services.notifier.delivery import Job, Sender
from services.notifier.http1 import Http1Client, HttpTransportError, InvalidRequest
from services.notifier.settings import NotifierSettings
from services.notifier.templates import Style
from shared.events import Action, ActionKind, Channel

Build = Callable[[Job, datetime], list[HttpRequest]]
Read = Callable[[HttpAnswer, datetime], Attempt]
Fetch = Callable[[HttpRequest], Awaitable[HttpAnswer]]


class NotConfigured(ValueError):
    """A receiver names a secret or a setting that is not there."""


def lookup(secrets: Mapping[str, SecretStr], target: str | None, setting: str) -> str:
    if not target or target not in secrets:
        raise NotConfigured(f"no {setting} entry named {target!r}")
    return secrets[target].get_secret_value()


def httpx_fetch(client: httpx.AsyncClient) -> Fetch:
    """One request through httpx, its transport failures as ``HttpTransportError``."""

    async def fetch(request: HttpRequest) -> HttpAnswer:
        try:
            response = await client.request(
                request.method, request.url, content=request.content, headers=request.headers
            )
        except httpx.HTTPError as exc:
            raise HttpTransportError(type(exc).__name__) from exc
        return HttpAnswer(response.status_code, response.headers, response.content)

    return fetch


class HttpSender:
    def __init__(
        self,
        fetch: Fetch,
        build: Build,
        read: Read,
        *,
        idempotent: Callable[[Action], bool] = lambda _a: False,
    ) -> None:
        self._fetch = fetch
        self._build = build
        self._read = read
        self._idempotent = idempotent
        # Requests already accepted, by action: a retry sends only the rest (SMS fan-out).
        self._done: dict[str, set[int]] = {}

    def idempotent(self, action: Action) -> bool:
        return self._idempotent(action)

    def key(self, action: Action) -> str:
        return f"{action.receiver.channel.value}:{action.receiver.name}"

    async def send(self, job: Job, now: datetime) -> Attempt:
        action = job.action
        try:
            requests = self._build(job, now)
        except (NotConfigured, meta.Unsupported, x.Unsupported) as exc:
            return permanent(str(exc))
        if not requests:
            return permanent("the receiver has no destination")
        done = self._done.setdefault(action.action_id, set())
        last = Attempt(ok=True)
        for index, request in enumerate(requests):
            if index in done:
                continue
            try:
                answer = await self._fetch(request)
            except InvalidRequest as exc:
                self._done.pop(action.action_id, None)
                return permanent(str(exc))
            except HttpTransportError as exc:
                return Attempt(ok=False, error=str(exc), recoverable=True)
            last = self._read(answer, now)
            if not last.ok:
                if not last.recoverable:
                    self._done.pop(action.action_id, None)
                return last
            done.add(index)
        self._done.pop(action.action_id, None)
        return last


class SmtpRelay:
    """The configured SMTP server: sends one message and says how it went."""

    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings
        self._tls: ssl.SSLContext | None = None
        if settings.smtp_ca_file is not None:
            self._tls = ssl.create_default_context(cafile=str(settings.smtp_ca_file))

    async def deliver(self, mail: EmailMessage) -> Attempt:
        s = self._settings
        try:
            await aiosmtplib.send(
                mail,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                start_tls=s.smtp_starttls and not s.smtp_implicit_tls,
                use_tls=s.smtp_implicit_tls,
                tls_context=self._tls,
                timeout=s.delivery_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({r.code for r in exc.recipients})
            return Attempt(
                ok=False,
                error=f"SMTP recipients refused {codes}",
                recoverable=all(400 <= c < 500 for c in codes),
            )
        except aiosmtplib.SMTPResponseException as exc:
            return Attempt(
                ok=False,
                status=exc.code,
                error=f"SMTP {exc.code}",
                recoverable=400 <= exc.code < 500,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Attempt(ok=False, error=type(exc).__name__, recoverable=True)
        return Attempt(ok=True, status=250, reference=str(mail["Message-ID"]))


class SmtpSender:
    def __init__(self, settings: NotifierSettings, style: Style) -> None:
        self._settings = settings
        self._style = style
        self._relay = SmtpRelay(settings)

    def idempotent(self, action: Action) -> bool:
        return False

    def key(self, action: Action) -> str:
        return f"email:{action.receiver.name}"

    async def send(self, job: Job, now: datetime) -> Attempt:
        s = self._settings
        if len(job.actions) > 1 or job.digest is not None:
            mail = email.digest(job.actions, self._style, sender=s.email_from, key=job.digest)
        else:
            mail = email.message(job.action, self._style, sender=s.email_from)
        if not email.recipients(job.action.receiver.target):
            return permanent("the receiver has no e-mail address")
        return await self._relay.deliver(mail)


def build_senders(
    settings: NotifierSettings,
    client: httpx.AsyncClient,
    *,
    signing_secrets: tuple[bytes, ...],
    style: Style,
    webhook_client: Http1Client,
) -> dict[Channel, Sender]:
    s = settings
    providers = httpx_fetch(client)

    def signed_webhook(job: Job, now: datetime) -> list[HttpRequest]:
        action = job.action
        body = webhook.encode(webhook.payload(action, console_url=s.console_url))
        headers = webhook.headers(signing_secrets, int(now.timestamp()), body, action)
        return [HttpRequest("POST", action.receiver.url, headers, body)]

    def slack_api(job: Job, _now: datetime) -> list[HttpRequest]:
        action = job.action
        if s.slack_bot_token is None:
            raise NotConfigured("VIGIE_SLACK_BOT_TOKEN is not set")
        if not action.receiver.target:
            raise NotConfigured("a slack receiver names its channel (target)")
        api = {"api_url": s.slack_api_url, "token": s.slack_bot_token.get_secret_value()}
        if action.kind not in slack.SETTLING:
            return [
                slack.post_message_request(action, style, channel=action.receiver.target, **api)
            ]
        pages = [p for p in map(slack.parse_reference, job.references) if p is not None]
        if not pages:  # the page was never recorded: say it in the channel instead
            return [slack.follow_up_request(action, style, channel=action.receiver.target, **api)]
        return [
            slack.update_request(action, style, channel=channel, ts=ts, **api)
            for channel, ts in pages
        ]

    def slack_hook(job: Job, _now: datetime) -> list[HttpRequest]:
        action = job.action
        url = lookup(s.slack_webhook_urls, action.receiver.target, "VIGIE_SLACK_WEBHOOK_URLS")
        return [slack.webhook_request(action, style, url=url)]

    def teams_hook(job: Job, _now: datetime) -> list[HttpRequest]:
        action = job.action
        url = lookup(s.teams_webhook_urls, action.receiver.target, "VIGIE_TEAMS_WEBHOOK_URLS")
        return [teams.request(action, style, url=url)]

    def pagerduty_event(job: Job, _now: datetime) -> list[HttpRequest]:
        action = job.action
        key = lookup(
            s.pagerduty_routing_keys, action.receiver.target, "VIGIE_PAGERDUTY_ROUTING_KEYS"
        )
        return [pagerduty.request(action, style, url=s.pagerduty_events_url, routing_key=key)]

    def sms(job: Job, _now: datetime) -> list[HttpRequest]:
        action = job.action
        if not (s.twilio_account_sid and s.twilio_auth_token and s.twilio_from):
            raise NotConfigured("VIGIE_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM are required")
        return twilio.requests(
            action,
            style,
            api_url=s.twilio_api_url,
            account_sid=s.twilio_account_sid,
            auth_token=s.twilio_auth_token.get_secret_value(),
            sender=s.twilio_from,
        )

    def meta_action(job: Job, _now: datetime) -> list[HttpRequest]:
        action = job.action
        token = lookup(s.meta_page_tokens, action.receiver.target, "VIGIE_META_PAGE_TOKENS")
        return [meta.request(action, graph_url=s.meta_graph_url, token=token)]

    def x_reply(job: Job, _now: datetime) -> list[HttpRequest]:
        action = job.action
        token = lookup(s.x_user_tokens, action.receiver.target, "VIGIE_X_USER_TOKENS")
        return [x.request(action, api_url=s.x_api_url, token=token)]

    def http(build: Build, read: Read, idempotent: bool = False) -> HttpSender:
        return HttpSender(providers, build, read, idempotent=lambda _a: idempotent)

    senders: dict[Channel, Sender] = {
        # The receiver deduplicates by X-Vigie-Idempotency-Key (see docs/notifier.md).
        Channel.WEBHOOK: HttpSender(
            webhook_client.request,
            signed_webhook,
            lambda a, now: by_status(a, now=now),
            idempotent=lambda _a: True,
        ),
        # Updating a page twice leaves it as once; a repeated follow-up is a short duplicate.
        Channel.SLACK: HttpSender(
            providers,
            slack_api,
            lambda a, now: slack.api_answer(a, now=now),
            idempotent=lambda a: a.kind in slack.SETTLING,
        ),
        Channel.SLACK_WEBHOOK: http(slack_hook, lambda a, now: slack.webhook_answer(a, now=now)),
        Channel.TEAMS: http(teams_hook, lambda a, now: teams.answer(a, now=now)),
        # One dedup_key per case: a repeated trigger joins the same incident.
        Channel.PAGERDUTY: http(pagerduty_event, lambda a, now: pagerduty.answer(a, now=now), True),
        Channel.SMS: http(sms, lambda a, now: twilio.answer(a, now=now)),
        # Hiding twice leaves the comment hidden; replying twice would post twice.
        Channel.META: HttpSender(
            providers,
            meta_action,
            lambda a, now: meta.answer(a, now=now),
            idempotent=lambda a: a.kind in (ActionKind.HIDE, ActionKind.LIKE),  # states
        ),
        Channel.X: http(x_reply, lambda a, now: x.answer(a, now=now)),
        Channel.EMAIL: SmtpSender(settings, style),
    }
    return senders
