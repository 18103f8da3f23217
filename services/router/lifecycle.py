"""A case's life: open → acknowledged → resolved, and reopened. Pure.

Acknowledging or resolving a case already in that state changes nothing (two people click
the same link); any other move that does not apply is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.events import CaseStatus


class Transition(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    REOPEN = "reopen"


class InvalidTransition(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Move:
    status: CaseStatus
    changed: bool


_OPEN, _ACK, _RESOLVED = CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED, CaseStatus.RESOLVED

_MOVES: dict[tuple[CaseStatus, Transition], Move | str] = {
    (_OPEN, Transition.ACKNOWLEDGE): Move(_ACK, True),
    (_ACK, Transition.ACKNOWLEDGE): Move(_ACK, False),
    (_RESOLVED, Transition.ACKNOWLEDGE): "the case is resolved; reopen it first",
    (_OPEN, Transition.RESOLVE): Move(_RESOLVED, True),
    (_ACK, Transition.RESOLVE): Move(_RESOLVED, True),
    (_RESOLVED, Transition.RESOLVE): Move(_RESOLVED, False),
    (_OPEN, Transition.REOPEN): "the case is open, not resolved",
    (_ACK, Transition.REOPEN): "the case is acknowledged, not resolved",
    (_RESOLVED, Transition.REOPEN): Move(_OPEN, True),
}


def move(status: CaseStatus, transition: Transition) -> Move:
    found = _MOVES[(status, transition)]
    if isinstance(found, str):
        raise InvalidTransition(found)
    return found
