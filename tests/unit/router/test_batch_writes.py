"""A batch's rows, collected: one row per unique key (the first wins), a case's changes
folded, and the outbox events of actions already known left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.router.batch_writes import BatchWrites, CaseChange
from shared.bus import Message

T0 = datetime(2026, 11, 21, 9, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def message(event_id: str) -> Message:
    return Message(topic="t", value=event_id.encode(), event_id=event_id)


def outbox(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "value": event_id}


def test_the_first_row_of_a_key_wins_as_insert_on_conflict_do_nothing_would() -> None:
    writes = BatchWrites()
    writes.add_audit({"dedup_key": "a", "reason": "first"})
    writes.add_audit({"dedup_key": "b", "reason": "other"})
    writes.add_audit({"dedup_key": "a", "reason": "second"})
    writes.add_action({"action_id": "x", "status": "emitted"})
    writes.add_action({"action_id": "x", "status": "skipped"})
    member = {"case_id": "c", "platform": "p", "comment_id": "1", "revision": 0}
    writes.add_member({**member, "added_at": at(0)})
    writes.add_member({**member, "added_at": at(5)})

    assert [r["reason"] for r in writes.rows("audit_log")] == ["first", "other"]
    assert [r["status"] for r in writes.rows("case_actions")] == ["emitted"]
    assert [r["added_at"] for r in writes.rows("case_comments")] == [at(0)]


def test_rows_of_one_statement_all_have_the_same_columns() -> None:
    writes = BatchWrites()
    writes.add_action({"action_id": "x", "receiver": "crisis-team", "payload": {"a": 1}})
    writes.add_action({"action_id": "y", "note": "cannot"})

    assert writes.rows("case_actions") == [
        {"action_id": "x", "receiver": "crisis-team", "payload": {"a": 1}, "note": None},
        {"action_id": "y", "receiver": None, "payload": None, "note": "cannot"},
    ]


def test_changes_to_a_new_case_go_into_its_insert() -> None:
    writes = BatchWrites()
    writes.open_case({"id": "c", "severity": "medium", "updated_at": at(0)})

    writes.change_case("c", severity="high", updated_at=at(1))
    writes.change_case("c", answer_due_at=at(60))
    writes.change_case("c", answer_due_at=at(90))  # later: ignored

    (row,) = writes.rows("cases")
    assert (row["severity"], row["updated_at"], row["answer_due_at"]) == ("high", at(1), at(60))
    assert writes.case_changes == {}


@pytest.mark.parametrize(
    ("dues", "kept"),
    [((at(90), at(60), at(120)), at(60)), ((at(60),), at(60)), ((), None)],
)
def test_changes_to_a_stored_case_fold_into_one_update(
    dues: tuple[datetime, ...], kept: datetime | None
) -> None:
    writes = BatchWrites()
    writes.change_case("c", severity="medium", updated_at=at(0))
    for due in dues:
        writes.change_case("c", answer_due_at=due)
    writes.change_case("c", severity="high", updated_at=at(2))

    assert writes.case_changes == {"c": CaseChange("high", at(2), kept)}
    assert writes.rows("cases") == []


def test_an_earliest_timer_keeps_its_first_row_and_the_earliest_due_time() -> None:
    writes = BatchWrites()
    first = {"id": "answer-due:c", "page": {"lang": "fr"}, "due_at": at(90), "updated_at": at(0)}
    writes.add_earliest_timer(first)
    writes.add_earliest_timer(
        {**first, "page": {"lang": "en"}, "due_at": at(60), "updated_at": at(1)}
    )
    writes.add_earliest_timer(
        {**first, "page": {"lang": "de"}, "due_at": at(75), "updated_at": at(2)}
    )

    (row,) = writes.rows("case_timers.earliest")
    assert row == {**first, "due_at": at(60), "updated_at": at(1)}
    assert first["due_at"] == at(90)  # the caller's row is not changed


def test_the_event_of_an_action_already_known_is_left_out_and_order_is_kept() -> None:
    writes = BatchWrites()
    writes.stage(outbox("opened"), message("opened"))
    writes.stage(outbox("page"), message("page"), unless_known_action="case:notify:1")
    writes.stage(outbox("reply"), message("reply"), unless_known_action="case:reply:1")
    writes.stage(outbox("opened"), message("opened"))  # the same event again

    rows, messages = writes.staged({"case:reply:1"})

    assert [r["event_id"] for r in rows] == ["opened", "reply"]
    # Published once each: they go out as they are, without a claim by event id.
    assert [m.event_id for m in messages] == ["opened", "reply"]


def test_an_empty_batch_writes_nothing() -> None:
    writes = BatchWrites()
    assert not writes
    writes.add_timer({"id": "chain:c"})
    assert writes
    assert writes.rows("case_timers") == [{"id": "chain:c"}]
