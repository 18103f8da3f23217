"""Events to Kafka messages and back: JSON values, the trace id in the headers too."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from shared.bus import Message, Record
from shared.events import Event

E = TypeVar("E", bound=Event)


def to_message(topic: str, event: Event, *, key: str) -> Message:
    return Message(
        topic=topic,
        value=event.model_dump_json().encode(),
        key=key.encode(),
        headers=(
            ("trace_id", event.trace_id.encode()),
            ("event_type", type(event).__name__.encode()),
            ("schema_version", str(event.schema_version).encode()),
        ),
        event_id=str(event.event_id),
    )


def decoder(model: type[E]) -> Callable[[Record], E]:
    def decode(record: Record) -> E:
        return model.model_validate_json(record.value)

    return decode
