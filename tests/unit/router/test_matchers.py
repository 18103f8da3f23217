"""Alertmanager-style matchers: = != =~ !~, regexes anchored, multi-valued fields."""

from __future__ import annotations

import pytest

from services.router.policy.matchers import FIELDS, Op, parse_matcher

Facts = dict[str, tuple[str, ...]]


@pytest.mark.parametrize(
    ("text", "field", "op", "value"),
    [
        ("label=sensitive", "label", Op.EQ, "sensitive"),
        ("label!=sensitive", "label", Op.NE, "sensitive"),
        ("label=~sens.*", "label", Op.RE, "sens.*"),
        ("label!~sens.*", "label", Op.NRE, "sens.*"),
        ("  lang = fr  ", "lang", Op.EQ, "fr"),
        ('severity="high"', "severity", Op.EQ, "high"),
        ("source='forum'", "source", Op.EQ, "forum"),
        ("category=~suicide|self_harm_intent", "category", Op.RE, "suicide|self_harm_intent"),
        ("kind=", "kind", Op.EQ, ""),
        ("score.sensitive>=0.8", "score.sensitive", Op.GE, "0.8"),
        ("score.praise > 0.5", "score.praise", Op.GT, "0.5"),
        ("score.abusive<=0.2", "score.abusive", Op.LE, "0.2"),
        ("score.question<1", "score.question", Op.LT, "1"),
        ("severity>=high", "severity", Op.GE, "high"),
    ],
)
def test_parse(text: str, field: str, op: Op, value: str) -> None:
    matcher = parse_matcher(text)

    assert (matcher.field, matcher.op, matcher.value) == (field, op, value)
    assert (matcher.regex is not None) is (op in (Op.RE, Op.NRE))
    assert str(matcher) == f"{field}{op}{value}"


SENSITIVE: Facts = {"label": ("sensitive",), "severity": ("critical",)}
TWO_LABELS: Facts = {"label": ("abusive", "sensitive")}
NO_LABEL: Facts = {"label": ()}
SCORED: Facts = {"score.sensitive": ("0.8",), "score.praise": ("0.1",)}


@pytest.mark.parametrize(
    ("text", "facts", "expected"),
    [
        ("label=sensitive", SENSITIVE, True),
        ("label=sensitive", TWO_LABELS, True),
        ("label=abusive", SENSITIVE, False),
        ("label=sensitive", NO_LABEL, False),
        ("label=sens", SENSITIVE, False),
        ("label!=sensitive", SENSITIVE, False),
        ("label!=sensitive", TWO_LABELS, False),
        ("label!=abusive", SENSITIVE, True),
        ("label!=sensitive", NO_LABEL, True),
        # Regexes are anchored at both ends.
        ("label=~sens", SENSITIVE, False),
        ("label=~itive", SENSITIVE, False),
        ("label=~sens.*", SENSITIVE, True),
        ("label=~.*tiv.*", SENSITIVE, True),
        ("label=~abusive|sensitive", SENSITIVE, True),
        ("label=~abusive|question", SENSITIVE, False),
        ("label=~sens.*", TWO_LABELS, True),
        ("label=~.*", NO_LABEL, False),
        ("label!~sens", SENSITIVE, True),
        ("label!~sens.*", SENSITIVE, False),
        ("label!~sens.*", TWO_LABELS, False),
        ("label!~abu.*", SENSITIVE, True),
        ("severity=~high|critical", SENSITIVE, True),
        # A fact the item does not have: = never matches, != always does.
        ("platform=generic", SENSITIVE, False),
        ("platform!=generic", SENSITIVE, True),
        # Thresholds: scores as numbers, severities in their order.
        ("score.sensitive>=0.8", SCORED, True),
        ("score.sensitive>=0.81", SCORED, False),
        ("score.sensitive>0.8", SCORED, False),
        ("score.sensitive<=0.8", SCORED, True),
        ("score.sensitive<0.8", SCORED, False),
        ("score.praise<0.5", SCORED, True),
        ("score.question>=0", SCORED, False),  # no such score: no match
        ("severity>=high", SENSITIVE, True),
        ("severity>high", SENSITIVE, True),
        ("severity<high", SENSITIVE, False),
        ("severity>=critical", {"severity": ("high",)}, False),
        ("severity<=low", {"severity": ("none",)}, True),
    ],
)
def test_matches(text: str, facts: Facts, expected: bool) -> None:
    assert parse_matcher(text).matches(facts) is expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("labl=sensitive", ["unknown field 'labl'", "labl=sensitive"]),
        ("author_id=u-1", ["unknown field 'author_id'"]),
        ("label=~(sens", ["bad regular expression", "label=~(sens"]),
        ("label!~[a-", ["bad regular expression"]),
        ("label", ["not a matcher", "'label'"]),
        ("Label=sensitive", ["not a matcher"]),
        ("=sensitive", ["not a matcher"]),
        ("", ["not a matcher"]),
        ("score.sensitive=0.8", ["a score is compared with >=, >, <= or <"]),
        ("score.colour>=0.8", ["unknown field 'score.colour'"]),
        ("score.sensitive>=high", ["is not a number"]),
        ("severity>=urgent", ["is not a severity"]),
        ("lang>=fr", ["only scores and severity take thresholds"]),
    ],
)
def test_a_bad_matcher_is_a_value_error_naming_the_problem(text: str, names: list[str]) -> None:
    with pytest.raises(ValueError) as caught:
        parse_matcher(text)

    for name in names:
        assert name in str(caught.value)


def test_unknown_field_error_lists_the_known_fields() -> None:
    with pytest.raises(ValueError) as caught:
        parse_matcher("colour=red")

    assert all(field in str(caught.value) for field in FIELDS)
