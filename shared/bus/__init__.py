"""The message bus: a small protocol with a Kafka and an in-memory implementation."""

from shared.bus.protocol import (
    Acked,
    Bus,
    BusUnavailable,
    Consumer,
    Message,
    PartitionOffsets,
    Record,
)

__all__ = ["Acked", "Bus", "BusUnavailable", "Consumer", "Message", "PartitionOffsets", "Record"]
