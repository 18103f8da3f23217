"""``vigie policy simulate``: a replay of stored comments through two policies."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from services.router.policy.config import Policy
from services.router.simulation import Row, compare, simulate
from shared.events import ClassifiedComment, Label, Severity
from shared.runtime import utc_now
from shared.storage.engine import create_engine
from shared.storage.tables import classifications, comments
from tests.unit import factories as f
from tests.unit.router.conftest import POLICY_FILE, policy_with
from vigie.policy_cli import policy_app


def insult(n: int, author: str, post: str = "p-1") -> ClassifiedComment:
    return f.classified(
        f.comment(f"forum:i-{n}", author_id=author, post_id=post),
        f.classification(Label.ABUSIVE, severity=Severity.MEDIUM, categories=("insult",)),
    )


HISTORY = [
    f.sensitive(f.comment("forum:s-1", author_id="u-1")),
    f.sensitive(f.comment("forum:s-2", author_id="u-1")),  # joins the case of s-1
    insult(1, "u-2", "p-1"),
    insult(2, "u-3", "p-1"),  # a pile-on on p-1: one case with the shipped policy
    insult(3, "u-1", "p-2"),  # the author of an open crisis case: muted
    f.classified(f.comment("forum:q-1"), f.classification(Label.QUESTION)),
]


def tweaked(change: str) -> Policy:
    data = yaml.safe_load(POLICY_FILE.read_text())
    abuse = next(r for r in data["routes"] if r["name"] == "abuse")
    if change == "per-author":
        abuse["group_by"] = ["platform", "author_id"]
    elif change == "leads-too":
        abuse["notify"] = ["moderators", "crisis-leads"]
    return policy_with(yaml.safe_dump(data))


def test_the_shipped_policy_replayed(policy: Policy) -> None:
    tally = simulate(policy, HISTORY)

    assert tally.comments == 6
    assert dict(tally.cases) == {"crisis": 1, "abuse": 2, "questions-after-hours": 1}
    assert dict(tally.pages) == {"crisis-team": 1, "moderators": 1}
    assert tally.muted == 1


@pytest.mark.parametrize(
    ("change", "cases", "pages", "rerouted"),
    [
        ("none", (), (), 0),
        ("per-author", (Row("abuse", 2, 3),), (Row("moderators", 1, 2),), 0),
        ("leads-too", (), (Row("crisis-leads", 0, 1),), 0),
    ],
)
def test_what_a_change_would_have_changed(
    policy: Policy, change: str, cases: tuple[Row, ...], pages: tuple[Row, ...], rerouted: int
) -> None:
    comparison = compare(simulate(policy, HISTORY), simulate(tweaked(change), HISTORY))

    assert tuple(r for r in comparison.cases if r.change) == cases
    assert tuple(r for r in comparison.pages if r.change) == pages
    assert comparison.rerouted == rerouted
    assert comparison.changed == bool(cases or pages)


async def _store(url: str, items: list[ClassifiedComment], age: timedelta) -> None:
    engine = create_engine(url)
    received = utc_now() - age
    try:
        async with engine.begin() as conn:
            for n, item in enumerate(items):
                c, k = item.comment, item.classification
                await conn.execute(
                    comments.insert().values(
                        event_id=str(c.event_id),
                        platform=c.platform,
                        source=c.source,
                        comment_id=c.comment_id,
                        revision=c.revision,
                        kind=c.kind.value,
                        post_id=c.post_id,
                        parent_id=c.parent_id,
                        thread_id=c.thread_id,
                        author_id=c.author.id,
                        author_name=c.author.name,
                        text=c.text,
                        lang_hint=c.lang,
                        url=c.url,
                        created_at=None,
                        received_at=received + timedelta(seconds=n),
                        delivery_id=c.delivery_id,
                        trace_id=c.trace_id,
                    )
                )
                await conn.execute(
                    classifications.insert().values(
                        event_id=str(item.event_id),
                        platform=c.platform,
                        comment_id=c.comment_id,
                        revision=c.revision,
                        kind=c.kind.value,
                        labels=[x.value for x in k.labels],
                        categories=list(k.categories),
                        severity=k.severity.value,
                        scores={x.value: s for x, s in k.scores.items()},
                        unsure=[],
                        lang=k.lang,
                        rationale=k.rationale,
                        model_version=k.model_version,
                        classified_at=received,
                    )
                )
    finally:
        await engine.dispose()


def test_simulate_reads_the_database_and_prints_the_differences(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_store(db_url, HISTORY, timedelta(days=1)))
    asyncio.run(_store(db_url, [insult(9, "u-9", "p-9")], timedelta(days=30)))  # too old
    data = yaml.safe_load(POLICY_FILE.read_text())
    next(r for r in data["routes"] if r["name"] == "abuse")["group_by"] = ["platform", "author_id"]
    candidate = tmp_path / "policy.yaml"
    candidate.write_text(yaml.safe_dump(data))
    (tmp_path / "resources.yaml").write_text((POLICY_FILE.parent / "resources.yaml").read_text())
    monkeypatch.setenv("VIGIE_DATABASE_URL", db_url)
    monkeypatch.setenv("VIGIE_POLICY_FILE", str(POLICY_FILE))

    result = CliRunner().invoke(policy_app, ["simulate", str(candidate), "--since", "7d"])

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "6 classified comment(s) replayed" in lines
    assert any(line.split() == ["abuse", "2", "3", "+1"] for line in lines)
    assert any(line.split() == ["moderators", "1", "2", "+1"] for line in lines)
    assert any(line.split() == ["crisis-team", "1", "1", "+0"] for line in lines)
    assert "replaying" in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "last week"], "--since"),
        (["--against", "/nonexistent.yaml"], "cannot read the policy"),
    ],
)
def test_simulate_refuses_bad_input_with_a_reason(
    db_url: str, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    monkeypatch.setenv("VIGIE_DATABASE_URL", db_url)

    result = CliRunner().invoke(policy_app, ["simulate", str(POLICY_FILE), *args])

    assert result.exit_code == 1
    assert says in result.stderr
