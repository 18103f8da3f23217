"""Inhibition rules (source/target/equal) and silences, as pure models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.router.policy.config import CompiledInhibitRule
from services.router.policy.inhibit import OpenCase, Sources, inhibiting, key_fields
from services.router.policy.matchers import parse_matcher
from services.router.policy.silences import Silence, silencing

RULE = CompiledInhibitRule(
    name="crisis-mutes-abuse",
    source=(parse_matcher("label=sensitive"), parse_matcher("severity=critical")),
    target=(parse_matcher("label=abusive"),),
    equal=("platform", "author_id"),
)
ABUSE = {"label": ("abusive",), "severity": ("medium",)}
WHO = {"platform": "generic", "author_id": "u-1", "post_id": "p-1"}


def crisis(**identity: str) -> OpenCase:
    return OpenCase(
        route="crisis",
        facts={"label": ("sensitive",), "severity": ("critical",)},
        identity={**WHO, **identity},
    )


@pytest.mark.parametrize(
    ("target", "sources", "muted"),
    [
        (ABUSE, (crisis(),), True),
        (ABUSE, (crisis(post_id="p-2"),), True),  # post_id is not in equal
        (ABUSE, (crisis(author_id="u-2"),), False),
        (ABUSE, (crisis(platform="x"),), False),
        (ABUSE, (crisis(author_id="u-2"), crisis()), True),  # any source will do
        ({"label": ("question",)}, (crisis(),), False),  # not a target
        (ABUSE, (), False),
        (
            ABUSE,
            (OpenCase("abuse", {"label": ("abusive",)}, WHO),),  # not a source
            False,
        ),
    ],
)
def test_an_open_source_case_with_equal_fields_mutes_a_target(
    target: dict[str, tuple[str, ...]], sources: tuple[OpenCase, ...], muted: bool
) -> None:
    found = inhibiting((RULE,), target=target, identity=WHO, sources=sources)

    assert (found is not None) is muted
    if found:
        assert found[0] is RULE


def test_a_field_missing_on_either_side_is_not_equal() -> None:
    source = OpenCase("crisis", {"label": ("sensitive",), "severity": ("critical",)}, {})

    assert inhibiting((RULE,), target=ABUSE, identity=WHO, sources=(source,)) is None


T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def silence(matchers: tuple[str, ...] = ("label=abusive",)) -> Silence:
    return Silence(
        id="s-1",
        matchers=matchers,
        starts_at=T0,
        ends_at=T0 + timedelta(hours=2),
        created_by="moderator",
        comment="campaign",
    )


@pytest.mark.parametrize(
    ("at", "facts", "silenced"),
    [
        (T0, ABUSE, True),  # from its start
        (T0 + timedelta(hours=2), ABUSE, False),  # to its end, excluded
        (T0 - timedelta(seconds=1), ABUSE, False),
        (T0 + timedelta(hours=1), {"label": ("question",)}, False),
    ],
)
def test_a_silence_covers_matching_comments_while_it_lasts(
    at: datetime, facts: dict[str, tuple[str, ...]], silenced: bool
) -> None:
    assert (silencing((silence(),), facts, at) is not None) is silenced


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"ends_at": T0}, "ends after it starts"),
        ({"starts_at": datetime(2026, 11, 21, 12, 0)}, "time zone"),
        ({"matchers": ()}, "at least 1 item"),
        ({"matchers": ("colour=red",)}, "unknown field"),
        ({"comment": ""}, "at least 1 character"),
    ],
)
def test_a_bad_silence_is_refused(change: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Silence.model_validate({**silence().model_dump(), **change})


def test_only_cases_sharing_the_most_selective_equal_field_are_candidates() -> None:
    by_post = CompiledInhibitRule("by-post", (), (), equal=("platform", "post_id"))
    assert key_fields((RULE, by_post, RULE)) == ("author_id", "post_id")
    sources = Sources(key_fields((RULE,)), (crisis(), crisis(author_id="u-2")))
    sources.add(crisis(post_id="p-9"))

    near = sources.near(WHO)

    assert [s.identity["author_id"] for s in near] == ["u-1", "u-1"]
    assert sources.near({**WHO, "author_id": "u-3"}) == ()
    assert inhibiting((RULE,), target=ABUSE, identity=WHO, sources=near) is not None
