"""A case paged as it opens has its first round written with the case, in the batch's own
statements; what it writes must be exactly what the timer loop's path (``begin_paging``,
reading the case back and writing the round statement by statement) writes."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router import batch_routing
from services.router.chain_pages import first_round
from services.router.metrics import RouterMetrics
from services.router.policy.config import Policy, load_policy
from services.router.timers import Paging
from services.router.worker import route_batch
from shared.bus import Message
from shared.bus.memory import MemoryBus
from shared.events import ClassifiedComment, Label, Severity
from shared.runtime import Runtime
from shared.storage.engine import create_engine
from tests.unit import factories as f
from tests.unit.router.conftest import POLICY_FILE, QUIET, links, policy_with, table_rows


def _quiet() -> Policy:
    return policy_with(QUIET.replace("THEN", "stop"))


def _insult(comment_id: str, author: str) -> ClassifiedComment:
    return f.classified(
        f.comment(comment_id, author_id=author, post_id=f"p-{author}"),
        f.classification(Label.ABUSIVE, severity=Severity.HIGH, categories=("insult",)),
    )


CRISES = [
    f.sensitive(f.comment("forum:c-1", author_id="u-1")),
    f.sensitive(f.comment("forum:c-2", author_id="u-1")),  # joins u-1's case
    f.sensitive(f.comment("forum:c-3", author_id="u-2")),
]
INSULTS = [_insult("forum:a-1", "u-1"), _insult("forum:a-2", "u-2")]


def _shipped() -> Policy:
    return load_policy(POLICY_FILE)


# (what, policy, time after f.NOW, comments, cases whose round is written with them)
CASES: list[tuple[str, Any, timedelta, Sequence[ClassifiedComment], int]] = [
    ("shipped policy: crises with digests", _shipped, timedelta(0), CRISES, 2),
    ("a page held by quiet hours", _quiet, timedelta(hours=11), INSULTS, 2),
    ("a page sent at once by day", _quiet, timedelta(0), INSULTS, 2),
]


@pytest.fixture
async def engines(migrated_template: Path, tmp_path: Path) -> AsyncIterator[list[AsyncEngine]]:
    made = []
    for name in ("batched", "claimed"):
        target = tmp_path / f"{name}.db"
        shutil.copyfile(migrated_template, target)
        made.append(create_engine(f"sqlite+aiosqlite:///{target}"))
    yield made
    for engine in made:
        await engine.dispose()


async def _route(
    engine: AsyncEngine, paging: Paging, comments: Sequence[ClassifiedComment], after: timedelta
) -> list[Message]:
    runtime = Runtime(
        bus=MemoryBus(), engine=engine, registry=CollectorRegistry(), clock=lambda: f.NOW + after
    )
    return await route_batch(runtime, paging, comments, RouterMetrics(runtime.registry))


@pytest.mark.parametrize(
    ("make_policy", "after", "comments", "written_with_case"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
async def test_the_first_round_written_with_the_case_is_the_one_the_timer_loop_writes(
    engines: list[AsyncEngine],
    monkeypatch: pytest.MonkeyPatch,
    make_policy: Any,
    after: timedelta,
    comments: Sequence[ClassifiedComment],
    written_with_case: int,
) -> None:
    paging = Paging(make_policy(), links())
    rounds: list[object] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = first_round(*args, **kwargs)
        rounds.extend([found] if found is not None else [])
        return found

    with monkeypatch.context() as patched:
        patched.setattr(batch_routing, "first_round", spy)
        batched_out = await _route(engines[0], paging, comments, after)
    assert len(rounds) == written_with_case
    with monkeypatch.context() as patched:
        patched.setattr(batch_routing, "first_round", lambda *_a, **_k: None)
        claimed_out = await _route(engines[1], paging, comments, after)

    assert [m.event_id for m in batched_out] == [m.event_id for m in claimed_out]
    got, expected = await table_rows(engines[0]), await table_rows(engines[1])
    assert any(row["kind"] == "notify" for row in got["case_actions"])  # pages, sent or held
    for name, rows in expected.items():
        assert got[name] == rows, name
