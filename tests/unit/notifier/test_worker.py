"""An interrupted send: repeated only where the provider makes a resend harmless."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier import store
from services.notifier.settings import NotifierSettings
from services.notifier.worker import NotifierComponent
from shared.bus import Record
from shared.bus.memory import MemoryBus
from shared.events import Channel, DeliveryOutcome, DeliveryResult, Receiver
from shared.runtime import Runtime
from shared.stage import Decoded
from shared.topics import NOTIFICATION_RESULTS
from tests import provider_peers as peers
from tests.unit import factories as f


async def test_an_interrupted_send_is_resent_only_when_harmless(engine: AsyncEngine) -> None:
    base = f.action()
    pager = base.model_copy(
        update={
            "action_id": "a-pager",
            "receiver": Receiver(name="pager", channel=Channel.PAGERDUTY, target="crisis"),
        }
    )
    chat = base.model_copy(
        update={
            "action_id": "a-chat",
            "receiver": Receiver(name="chat", channel=Channel.SLACK, target="C1"),
            "fallback": Receiver(name="pager", channel=Channel.PAGERDUTY, target="crisis"),
        }
    )
    # A previous process claimed both and died while sending.
    await store.claim(engine, [pager, chat], f.NOW)
    with peers.provider_peer() as peer:
        settings = NotifierSettings(
            webhook_signing_secret=SecretStr("s"),
            pagerduty_events_url=f"{peer.url}/pagerduty/v2/enqueue",
            pagerduty_routing_keys={"crisis": SecretStr(peers.PD_KEY)},
            slack_api_url=f"{peer.url}/slack/api",
            slack_bot_token=SecretStr(peers.SLACK_TOKEN),
        )
        component = NotifierComponent(settings)
        await component.prepare(
            Runtime(
                bus=MemoryBus(), engine=engine, registry=CollectorRegistry(), clock=lambda: f.NOW
            )
        )
        batch = [
            Decoded(Record("vigie.actions.v1", 0, n, None, a.model_dump_json().encode()), a)
            for n, a in enumerate([pager, chat])
        ]
        messages = await component.process(batch)
        await component.close()

    assert [r.path for r in peer.received()] == ["/pagerduty/v2/enqueue"]
    results = {
        r.action_id: r
        for r in (
            DeliveryResult.model_validate_json(m.value)
            for m in messages
            if m.topic == NOTIFICATION_RESULTS
        )
    }
    assert results["a-pager"].outcome is DeliveryOutcome.DELIVERED
    assert results["a-chat"].outcome is DeliveryOutcome.IN_DOUBT
    assert results["a-chat"].fallback == "pager"
    assert [m.topic for m in messages].count("vigie.actions.v1") == 1  # the fallback action
    assert await store.claim(engine, [chat], f.NOW) == {
        "a-chat": store.DeliveryRow(store.IN_DOUBT, 0, None, results["a-chat"].error)
    }
