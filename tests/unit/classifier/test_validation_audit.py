"""The audited validation subset: its file, its join to the data, and its place in the report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from services.classifier.model.dataset import (
    Audited,
    DatasetError,
    Item,
    audited,
    parse_line,
    read_audit,
    text_digest,
)
from services.classifier.model.report import DEFAULT_AUDIT, render
from services.classifier.model.train import APPROVAL_ONLY_WEIGHT, praise_weight, train
from shared.events import Label
from tests.unit.classifier.test_model_train import write_tiny

P, Q = Label.PRAISE, Label.QUESTION
SCOPE = frozenset({P, Q})
# VALIDATION_AUDIT.md's rules: the label each one moves, and whether it adds it.
RULES = {
    "Q1": (Q, False),
    "Q2": (Q, False),
    "Q3": (Q, True),
    "P1": (P, False),
    "P2": (P, False),
    "P3": (P, True),
}


def audit_key(source: str) -> str:
    """The selection order of VALIDATION_AUDIT.md."""
    return hashlib.blake2b(f"vigie-audit\x1f{source}".encode(), digest_size=8).hexdigest()


def item(text: str, labels: set[Label], source: str, categories: tuple[str, ...] = ()) -> Item:
    return Item(
        text=text,
        lang="en",
        labels=frozenset(labels),
        scope=SCOPE,
        categories=categories,
        source=source,
    )


def record(it: Item, labels: set[Label], rules: tuple[str, ...] = ()) -> Audited:
    return Audited(
        source=it.source,
        digest=text_digest(it.text),
        labels=frozenset(labels),
        original=it.labels,
        rules=rules,
    )


def test_the_shipped_audit_reads_and_every_change_names_its_rule() -> None:
    audit = read_audit(DEFAULT_AUDIT)

    assert len(audit) == 900
    assert len({r.source for r in audit}) == 900
    changed = [r for r in audit if r.changed]
    assert changed and all(r.rules for r in changed)
    assert {rule for r in changed for rule in r.rules} <= set(RULES)
    assert all(not r.rules for r in audit if not r.changed)
    # Only the audited labels change; nothing outside question and praise.
    assert all((r.labels ^ r.original) <= SCOPE for r in audit)


def test_the_shipped_audit_follows_the_selection_order() -> None:
    # The first items of the order by a hash of the source: the audit was drawn by source,
    # not by what a model predicts, and a longer audit only adds items after the old ones.
    keys = [audit_key(r.source) for r in read_audit(DEFAULT_AUDIT)]

    assert keys == sorted(keys)


def test_a_relabelling_rule_moves_only_its_own_label() -> None:
    for r in read_audit(DEFAULT_AUDIT):
        for rule in r.rules:
            label, added = RULES[rule]
            assert (label in r.labels) is added and (label in r.original) is not added


def test_audited_items_are_relabelled_and_keep_the_original_beside() -> None:
    agree = item("Glad we agree.", {P}, "go#1", ("approval",))
    thanks = item("Thanks, great video!", {P}, "go#2", ("gratitude",))
    audit = [record(agree, set(), ("P1",)), record(thanks, {P})]

    pairs, missing = audited([agree, thanks], audit)

    assert missing == 0
    assert [(old.labels, new.labels) for old, new in pairs] == [
        (frozenset({P}), frozenset()),
        (frozenset({P}), frozenset({P})),
    ]


@pytest.mark.parametrize(
    "changed",
    [
        {"text": "Glad we agree!"},  # the text changed since the audit
        {"labels": frozenset()},  # the data's label changed since the audit
        {"source": "go#9"},  # not in the data
    ],
)
def test_a_record_that_no_longer_matches_the_data_is_left_out(changed: dict[str, object]) -> None:
    agree = item("Glad we agree.", {P}, "go#1", ("approval",))
    audit = [record(agree, set(), ("P1",))]
    data = Item(**{**{f: getattr(agree, f) for f in Item.__slots__}, **changed})

    pairs, missing = audited([data], audit)

    assert (pairs, missing) == ([], 1)


GOOD = {"source": "s", "text_sha256": "ab", "labels": [], "labels_original": []}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": None}, "'source'"),
        ({"text_sha256": None}, "'text_sha256'"),
        ({"labels": ["spam"]}, "spam"),
        ({"labels_original": 3}, "'labels_original'"),
        # A changed label must say by which rule; a kept one must not.
        ({"labels_original": ["praise"]}, "'rules'"),
        ({"rules": ["P1"]}, "'rules'"),
        ({"labels_original": ["praise"], "rules": "P1"}, "'rules'"),
    ],
)
def test_a_bad_audit_line_names_its_field(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    line = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    path = tmp_path / "audit.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")

    with pytest.raises(DatasetError, match=f"audit.jsonl:1: .*{field}"):
        read_audit(path)


def test_the_data_source_is_read_with_each_item() -> None:
    line = json.dumps({"text": "hi?", "labels": [], "source": "ewt#3", "label_scope": ["question"]})

    assert parse_line(line, "x").source == "ewt#3"
    with pytest.raises(DatasetError, match="'source'"):
        parse_line(json.dumps({"text": "hi", "source": 3}), "x")


@pytest.mark.parametrize(
    ("labels", "categories", "weight"),
    [
        ({P}, ("approval",), APPROVAL_ONLY_WEIGHT),
        ({P}, ("approval", "ends_with_qmark"), APPROVAL_ONLY_WEIGHT),
        ({P}, ("approval", "gratitude"), 1.0),
        ({P}, ("admiration",), 1.0),
        (set(), ("approval",), 1.0),  # a negative keeps its full weight
    ],
)
def test_praise_that_rests_on_approval_alone_weighs_less(
    labels: set[Label], categories: tuple[str, ...], weight: float
) -> None:
    assert praise_weight(item("x", labels, "go#1", categories)) == weight


def test_the_report_scores_the_audit_beside_the_raw_split(tmp_path: Path) -> None:
    data = write_tiny(tmp_path / "data")
    lines = (data / "train.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [{**json.loads(line), "source": f"tiny#{n}"} for n, line in enumerate(lines, 1)]
    (data / "train.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8"
    )
    trained = train(data)
    raw = [i for i in trained.split.validation if Q in i.labels]
    assert raw, "the tiny data should put a question in validation"
    # Audit the validation questions as not questions: the audited table must show it.
    audit = [record(i, set(), ("Q1",)) for i in raw]
    audit.append(Audited(source="gone#1", digest="0", labels=frozenset(), original=frozenset()))

    report = render(trained, {}, audit=audit)

    section = report.split("## Audited validation subset", 1)[1].split("\n## ", 1)[0]
    assert f"{len(raw)} validation items" in section and f"({len(raw)} changed" in section
    assert "1 of " in section and "do not match this data" in section
    data_table, audited_table = section.split("Audited labels:")
    assert "question   all" in data_table
    assert "question   all        0.000   0.000   0.000        0" in audited_table
    assert report.index("## Validation split") < report.index("## Audited validation subset")
