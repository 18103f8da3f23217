"""``vigie policy lint``'s findings: errors with lines, unreachable routes, unused names,
stale resources."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.router.policy.lint import lint_file, never_matches
from services.router.policy.matchers import parse_matcher

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "policy"
TODAY = date(2026, 11, 21)


def test_the_shipped_policy_lints_clean() -> None:
    assert lint_file(ROOT / "config" / "policy.yaml", today=TODAY) == []


def test_errors_are_all_reported_with_their_lines() -> None:
    findings = lint_file(FIXTURES / "broken.yaml", today=TODAY)

    assert {f.level for f in findings} == {"error"}
    described = [(".".join(str(p) for p in f.loc), f.line) for f in findings]
    assert ("routes.0.matchers.1", 7) in described
    assert ("routes.1.severity", 11) in described


def test_reference_errors_come_once_the_schema_holds(tmp_path: Path) -> None:
    text = (FIXTURES / "broken.yaml").read_text(encoding="utf-8")
    fixed = text.replace('"severity=~(high"', '"severity=~high"').replace("urgent", "low")
    path = tmp_path / "p.yaml"
    path.write_text(fixed, encoding="utf-8")

    (finding,) = lint_file(path, today=TODAY)

    assert (finding.level, finding.line) == ("error", 8)
    assert "notifies unknown receiver(s) ['nobody']" in finding.message


def test_unreachable_routes_and_unused_receivers_are_warnings() -> None:
    findings = lint_file(FIXTURES / "unreachable.yaml", today=TODAY)

    assert {f.level for f in findings} == {"warning"}
    messages = {f.line: f.message for f in findings}
    assert "route 'threats' is unreachable: route 'abuse' before it" in messages[10]
    assert "label=abusiv can never match" in messages[14]
    assert "score.praise>1 can never match" in messages[16]
    assert "route 'after-catch-all' is unreachable: route 'catch-all'" in messages[19]
    assert messages[5] == "receiver 'nobody-pages-me' is never used"
    assert len(findings) == 5


@pytest.mark.parametrize(
    ("today", "stale"),
    [(date(2026, 4, 2), False), (date(2026, 4, 3), True)],
    ids=["90-days", "91-days"],
)
def test_a_resource_older_than_max_age_is_a_warning_naming_its_source(
    today: date, stale: bool
) -> None:
    findings = lint_file(FIXTURES / "stale" / "policy.yaml", today=today)

    assert len(findings) == (1 if stale else 0)
    if not findings:
        return
    (finding,) = findings
    assert finding.level == "warning"
    assert finding.origin.endswith("stale/resources.yaml")
    assert finding.line == 9
    assert "uk-samaritans: verified on 2026-01-02, 91 days ago" in finding.message
    assert "https://www.samaritans.org/" in finding.message


def test_a_resource_verified_in_the_future_is_a_warning() -> None:
    (finding,) = lint_file(FIXTURES / "stale" / "policy.yaml", today=date(2026, 1, 1))

    assert "in the future" in finding.message


@pytest.mark.parametrize(
    ("text", "never"),
    [
        ("label=abusive", False),
        ("label=abusiv", True),
        ("label!=abusiv", False),
        ("severity=urgent", True),
        ("category=anything", False),
        ("score.praise>=1", False),
        ("score.praise>1", True),
        ("score.praise>=1.01", True),
        ("score.praise<0", True),
        ("score.praise<=0", False),
    ],
)
def test_matchers_that_can_never_match(text: str, never: bool) -> None:
    assert (never_matches(parse_matcher(text)) is not None) is never


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    (finding,) = lint_file(tmp_path / "absent.yaml", today=TODAY)

    assert finding.level == "error"
    assert "cannot read the policy" in finding.message
