"""Moderator feedback: validated, stored as a labelled example, exported in training shape."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner, Result

from services.classifier import rules, store
from services.classifier.feedback import FeedbackError, correction, parse_labels
from services.classifier.worker import classified
from shared.events import Comment, Label
from shared.storage.engine import create_engine
from tests.unit import factories as f
from vigie.classifier_feedback_cli import feedback_app

FOUR = ["sensitive", "abusive", "question", "praise"]


@pytest.mark.parametrize(
    ("given", "labels"),
    [
        ("question, sensitive", (Label.SENSITIVE, Label.QUESTION)),
        ("PRAISE", (Label.PRAISE,)),
        ("none", ()),
    ],
)
def test_labels_are_read_in_canonical_order(given: str, labels: tuple[Label, ...]) -> None:
    assert parse_labels(given) == labels


@pytest.mark.parametrize("given", ["", "spam", "sensitive,none", " , "])
def test_unknown_or_missing_labels_name_the_field(given: str) -> None:
    with pytest.raises(FeedbackError) as refused:
        parse_labels(given)

    assert refused.value.field == "labels"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"moderator": ""}, "moderator"),
        ({"categories": ("Not A Name",)}, "categories"),
        ({"corrected_at": f.NOW.replace(tzinfo=None)}, "corrected_at"),
        ({"revision": -1}, "revision"),
    ],
)
def test_an_invalid_correction_names_the_field(change: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "platform": "generic",
        "comment_id": "forum:c-1",
        "labels": (Label.SENSITIVE,),
        "moderator": "mod-7",
        "corrected_at": f.NOW,
    }
    with pytest.raises(FeedbackError) as refused:
        correction(**(values | change))

    assert refused.value.field == field


async def seen(engine: AsyncEngine, *incoming: Comment) -> None:
    items = [classified(c, rules.classify(c.text, lang_hint=c.lang)) for c in incoming]
    await store.record(engine, items, f.NOW)


async def test_the_latest_correction_of_a_comment_is_exported_in_training_shape(
    engine: AsyncEngine,
) -> None:
    await seen(
        engine,
        f.comment("forum:c-1", text="je vais bien, merci", revision=0),
        f.comment("forum:c-1", text="en fait je veux en finir", revision=1),
        f.comment("forum:c-2", text="idiot"),
    )
    fix = {"platform": "generic", "moderator": "mod-7"}
    first = await store.add_feedback(
        engine,
        correction(**fix, comment_id="forum:c-1", labels=(Label.PRAISE,), corrected_at=f.NOW),
    )
    latest = await store.add_feedback(
        engine,
        correction(
            **fix,
            comment_id="forum:c-1",
            labels=(Label.SENSITIVE,),
            categories=("suicide",),
            corrected_at=f.NOW + timedelta(minutes=5),
            note="second thoughts",
        ),
    )
    other = await store.add_feedback(
        engine,
        correction(**fix, comment_id="forum:c-2", revision=0, labels=(), corrected_at=f.NOW),
    )

    examples = await store.feedback_examples(engine)

    assert first < latest < other
    assert examples == [
        {
            "text": "en fait je veux en finir",  # the latest revision, when none is named
            "lang": "fr",
            "labels": ["sensitive"],
            "categories": ["suicide"],
            "source": f"feedback#{latest}",
            "label_scope": FOUR,
        },
        {
            "text": "idiot",
            "lang": "und",
            "labels": [],
            "categories": [],
            "source": f"feedback#{other}",
            "label_scope": FOUR,
        },
    ]
    assert await store.feedback_examples(engine, since=f.NOW + timedelta(minutes=1)) == [
        e for e in examples if e["source"] == f"feedback#{latest}"
    ]


async def test_feedback_on_an_unseen_comment_is_refused(engine: AsyncEngine) -> None:
    fix = correction(
        platform="generic",
        comment_id="forum:nope",
        labels=(),
        moderator="mod-7",
        corrected_at=f.NOW,
    )
    with pytest.raises(store.CommentNotFound):
        await store.add_feedback(engine, fix)


async def cli(*args: str) -> Result:
    """Run a command in a thread of its own: its ``asyncio.run`` must not close the test's
    event loop."""

    def invoke() -> Result:
        return CliRunner().invoke(feedback_app, list(args))

    return await asyncio.to_thread(invoke)


async def test_the_cli_adds_and_exports_feedback(db_url: str, tmp_path: Path) -> None:
    engine = create_engine(db_url)
    try:
        await seen(engine, f.comment("forum:c-1", text="I want to kill myself", lang="en"))
    finally:
        await engine.dispose()
    added = await cli(
        "add", "generic", "forum:c-1", "sensitive,question", "--by", "mod-7",
        "--category", "suicide", "--note", "asked for help", "--url", db_url,
    )  # fmt: skip
    out = tmp_path / "feedback.jsonl"
    exported = await cli("export", "--output", str(out), "--url", db_url)

    assert added.exit_code == 0, added.output
    assert added.stdout.strip().startswith("feedback#")
    assert exported.exit_code == 0, exported.output
    (line,) = out.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {
        "text": "I want to kill myself",
        "lang": "en",
        "labels": ["sensitive", "question"],
        "categories": ["suicide"],
        "source": added.stdout.strip(),
        "label_scope": FOUR,
    }


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["add", "generic", "forum:c-1", "spam", "--by", "m"], "labels"),
        (["add", "generic", "forum:c-1", "none", "--by", ""], "moderator"),
        (["add", "generic", "forum:zz", "none", "--by", "m"], "comment_id"),
        (["add", "generic", "forum:c-1", "none", "--by", "m", "--at", "yesterday"], "at"),
        (["export", "--since", "last week"], "since"),
    ],
)
async def test_cli_errors_name_the_field_and_exit_2(
    db_url: str, args: list[str], field: str
) -> None:
    result = await cli(*args, "--url", db_url)

    assert result.exit_code == 2
    assert f"{field}:" in result.output
