"""The policy file: the shipped one is valid; a bad one names the field and the line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

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
    policy = load_policy(SHIPPED)

    assert policy.version.startswith("2026-11-21+")
    assert set(policy.receivers) == {"crisis-team", "crisis-leads", "moderators"}
    assert all(r.channel is Channel.WEBHOOK for r in policy.receivers.values())
    top = [route.name for route in policy.root.routes]
    assert top == ["crisis", "abuse", "questions", "praise"]
    crisis = policy.route("crisis")
    assert crisis.severity is Severity.CRITICAL
    assert crisis.chain == "crisis"
    assert crisis.receivers == ("crisis-team",)  # the chain's first step
    assert crisis.grouping.by == ("platform", "author_id")
    assert [str(m) for m in crisis.matchers] == ["label=sensitive"]
    assert policy.directory is not None and len(policy.directory.resources) >= 12


def test_the_k8s_configmap_carries_the_shipped_policy_and_resources_verbatim() -> None:
    configmap = yaml.safe_load(
        (SHIPPED.parents[1] / "deploy" / "k8s" / "configmap-policy.yaml").read_text("utf-8")
    )

    assert configmap["data"]["policy.yaml"] == SHIPPED.read_text(encoding="utf-8")
    resources = SHIPPED.parent / "resources.yaml"
    assert configmap["data"]["resources.yaml"] == resources.read_text(encoding="utf-8")


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
    route = parse_policy(BASE).route("crisis")

    assert route.open_case is True
    assert route.continue_ is False
    assert route.grouping.by == ("platform", "author_id")
    assert route.grouping.wait == timedelta(0)
    assert route.grouping.interval == timedelta(minutes=5)
    assert route.actions == ()
    assert route.chain is None


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
            ["routes.0.matchers.0", "unknown field 'labl'"],
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


FULL = """\
version: "t-2"
resources: {file: resources.yaml}
receivers:
  - {name: crisis-team, channel: webhook, url: "http://r.test/c"}
  - {name: leads, channel: webhook, url: "http://r.test/l"}
time_windows:
  - {name: office, time_zone: Europe/Paris, weekdays: ["monday:friday"], times: ["09:00-18:00"]}
chains:
  - name: escalation
    steps:
      - {notify: [crisis-team], wait: 5m}
      - {notify: [leads], wait: 10m}
templates:
  - name: help
    resources: [suicide-prevention]
    text: {fr: "Aide : {resources}", en: "Help: {resources}"}
defaults:
  country: FR
routes:
  - name: crisis
    matchers: ["label=sensitive"]
    chain: escalation
    actions:
      - {kind: reply, template: help}
    routes:
      - name: crisis-office
        active_during: [office]
"""
DIRECTORY = """\
version: "r-1"
resources:
  - id: fr-3114
    country: FR
    kind: suicide-prevention
    name: {fr: "3114"}
    contact: "3114"
    source: https://3114.fr/
    verified_on: 2026-11-01
