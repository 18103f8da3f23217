"""Which case each comment of a batch goes to, decided in memory. Pure.

The batch first reads the cases its comments are already in (a redelivery finds the case it
was put in) and the open case of each group it may join; then each comment, in order, goes
to the case it is already in, the open case of its group (which it may have opened a moment
earlier in the same batch), or a new case. The rows this makes go to ``BatchWrites``; a
case another replica opened meanwhile makes the insert of ours fail, and the batch is
routed again comment by comment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.router.actions import CaseView
from services.router.batch_writes import BatchWrites
from services.router.policy.decide import RouteDecision, identity
from services.router.store import audit_row
from shared.events import CaseStatus, ClassifiedComment, derive_id

_Member = tuple[str, str, int, str]  # platform, comment id, revision, route


@dataclass(slots=True)
class KnownCase:
    """A case as the batch knows it: what its events say, kept current as comments join."""

    view: CaseView
    status: CaseStatus
    group_key: str
    opened_by: str

    @classmethod
    def of_row(cls, row: Any) -> KnownCase:
        return cls(CaseView.of_row(row), CaseStatus(row.status), row.group_key, row.opened_by)


@dataclass(frozen=True, slots=True)
class Placed:
    case: KnownCase
    opened: bool  # the comment is the one that opened the case
    new: bool  # the comment joined the case now (False for a redelivery)


class Cases:
    """The cases of one batch: by comment (any status) and by group (open ones)."""

    def __init__(self, members: Iterable[Any] = (), groups: Iterable[Any] = ()) -> None:
        by_id: dict[str, KnownCase] = {}

        def known(row: Any) -> KnownCase:
            return by_id.setdefault(row.id, KnownCase.of_row(row))

        self._members: dict[_Member, KnownCase] = {
            (r.platform, r.comment_id, r.revision, r.route): known(r) for r in members
        }
        self._groups: dict[str, KnownCase] = {r.group_key: known(r) for r in groups}

    def place(
        self,
        writes: BatchWrites,
        decision: RouteDecision,
        item: ClassifiedComment,
        *,
        policy_version: str,
        now: datetime,
    ) -> Placed:
        """Put the comment in its case; the rows it takes go to ``writes``."""
        ref = item.comment.ref
        opened_key = f"{decision.route}:{ref.key}"
        member: _Member = (ref.platform, ref.comment_id, ref.revision, decision.route)
        found = self._members.get(member)
        if found is not None:
            return Placed(found, found.opened_by == opened_key, False)
        row = {"platform": ref.platform, "comment_id": ref.comment_id, "revision": ref.revision}
        labels = [label.value for label in item.classification.labels]
        group = self._groups.get(decision.group_key)
        if group is not None:
            case_id = str(group.view.id)
            severity = max(group.view.severity, decision.severity, key=lambda s: s.rank)
            group.view = replace(group.view, severity=severity)
            writes.change_case(case_id, severity=severity.value, updated_at=now)
            writes.add_member({"case_id": case_id, "added_at": now, **row})
            writes.add_audit(
                audit_row(
                    dedup_key=f"case-attach:{case_id}:{ref.key}",
                    at=now,
                    action="case.comment_added",
                    subject_id=case_id,
                    reason=f"route {decision.route} grouped the comment into the open case",
                    policy_version=policy_version,
                    trace_id=item.trace_id,
                    details={"comment": ref.key, "labels": labels},
                )
            )
            self._members[member] = group
            return Placed(group, False, True)
        opened = self._open(writes, decision, item, opened_key, policy_version, now)
        writes.add_member({"case_id": str(opened.view.id), "added_at": now, **row})
        self._groups[decision.group_key] = opened
        self._members[member] = opened
        return Placed(opened, True, True)

    def _open(
        self,
        writes: BatchWrites,
        decision: RouteDecision,
        item: ClassifiedComment,
        opened_key: str,
        policy_version: str,
        now: datetime,
    ) -> KnownCase:
        comment, verdict = item.comment, item.classification
        ref = comment.ref
        case_id = derive_id("case", opened_key)
        labels = [label.value for label in verdict.labels]
        writes.open_case(
            {
                "id": str(case_id),
                "group_key": decision.group_key,
                "status": CaseStatus.OPEN.value,
                "severity": decision.severity.value,
                "labels": labels,
                "route": decision.route,
                "policy_version": policy_version,
                "opened_by": opened_key,
                "opened_at": now,
                "updated_at": now,
                "trace_id": item.trace_id,
                "categories": list(verdict.categories),
                "opener": ref.model_dump(mode="json"),
                "comment_url": comment.url,
                "identity": identity(item),
                "muted_by": decision.muted_by,
                "reopen_count": 0,
            }
        )
        writes.add_audit(
            audit_row(
                dedup_key=f"case-open:{case_id}",
                at=now,
                action="case.opened",
                subject_id=str(case_id),
                reason=f"route {decision.route} matched"
                + (f"; pages muted by {decision.muted_by}" if decision.muted_by else ""),
                policy_version=policy_version,
                trace_id=item.trace_id,
                details={
                    "comment": ref.key,
                    "labels": labels,
                    "severity": decision.severity.value,
                    "receivers": [r.name for r in decision.receivers],
                    "chain": decision.chain,
                    "muted_by": decision.muted_by,
                    "deferred": [d.receiver for d in decision.deferred],
                },
            )
        )
        view = CaseView(
            id=case_id,
            route=decision.route,
            severity=decision.severity,
            labels=verdict.labels,
            categories=tuple(verdict.categories),
            opener=ref,
            comment_url=comment.url,
            opened_at=now,
            trace_id=item.trace_id,
        )
        return KnownCase(view, CaseStatus.OPEN, decision.group_key, opened_key)
