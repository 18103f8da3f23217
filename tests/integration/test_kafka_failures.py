"""The Kafka bus fails loudly, never silently, when there is no broker to acknowledge."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError

from shared.bus import BusUnavailable, Message
from shared.bus.kafka import KafkaBus

pytestmark = pytest.mark.integration


async def test_a_bus_without_broker_refuses_to_start_and_to_publish() -> None:
    bus = KafkaBus("127.0.0.1:1", client_id="vigie-test", publish_timeout_s=2.0)
    with pytest.raises(KafkaConnectionError):
        await bus.start()
    with pytest.raises(BusUnavailable):
        await bus.publish([Message("vigie.test.none", b"x")])
    assert await bus.ping() is False
