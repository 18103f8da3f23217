"""The policy file: the shipped one is valid; a bad one names the field and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.router.policy.config import PolicyError, load_policy, parse_policy
from shared.events import Channel, Severity

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "policy.yaml"

BASE = """\
version: "t-1"
receivers:
  - name: crisis-team
    channel: webhook
    url: http://127.0.0.1:8090/crisis
  - name: moderators
    channel: webhook
    url: https://mods.test/hook
routes:
  - name: crisis
    matchers: ["label=sensitive"]
    severity: critical
    notify: [crisis-team]
  - name: abuse
    matchers: ["label=abusive", "severity=~medium|high"]
    notify: [moderators]
    group_by: [platform, author_id]
"""


def line_of(text: str, fragment: str) -> int:
    """1-based line of the first line containing ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_the_shipped_policy_is_valid() -> None:
    text = SHIPPED.read_text(encoding="utf-8")

    policy = parse_policy(text)

    assert policy.version.startswith("2026-11-21+")
    assert set(policy.receivers) == {"crisis-team", "moderators"}
    assert all(r.channel is Channel.WEBHOOK for r in policy.receivers.values())
    names = [route.name for route, _ in policy.routes]
    assert names == ["crisis", "abuse", "questions"]
    crisis, _matchers = policy.routes[0]
    assert crisis.severity is Severity.CRITICAL
    assert crisis.notify == ("crisis-team",)
    assert crisis.group_by == ("platform", "author_id")
    assert [str(m) for m in policy.routes[0][1]] == ["label=sensitive"]


def test_load_policy_reads_the_file_and_versions_it_by_content(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(BASE, encoding="utf-8")
    first = load_policy(path)
    path.write_text(BASE + "\n# a comment changes the digest\n", encoding="utf-8")

    second = load_policy(path)

    assert first.version.startswith("t-1+") and len(first.version) == len("t-1+") + 8
    assert first.version != second.version
    assert parse_policy(BASE).version == first.version


def test_a_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy"):
        load_policy(tmp_path / "absent.yaml")


def test_route_defaults() -> None:
    route = parse_policy(BASE).config.routes[0]

    assert route.open_case is True
    assert route.continue_ is False
    assert route.group_by == ("platform", "author_id")


@pytest.mark.parametrize(
    ("old", "new", "names", "line_fragment"),
    [
        (
            "group_by: [platform, author_id]",
            "group_by: [platform, colour]",
            ["routes.1.group_by", "unknown group_by field", "colour"],
            "group_by:",
        ),
        (
            '"severity=~medium|high"',
            '"severity=~(medium"',
            ["routes.1.matchers", "bad regular expression"],
            "severity=~(medium",
        ),
        (
            '"label=sensitive"',
            '"labl=sensitive"',
            ["routes.0.matchers", "unknown field 'labl'"],
            "labl=sensitive",
        ),
        (
            "severity: critical",
            "severity: urgent",
            ["routes.0.severity"],
            "severity: urgent",
        ),
        (
            "url: https://mods.test/hook",
            "url: ftp://mods.test/hook",
            ["receivers.1.url"],
            "ftp://",
        ),
        (
            "channel: webhook\n    url: http://127.0.0.1:8090/crisis",
            "channel: pager\n    url: http://127.0.0.1:8090/crisis",
            ["receivers.0.channel"],
            "channel: pager",
        ),
        (
            "  - name: abuse",
            "  - name: Abuse Route",
            ["routes.1.name"],
            "Abuse Route",
        ),
        (
            "    notify: [moderators]",
            "    notify: [moderators]\n    escalate: true",
            ["routes.1.escalate", "Extra inputs are not permitted"],
            "escalate:",
        ),
    ],
    ids=[
        "unknown-group-by-field",
        "bad-regex",
        "unknown-matcher-field",
        "bad-severity",
        "bad-url",
        "bad-channel",
        "bad-route-name",
        "unknown-route-key",
    ],
)
def test_a_bad_policy_names_the_field_and_the_line(
    old: str, new: str, names: list[str], line_fragment: str
) -> None:
    assert old in BASE
    text = BASE.replace(old, new)

    with pytest.raises(PolicyError) as caught:
        parse_policy(text, origin="policy.yaml")

    message = str(caught.value)
    assert message.startswith("policy.yaml: ")
    for name in names:
        assert name in message
    assert f"(line {line_of(text, line_fragment)})" in message


def test_an_unknown_receiver_in_notify_is_named() -> None:
    text = BASE.replace("notify: [moderators]", "notify: [moderators, nobody]")

    with pytest.raises(PolicyError) as caught:
        parse_policy(text)

    assert "routes[1] (abuse) notifies unknown receiver(s) ['nobody']" in str(caught.value)


def test_an_unknown_receiver_in_notify_points_at_its_line() -> None:
    text = BASE.replace("notify: [moderators]", "notify: [moderators, nobody]")

    with pytest.raises(PolicyError) as caught:
        parse_policy(text)

    assert f"(line {line_of(text, 'nobody')})" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("version: [unclosed\n", "not valid YAML"),
        ("routes:\n  - name: a\n    matchers: [\n", "not valid YAML"),
        ("version: t\n  bad: indent\n", "line 2"),
        ("- a list\n- not a mapping\n", "the policy must be a mapping"),
        ("just a string\n", "the policy must be a mapping"),
        ("", "the policy must be a mapping"),
        ('version: "t"\nreceivers: []\n', "routes (line 1): Field required"),
        ('version: "t"\nroutes: []\n', "routes (line 2): Tuple should have at least 1 item"),
        ("routes:\n  - name: a\n", "version (line 1): Field required"),
    ],
    ids=[
        "not-yaml",
        "truncated-yaml",
        "yaml-error-line",
        "a-list",
        "a-string",
        "empty",
        "missing-routes",
        "no-routes",
        "missing-version",
    ],
)
def test_a_policy_that_is_not_a_policy_is_refused(text: str, says: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, origin="p.yaml")

    assert says in str(caught.value)
    assert str(caught.value).startswith("p.yaml: ")


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("  - name: moderators", "  - name: crisis-team", "receivers defined twice"),
        ("  - name: abuse", "  - name: crisis", "route names must be unique"),
    ],
)
def test_duplicate_names_are_refused(old: str, new: str, says: str) -> None:
    with pytest.raises(PolicyError, match=says):
        parse_policy(BASE.replace(old, new))


def test_every_error_is_reported_at_once() -> None:
    text = BASE.replace("severity: critical", "severity: urgent").replace(
        "group_by: [platform, author_id]", "group_by: [colour]"
    )

    with pytest.raises(PolicyError) as caught:
        parse_policy(text)

    assert "routes.0.severity" in str(caught.value)
    assert "routes.1.group_by" in str(caught.value)


def test_a_route_that_notifies_without_opening_a_case_is_refused() -> None:
    text = BASE.replace("notify: [moderators]", "notify: [moderators]\n    open_case: false")

    with pytest.raises(PolicyError) as caught:
        parse_policy(text)

    assert "notify needs open_case: true" in str(caught.value)