"""


def write(tmp_path: Path, policy: str, directory: str = DIRECTORY) -> Path:
    (tmp_path / "resources.yaml").write_text(directory, encoding="utf-8")
    path = tmp_path / "policy.yaml"
    path.write_text(policy, encoding="utf-8")
    return path


def test_the_resource_directory_is_read_from_beside_the_policy_and_versioned_with_it(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, FULL)
    first = load_policy(path)
    write(tmp_path, FULL, DIRECTORY.replace("2026-11-01", "2026-11-02"))

    second = load_policy(path)

    assert first.directory is not None
    assert [e.id for e in first.directory.resources] == ["fr-3114"]
    assert first.version != second.version  # a changed help line is a new policy version


def test_children_inherit_by_copy_then_override(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, FULL))
    parent, child = policy.route("crisis"), policy.route("crisis-office")

    assert child.chain == parent.chain == "escalation"
    assert child.receivers == ("crisis-team",)
    assert child.actions == parent.actions and str(child.actions[0]) == "reply:help"
    assert child.country == "FR"
    assert child.matchers == ()  # matchers are not inherited: the parent already matched
    assert [w.name for w in child.active_during] == ["office"]


@pytest.mark.parametrize(
    ("old", "new", "names", "line_fragment"),
    [
        (
            "chain: escalation\n",
            "chain: crises\n",
            ["routes.0.chain", "unknown chain 'crises'"],
            "chain: crises",
        ),
        (
            "template: help}",
            "template: hlep}",
            ["routes.0.actions.0.template", "unknown template 'hlep'"],
            "hlep",
        ),
        (
            "active_during: [office]",
            "active_during: [offce]",
            ["routes.0.routes.0.active_during.0", "unknown time window 'offce'"],
            "offce",
        ),
        (
            "{notify: [leads], wait: 10m}",
            "{notify: [lead], wait: 10m}",
            ["chains.0.steps.1.notify.0", "unknown receiver 'lead'"],
            "[lead]",
        ),
        (
            "wait: 10m}",
            "wait: 10 minutes}",
            ["chains.0.steps.1.wait", "not a duration"],
            "10 minutes",
        ),
        (
            "{kind: reply, template: help}",
            "{kind: reply}",
            ["routes.0.actions.0", "a reply names its template"],
            "{kind: reply}",
        ),
        (
            "    chain: escalation\n",
            "    chain: escalation\n    notify: [leads]\n",
            ["routes.0", "set notify or chain, not both"],
            "- name: crisis",
        ),
        (
            'times: ["09:00-18:00"]',
            'times: ["9h-18h"]',
            ["time_windows.0.times", "not a time range"],
            "9h-18h",
        ),
        (
            "time_zone: Europe/Paris",
            "time_zone: Europe/Pariss",
            ["time_windows.0.time_zone", "unknown time zone"],
            "Pariss",
        ),
        ("  country: FR", "  country: France", ["defaults.country"], "country: France"),
        (
            'text: {fr: "Aide : {resources}"',
            'text: {fr: "Aide"',
            ["templates.0", "text.fr must say where the resources go"],
            "- name: help",
        ),
        (
            'text: {fr: "Aide : {resources}"',
            'text: {fr: "Aide {name}"',
            ["templates.0.text", "the only placeholder is {resources}"],
            "text:",
        ),
        (
            "      - name: crisis-office",
            "      - name: crisis",
            ["routes.0.routes.0.name", "route names must be unique"],
            "      - name: crisis",
        ),
        (
            "  country: FR",
            "  country: CH",
            ["routes.0.actions.0.template", "no suicide-prevention resource for CH"],
            "template: help",
        ),
        (
            "defaults:\n  country: FR\n",
            "",
            ["routes.0.actions.0.template", "has no country"],
            "template: help",
        ),
    ],
    ids=[
        "unknown-chain",
        "unknown-template",
        "unknown-time-window",
        "unknown-chain-receiver",
        "bad-duration",
        "reply-without-template",
        "notify-and-chain",
        "bad-time-range",
        "bad-time-zone",
        "bad-country",
        "template-hides-resources",
        "template-unknown-placeholder",
        "duplicate-nested-route",
        "no-resource-for-country",
        "no-country",
    ],
)
def test_a_bad_reference_names_the_field_and_the_line(
    tmp_path: Path, old: str, new: str, names: list[str], line_fragment: str
) -> None:
    assert old in FULL
    text = FULL.replace(old, new)

    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))

    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'policy.yaml'}: ")
    for name in names:
        assert name in message
    assert f"(line {line_of(text, line_fragment)})" in message


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        ("verified_on: 2026-11-01", "verified_on: last week", ["resources.0.verified_on"]),
        ("country: FR", "country: fr", ["resources.0.country"]),
        ("kind: suicide-prevention", "kind: hotline", ["resources.0.kind", "unknown kind"]),
        ("source: https://3114.fr/", "source: 3114.fr", ["resources.0.source"]),
    ],
)
def test_a_bad_resource_directory_names_its_own_file_field_and_line(
    tmp_path: Path, old: str, new: str, names: list[str]
) -> None:
    directory = DIRECTORY.replace(old, new)

    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, FULL, directory))

    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'resources.yaml'}: ")
    for name in names:
        assert name in message
    assert f"(line {line_of(directory, new)})" in message


def test_a_missing_resource_directory_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    (tmp_path / "resources.yaml").unlink()

    with pytest.raises(PolicyError, match="resources.file .line 2.: cannot read the resource"):
        load_policy(path)


def test_an_action_that_requires_approval_needs_a_case() -> None:
    text = BASE.replace(
        "  - name: abuse\n",
        "  - name: spam\n    open_case: false\n"
        "    actions: [{kind: hide, approval: requires_approval}]\n"
        "  - name: abuse\n",
    )

    with pytest.raises(PolicyError, match="routes.1.actions .line 16.: an action that requires"):
        parse_policy(text)
