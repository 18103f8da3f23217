"""docs/metrics.md is the catalogue of what the services export: each service's components,
started as its process starts them, export exactly the metrics its tables document, with
the documented labels, and no label that could carry personal data."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from services.classifier.settings import ClassifierSettings
from services.classifier.worker import ClassifierComponent
from services.ingest.api import IngestComponent
from services.ingest.settings import IngestSettings
from services.ingest.youtube_poller import YouTubePoller
from services.notifier.settings import NotifierSettings
from services.notifier.worker import NotifierComponent
from services.router.component import RouterComponent
from services.router.settings import RouterSettings
from shared.bus.memory import MemoryBus
from shared.runtime import Runtime
from shared.service import Component

ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = ROOT / "docs" / "metrics.md"
FORBIDDEN_LABELS = {"author", "user", "text", "comment_id", "id", "email", "handle"}

# Which sections of the catalogue each service exports, and its components as its app
# (services/<name>/app.py) starts them; the YouTube poller registers its metrics only once
# it has an API key, without polling anything until a video is tracked.
SECTIONS = {
    "ingest": ("all", "ingest"),
    "classifier": ("all", "kafka", "classifier"),
    "router": ("all", "kafka", "router"),
    "notifier": ("all", "kafka", "notifier"),
}
COMPONENTS: dict[str, Callable[[], Sequence[Component]]] = {
    "ingest": lambda: [
        IngestComponent(IngestSettings()),
        YouTubePoller(IngestSettings(youtube_api_key="key"), autopoll=False),  # type: ignore[arg-type]
    ],
    "classifier": lambda: [ClassifierComponent(ClassifierSettings())],
    "router": lambda: [
        RouterComponent(
            RouterSettings(
                policy_file=ROOT / "config" / "policy.yaml",
                ack_token_secret="ack-secret",  # type: ignore[arg-type]
            )
        )
    ],
    "notifier": lambda: [
        NotifierComponent(NotifierSettings(webhook_signing_secret="signing-secret"))  # type: ignore[arg-type]
    ],
}


@dataclass(frozen=True)
class Documented:
    name: str
    type: str
    labels: frozenset[str]


def catalogue(text: str) -> dict[str, list[Documented]]:
    """The metric rows of each ``## `` section, keyed by the heading's first word."""
    sections: dict[str, list[Documented]] = {}
    current: list[Documented] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].split()[0].lower(), [])
            continue
        row = re.match(r"^\| `(vigie_\w+)` \| (\w+) \|([^|]*)\|", line)
        if row and current is not None:
            labels = frozenset(x.strip() for x in row.group(3).split(",") if x.strip())
            current.append(Documented(row.group(1), row.group(2), labels))
    return sections


def documented_for(service: str) -> dict[str, Documented]:
    sections = catalogue(CATALOGUE.read_text())
    return {m.name: m for s in SECTIONS[service] for m in sections[s]}


def exported_name(family: str, kind: str) -> str:
    """The name Prometheus scrapes: counters end in _total, infos in _info."""
    return family + {"counter": "_total", "info": "_info"}.get(kind, "")


def exported(registry: CollectorRegistry) -> dict[str, Documented]:
    """Every metric of ``registry``, with its label names (children or none)."""
    found: dict[str, Documented] = {}
    for collector in list(registry._collector_to_names):
        labels = frozenset(getattr(collector, "_labelnames", ()))
        for family in collector.collect():
            name = exported_name(family.name, family.type)
            if family.type == "info":  # an info's keys are its sample's labels
                labels = frozenset(k for s in family.samples for k in s.labels)
            found[name] = Documented(name, family.type, labels)
    return found


@pytest.fixture(params=sorted(SECTIONS))
async def started(
    request: pytest.FixtureRequest, engine: AsyncEngine
) -> AsyncIterator[tuple[str, CollectorRegistry]]:
    """One service's components, started on the in-memory bus and SQLite."""
    service: str = request.param
    runtime = Runtime(bus=MemoryBus(), engine=engine)
    components = COMPONENTS[service]()
    started: list[Component] = []
    try:
        for component in components:
            await component.start(runtime)
            started.append(component)
        await runtime.refresh_metrics()
        yield service, runtime.registry
    finally:
        for component in reversed(started):
            await component.stop()


async def test_a_service_exports_what_the_catalogue_documents(
    started: tuple[str, CollectorRegistry],
) -> None:
    service, registry = started
    found, documented = exported(registry), documented_for(service)
    assert sorted(set(found) - set(documented)) == [], "exported but not in docs/metrics.md"
    assert sorted(set(documented) - set(found)) == [], "documented but not exported"
    for name, metric in documented.items():
        assert (found[name].type, found[name].labels) == (metric.type, metric.labels), name


async def test_no_label_can_carry_personal_data(started: tuple[str, CollectorRegistry]) -> None:
    _service, registry = started
    for metric in exported(registry).values():
        assert not metric.labels & FORBIDDEN_LABELS, metric.name


def test_every_section_of_the_catalogue_is_someone_s() -> None:
    sections = catalogue(CATALOGUE.read_text())
    named = {s for names in SECTIONS.values() for s in names}
    with_rows = {name for name, rows in sections.items() if rows}
    assert with_rows == named


def test_the_catalogue_parser_reads_names_types_and_labels() -> None:
    text = (
        "## Router\n\n| name | type | labels | meaning | used by |\n|---|---|---|---|---|\n"
        "| `vigie_x_total` | counter | a, b | what | moderation |\n"
        "| `vigie_y` | gauge | | what | |\n## Other\ntext\n"
    )
    assert catalogue(text) == {
        "router": [
            Documented("vigie_x_total", "counter", frozenset({"a", "b"})),
            Documented("vigie_y", "gauge", frozenset()),
        ],
        "other": [],
    }
