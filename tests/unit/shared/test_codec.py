"""Events to bus messages and back."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.bus import Record
from shared.codec import decoder, to_message
from shared.events import Action, Comment
from tests.unit import factories as f


def test_to_message_carries_value_key_and_trace_headers() -> None:
    comment = f.comment()

    message = to_message("vigie.test", comment, key=comment.partition_key)

    assert message.topic == "vigie.test"
    assert message.key == b"generic:forum:c-1"
    assert Comment.model_validate_json(message.value) == comment
    assert dict(message.headers) == {
        "trace_id": f.TRACE.encode(),
        "event_type": b"Comment",
        "schema_version": b"1",
    }


def test_decoder_reads_back_what_to_message_wrote() -> None:
    action = f.action()
    message = to_message("vigie.actions.v1", action, key="k")
    record = Record(
        topic=message.topic, partition=0, offset=0, key=message.key, value=message.value
    )

    assert decoder(Action)(record) == action


@pytest.mark.parametrize(
    "value",
    [b"", b"not json", b"\xff\xfe", b"[]", f.comment().model_dump_json().encode()],
    ids=["empty", "not-json", "not-utf8", "wrong-shape", "other-event-type"],
)
def test_decoder_rejects_what_is_not_the_model(value: bytes) -> None:
    record = Record(topic="t", partition=0, offset=0, key=None, value=value)

    with pytest.raises(ValidationError):
        decoder(Action)(record)
