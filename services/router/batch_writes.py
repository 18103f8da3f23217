"""The rows a batch of comments makes, collected while it is routed and written at its end:
one multi-row statement per table instead of one statement per row. Pure: it only holds rows.

Each kind of row keeps the semantics of the single-row write it replaces: a new case is a
plain insert (a case another replica opened meanwhile must still raise), everything else is
kept once per unique key, the first row winning, as ``INSERT … ON CONFLICT DO NOTHING`` one
row at a time would. Changes to a case are folded: into its pending insert when the case is
new, into one update per case otherwise. An emitted action's outbox event is kept only if
the action's row is new, as ``store.record_action`` does.
"""

from __future__ import annotations

from collections.abc import ValuesView
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.bus import Message


@dataclass(slots=True)
class CaseChange:
    """What the batch changes in a case that was already stored; None keeps the column."""

    severity: str | None = None
    updated_at: datetime | None = None
    answer_due_at: datetime | None = None  # lowered to this unless already earlier


@dataclass(frozen=True, slots=True)
class Staged:
    """An outbox row, and the action whose row must be new for it to be kept (if any)."""

    row: dict[str, Any]
    message: Message
    unless_known_action: str | None = None


def _uniform(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same keys in every row (None where a row has none), as one statement needs."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return [{key: row.get(key) for key in keys} for row in rows]


@dataclass
class BatchWrites:
    new_cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    case_changes: dict[str, CaseChange] = field(default_factory=dict)
    members: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    timers: dict[str, dict[str, Any]] = field(default_factory=dict)
    earliest_timers: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: list[Staged] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.new_cases
            or self.case_changes
            or self.members
            or self.timers
            or self.earliest_timers
            or self.actions
            or self.audit
            or self.outbox
        )

    def open_case(self, row: dict[str, Any]) -> None:
        self.new_cases[row["id"]] = row

    def change_case(
        self,
        case_id: str,
        *,
        severity: str | None = None,
        updated_at: datetime | None = None,
        answer_due_at: datetime | None = None,
    ) -> None:
        """Raise or set the case's columns; ``answer_due_at`` only ever moves earlier."""
        pending = self.new_cases.get(case_id)
        if pending is not None:
            if severity is not None:
                pending["severity"] = severity
            if updated_at is not None:
                pending["updated_at"] = updated_at
            if answer_due_at is not None:
                current = pending.get("answer_due_at")
                if current is None or current > answer_due_at:
                    pending["answer_due_at"] = answer_due_at
            return
        change = self.case_changes.setdefault(case_id, CaseChange())
        if severity is not None:
            change.severity = severity
        if updated_at is not None:
            change.updated_at = updated_at
        if answer_due_at is not None and (
            change.answer_due_at is None or change.answer_due_at > answer_due_at
        ):
            change.answer_due_at = answer_due_at

    def add_member(self, row: dict[str, Any]) -> None:
        key = (row["case_id"], row["platform"], row["comment_id"], row["revision"])
        self.members.setdefault(key, row)

    def add_timer(self, row: dict[str, Any]) -> None:
        self.timers.setdefault(row["id"], row)

    def add_earliest_timer(self, row: dict[str, Any]) -> None:
        """A timer row that, when it exists already, is only moved earlier (with its
        ``updated_at``); its other columns are those of the first row."""
        kept = self.earliest_timers.get(row["id"])
        if kept is None:
            self.earliest_timers[row["id"]] = dict(row)
        elif kept["due_at"] > row["due_at"]:
            kept["due_at"], kept["updated_at"] = row["due_at"], row["updated_at"]

    def add_action(self, row: dict[str, Any]) -> None:
        self.actions.setdefault(row["action_id"], row)

    def add_audit(self, row: dict[str, Any]) -> None:
        self.audit.setdefault(row["dedup_key"], row)

    def stage(
        self, row: dict[str, Any], message: Message, *, unless_known_action: str | None = None
    ) -> None:
        self.outbox.append(Staged(row, message, unless_known_action))

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The rows of one statement: ``cases``, ``case_comments``, ``case_timers``,
        ``case_timers.earliest``, ``case_actions`` or ``audit_log``."""
        found: dict[str, ValuesView[dict[str, Any]]] = {
            "cases": self.new_cases.values(),
            "case_comments": self.members.values(),
            "case_timers": self.timers.values(),
            "case_timers.earliest": self.earliest_timers.values(),
            "case_actions": self.actions.values(),
            "audit_log": self.audit.values(),
        }
        return _uniform(list(found[table]))

    def staged(self, inserted_actions: set[str]) -> tuple[list[dict[str, Any]], list[Message]]:
        """The outbox rows and their messages, one per event (the first kept), in the order
        they were staged, without the events of actions that were already known."""
        kept: dict[str, Staged] = {}
        for s in self.outbox:
            if s.unless_known_action is None or s.unless_known_action in inserted_actions:
                kept.setdefault(s.row["event_id"], s)
        staged = kept.values()
        return _uniform([s.row for s in staged]), [s.message for s in staged]
