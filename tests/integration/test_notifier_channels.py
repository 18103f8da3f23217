"""The notifier on the real broker and PostgreSQL, delivering to loopback provider peers.

Each test runs the component on topics and a group of its own. The peers implement each
provider's documented contract (tests/provider_peers.py) and record what they received.
The deliveries ledger's PostgreSQL statements are checked here too, on the real server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier import store
from services.notifier.settings import NotifierSettings
from services.notifier.worker import NotifierComponent
from shared.bus import Record
from shared.bus.kafka import KafkaBus
from shared.codec import to_message
from shared.events import (
    Action,
    ActionKind,
    Channel,
    CommentRef,
    DeliveryOutcome,
    DeliveryResult,
    Label,
    Receiver,
    Severity,
    derive_id,
)
from shared.runtime import Runtime, utc_now
from shared.stage import Decoded, is_recoverable
from shared.storage.engine import create_engine
from shared.topics import dlq
from tests import provider_peers as peers

pytestmark = pytest.mark.integration


def action(
    run: str,
    n: int,
    receiver: Receiver,
    *,
    kind: ActionKind = ActionKind.NOTIFY,
    comment: CommentRef | None = None,
    message: str | None = None,
    fallback: Receiver | None = None,
) -> Action:
    case_id = derive_id("case", run, str(n))
    action_id = f"{case_id}:{kind.value}:{receiver.name}:1"
    return Action(
        event_id=derive_id("action", action_id),
        trace_id=f"trace-{run}-{n}",
        occurred_at=utc_now(),
        action_id=action_id,
        kind=kind,
        case_id=case_id,
        receiver=receiver,
        severity=Severity.CRITICAL,
        labels=(Label.SENSITIVE,),
        categories=("suicide",),
        comment=comment or CommentRef(platform="generic", comment_id=f"c-{run}-{n}"),
        comment_url=f"https://forum.test/p/{n}",
        case_opened_at=utc_now(),
        policy_version="test",
        route="crisis",
        fallback=fallback,
        ack_url=f"http://console.test/ack/token-{n}",
        resolve_url=f"http://console.test/resolve/token-{n}",
        message=message,
        lang="fr" if n % 2 else "en",
    )


def settings_for(peer: peers.ProviderPeer, smtp_port: int, ca: Path) -> NotifierSettings:
    return NotifierSettings(
        webhook_signing_secret=SecretStr(peers.SIGNING_SECRET.decode()),
        console_url="http://console.test",
        delivery_backoff_s=0.0,
        delivery_attempts=4,
        slack_api_url=f"{peer.url}/slack/api",
        slack_bot_token=SecretStr(peers.SLACK_TOKEN),
        slack_webhook_urls={"ops": SecretStr(f"{peer.url}/slack/hooks/ops")},
        teams_webhook_urls={"ops": SecretStr(f"{peer.url}/teams/ops")},
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_ca_file=ca,
        email_from="vigie@example.org",
        pagerduty_events_url=f"{peer.url}/pagerduty/v2/enqueue",
        pagerduty_routing_keys={"crisis": SecretStr(peers.PD_KEY)},
        twilio_api_url=f"{peer.url}/twilio",
        twilio_account_sid=peers.TWILIO_SID,
        twilio_auth_token=SecretStr(peers.TWILIO_TOKEN),
        twilio_from="+33100000000",
        meta_graph_url=f"{peer.url}/meta/v21.0",
        meta_page_tokens={"page": SecretStr(peers.META_TOKEN)},
        x_api_url=f"{peer.url}/x",
        x_user_tokens={"brand": SecretStr(peers.X_TOKEN)},
    )


def isolated(run: str) -> type[NotifierComponent]:
    class Isolated(NotifierComponent):
        group = f"vigie-test-notifier-{run}"
        source = f"vigie.test.{run}.actions"
        outputs = (f"vigie.test.{run}.results",)

    return Isolated


async def read(bootstrap: str, topic: str, want: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"vigie-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[bytes] = []
    try:
        for _ in range(60):
            batches = await consumer.getmany(timeout_ms=500)
            out += [r.value for records in batches.values() for r in records]
            if len(out) >= want:
                break
    finally:
        await consumer.stop()
    return out


async def results(bootstrap: str, topic: str, want: int) -> dict[str, DeliveryResult]:
    values = await read(bootstrap, topic, want)
    parsed = [DeliveryResult.model_validate_json(v) for v in values]
    return {r.action_id: r for r in parsed}


@pytest.fixture
async def bus(kafka_bootstrap: str) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_bootstrap, client_id="vigie-test-notifier", partitions=3)
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def peer() -> Iterator[peers.ProviderPeer]:
    with peers.provider_peer() as running:
        yield running


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[peers.Mailbox, Path]]:
    with peers.smtp_peer(tmp_path) as running:
        yield running


async def run_component(
    component: NotifierComponent,
    runtime: Runtime,
    bus: KafkaBus,
    actions: list[Action],
    *,
    bootstrap: str,
    want: int,
) -> dict[str, DeliveryResult]:
    await bus.ensure_topics([component.source])
    await bus.publish([to_message(component.source, a, key=str(a.case_id)) for a in actions])
    await component.start(runtime)
    try:
        return await results(bootstrap, component.outputs[0], want)
    finally:
        await component.stop()


def every_channel(run: str) -> list[Action]:
    def receiver(name: str, channel: Channel, **kw: str) -> Receiver:
        return Receiver(name=name, channel=channel, **kw)

    facebook = CommentRef(platform="facebook", comment_id="111_222")
    instagram = CommentRef(platform="instagram", comment_id="17890000000000001")
    tweet = CommentRef(platform="x", comment_id="1789999999999999999")
    return [
        action(run, 1, receiver("hook", Channel.WEBHOOK, url="PEER/webhook/crisis")),
        action(run, 2, receiver("slack", Channel.SLACK, target="C0CRISIS")),
        action(run, 3, receiver("slack-hook", Channel.SLACK_WEBHOOK, target="ops")),
        action(run, 4, receiver("teams", Channel.TEAMS, target="ops")),
        action(run, 5, receiver("mail", Channel.EMAIL, target="a@example.org, b@example.org")),
        action(run, 6, receiver("pager", Channel.PAGERDUTY, target="crisis")),
        action(run, 7, receiver("sms", Channel.SMS, target="+33600000001,+33600000002")),
        action(
            run,
            8,
            receiver("fb", Channel.META, target="page"),
            kind=ActionKind.REPLY,
            comment=facebook,
            message="Nous sommes là. 3114",
        ),
        action(
            run,
            9,
            receiver("ig", Channel.META, target="page"),
            kind=ActionKind.HIDE,
            comment=instagram,
        ),
        action(
            run,
            10,
            receiver("x", Channel.X, target="brand"),
            kind=ActionKind.REPLY,
            comment=tweet,
            message="We are here. 988",
        ),
    ]


def at_peer(actions: list[Action], peer: peers.ProviderPeer) -> list[Action]:
    return [
        a.model_copy(
            update={
                "receiver": a.receiver.model_copy(
                    update={"url": a.receiver.url.replace("PEER", peer.url)}
                )
            }
        )
        for a in actions
    ]


async def test_every_channel_delivers_what_its_provider_expects(
    kafka_bootstrap: str,
    engine: AsyncEngine,
    bus: KafkaBus,
    peer: peers.ProviderPeer,
    smtp: tuple[peers.Mailbox, Path],
) -> None:
    run = uuid.uuid4().hex[:8]
    mailbox, ca = smtp
    actions = at_peer(every_channel(run), peer)
    component = isolated(run)(settings_for(peer, mailbox.port, ca))
    runtime = Runtime(bus=bus, engine=engine, registry=CollectorRegistry())

    out = await run_component(
        component, runtime, bus, actions, bootstrap=kafka_bootstrap, want=len(actions)
    )

    assert {r.outcome for r in out.values()} == {DeliveryOutcome.DELIVERED}, out
    assert len(out) == len(actions)
    by_channel = {a.receiver.channel: out[a.action_id] for a in actions}
    case = {a.receiver.channel: str(a.case_id) for a in actions}

    (slack,) = peer.received("/slack/api/")
    body = slack.json()
    assert slack.headers["Authorization"] == f"Bearer {peers.SLACK_TOKEN}"
    assert body["channel"] == "C0CRISIS"
    buttons = [b for b in body["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [b["url"] for b in buttons][1:] == [
        "http://console.test/ack/token-2",
        "http://console.test/resolve/token-2",
    ]
    assert by_channel[Channel.SLACK].reference == "C0CRISIS:1700000000.000100"
    (hook,) = peer.received("/slack/hooks/ops")
    assert hook.json()["blocks"]

    (card,) = peer.received("/teams/ops")
    content = card.json()["attachments"][0]["content"]
    assert content["type"] == "AdaptiveCard"
    assert "http://console.test/ack/token-4" in [a["url"] for a in content["actions"]]

    (pd,) = peer.received("/pagerduty/")
    event = pd.json()
    assert event["dedup_key"] == case[Channel.PAGERDUTY]
    assert event["event_action"] == "trigger"
    assert event["payload"]["severity"] == "critical"

    texts = peer.received("/twilio/")
    assert (
        sorted(r.headers["Content-Type"] for r in texts)
        == ["application/x-www-form-urlencoded"] * 2
    )
    assert sorted(peers._form(r)["To"] for r in texts) == ["+33600000001", "+33600000002"]
    assert all(r.path.endswith(f"/Accounts/{peers.TWILIO_SID}/Messages.json") for r in texts)

    reply, hide = sorted(peer.received("/meta/"), key=lambda r: r.path)
    assert hide.path == "/meta/v21.0/17890000000000001"
    assert peers._form(hide) == {"hide": "true", "access_token": peers.META_TOKEN}
    assert reply.path == "/meta/v21.0/111_222/comments"
    assert peers._form(reply)["message"] == "Nous sommes là. 3114"

    (tweet,) = peer.received("/x/")
    assert tweet.json() == {
        "text": "We are here. 988",
        "reply": {"in_reply_to_tweet_id": "1789999999999999999"},
    }

    (signed,) = peer.received("/webhook/")
    assert signed.json()["case_id"] == case[Channel.WEBHOOK]  # the peer verified the signature

    ((rcpt, mail),) = mailbox.messages
    assert rcpt == ["a@example.org", "b@example.org"]
    assert mailbox.tls_sessions == 1
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.get_payload()] == ["text/plain", "text/html"]  # type: ignore[union-attr]


async def test_a_sent_action_redelivered_before_its_commit_is_not_sent_again(
    kafka_bootstrap: str,
    engine: AsyncEngine,
    bus: KafkaBus,
    peer: peers.ProviderPeer,
    smtp: tuple[peers.Mailbox, Path],
) -> None:
    run = uuid.uuid4().hex[:8]
    mailbox, ca = smtp
    settings = settings_for(peer, mailbox.port, ca)
    actions = at_peer(every_channel(run), peer)
    runtime = Runtime(bus=bus, engine=engine, registry=CollectorRegistry())
    first = isolated(run)(settings)
    await first.prepare(runtime)
    records = [
        Decoded(Record(first.source, 0, n, a.action_id.encode(), a.model_dump_json().encode()), a)
        for n, a in enumerate(actions)
    ]
    # The first process sends everything, then dies before publishing or committing.
    await first.process(records)
    await first.close()
    sent = len(peer.received())

    second = isolated(run)(settings)
    restarted = Runtime(bus=bus, engine=engine, registry=CollectorRegistry())
    out = await run_component(
        second, restarted, bus, actions, bootstrap=kafka_bootstrap, want=len(actions)
    )

    assert len(peer.received()) == sent
    assert len(mailbox.messages) == 1
    assert {r.outcome for r in out.values()} == {DeliveryOutcome.DELIVERED}


async def test_a_failing_receiver_goes_to_the_dlq_and_falls_back(
    kafka_bootstrap: str,
    engine: AsyncEngine,
    bus: KafkaBus,
    peer: peers.ProviderPeer,
    smtp: tuple[peers.Mailbox, Path],
) -> None:
    run = uuid.uuid4().hex[:8]
    mailbox, ca = smtp
    backup = Receiver(name="backup", channel=Channel.SLACK_WEBHOOK, target="ops")
    failing = Receiver(name="primary", channel=Channel.WEBHOOK, url=f"{peer.url}/webhook/gone")
    primary = action(run, 1, failing, fallback=backup)
    # A throttled then broken provider is retried; a 404 is permanent.
    peer.script = [
        peers.Answer(429, "slow down", {"Retry-After": "0"}),
        peers.Answer(503, "unavailable", delay_s=0.2),
    ]
    component = isolated(run)(settings_for(peer, mailbox.port, ca))
    runtime = Runtime(bus=bus, engine=engine, registry=CollectorRegistry())

    out = await run_component(component, runtime, bus, [primary], bootstrap=kafka_bootstrap, want=2)

    first = out[primary.action_id]
    assert first.outcome is DeliveryOutcome.FAILED
    assert (first.attempts, first.status_code) == (3, 404)
    assert first.dead_lettered and first.fallback == "backup"
    (second,) = [r for k, r in out.items() if k != primary.action_id]
    assert second.receiver == "backup" and second.outcome is DeliveryOutcome.DELIVERED
    assert len(peer.received("/webhook/gone")) == 3
    assert len(peer.received("/slack/hooks/ops")) == 1
    dead = await read(kafka_bootstrap, dlq(component.source), 1)
    assert [Action.model_validate_json(v).action_id for v in dead] == [primary.action_id]


async def test_an_acknowledged_case_updates_its_slack_page_in_place(
    kafka_bootstrap: str,
    engine: AsyncEngine,
    bus: KafkaBus,
    peer: peers.ProviderPeer,
    smtp: tuple[peers.Mailbox, Path],
) -> None:
    run = uuid.uuid4().hex[:8]
    mailbox, ca = smtp
    oncall = Receiver(name="oncall", channel=Channel.SLACK, target="C0CRISIS")
    hook = Receiver(name="hook", channel=Channel.SLACK_WEBHOOK, target="ops")
    pages = [action(run, 1, oncall), action(run, 1, hook)]
    acks = [action(run, 1, r, kind=ActionKind.ACKNOWLEDGE, message="ana") for r in (oncall, hook)]
    component = isolated(run)(settings_for(peer, mailbox.port, ca))
    runtime = Runtime(bus=bus, engine=engine, registry=CollectorRegistry())
    await bus.ensure_topics([component.source])
    await component.start(runtime)
    try:
        await bus.publish([to_message(component.source, a, key=str(a.case_id)) for a in pages])
        posted = await results(kafka_bootstrap, component.outputs[0], 2)
        await bus.publish([to_message(component.source, a, key=str(a.case_id)) for a in acks])
        out = await results(kafka_bootstrap, component.outputs[0], 4)
    finally:
        await component.stop()

    page_ref = posted[pages[0].action_id].reference
    assert page_ref is not None and page_ref.startswith("C0CRISIS:")
    assert {out[a.action_id].outcome for a in acks} == {DeliveryOutcome.DELIVERED}
    (update,) = peer.received("/slack/api/chat.update")
    body = update.json()
    assert f"{body['channel']}:{body['ts']}" == page_ref
    assert body["text"].startswith("Pris en charge par ana")  # the case speaks French (n=1)
    assert not [b for b in body["blocks"] if b["type"] == "actions"][0]["elements"][1:]
    assert len(peer.received("/slack/api/chat.postMessage")) == 1
    # An incoming webhook cannot edit its message: a short follow-up is posted.
    first, follow = peer.received("/slack/hooks/ops")
    assert follow.json()["text"].startswith("Pris en charge par ana")


async def test_the_ledger_claims_once_and_replaces_a_lost_connection(engine: AsyncEngine) -> None:
    run = uuid.uuid4().hex[:8]
    hook = Receiver(name="hook", channel=Channel.WEBHOOK, url="http://127.0.0.1:9/x")
    chat = Receiver(name="chat", channel=Channel.SLACK, target="C1")
    first, second, third = action(run, 1, hook), action(run, 2, hook), action(run, 3, chat)
    ledger = store.Ledger(engine)
    now = utc_now()

    def resendable(a: Action) -> bool:
        return a.receiver.channel is Channel.WEBHOOK  # claimed without waiting for the flush

    try:
        assert await ledger.claim([first, first, third], now, resendable=resendable) == {
            first.action_id: None,
            third.action_id: None,
        }
        await ledger.finish(
            [store.Finished(first.action_id, store.DELIVERED, 2, 200, None, "C1:1.5")], now
        )
        # The server drops the ledger's connections (a restart, a failover).
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND query LIKE '%unnest(%'"
                )
            )
        with pytest.raises(DBAPIError) as lost:
            await ledger.claim([second, third], now, resendable=resendable)
        assert is_recoverable(lost.value)  # the stage retries the batch
        claims = await ledger.claim([first, second, third], now, resendable=resendable)
    finally:
        await ledger.close()

    assert claims == {
        first.action_id: store.DeliveryRow(store.DELIVERED, 2, 200, None, "C1:1.5"),
        second.action_id: None,
        third.action_id: store.DeliveryRow(store.SENDING, 0, None, None, None),
    }
    pages = await store.page_references(engine, "webhook", [(str(first.case_id), "hook")])
    assert pages == {(str(first.case_id), "hook"): ("C1:1.5",)}
