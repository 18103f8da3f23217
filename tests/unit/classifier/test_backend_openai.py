"""OpenAI's moderation endpoint as a backend, against a real local HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.classifier.backends.base import BackendError, FailureReason
from services.classifier.backends.guard import GuardedRemote
from services.classifier.backends.local import lexicon_backend
from services.classifier.backends.openai_moderation import (
    ModerationResult,
    OpenAIModeration,
    verdict_of,
)
from services.classifier.metrics import ClassifierMetrics
from shared.events import Label, Severity
from tests.remote_scorers import (
    MODERATION_MODEL,
    Reply,
    moderation_result,
    moderation_script,
    scripted_server,
    status,
)

S, A, Q = Label.SENSITIVE, Label.ABUSIVE, Label.QUESTION


@pytest.mark.parametrize(
    ("scores", "labels", "categories", "severity", "unsure"),
    [
        (
            {"self-harm/intent": 0.9, "self-harm": 0.8},
            (S,),
            ("self_harm_intent", "self_harm"),
            Severity.CRITICAL,
            (),
        ),
        ({"self-harm/instructions": 0.7}, (S,), ("self_harm_instructions",), Severity.CRITICAL, ()),
        (
            {"harassment/threatening": 0.8, "harassment": 0.9},
            (A,),
            ("threat", "harassment"),
            Severity.HIGH,
            (),
        ),
        ({"hate": 0.7}, (A,), ("hate",), Severity.MEDIUM, ()),
        ({"violence": 0.6}, (A,), ("violence",), Severity.MEDIUM, ()),
        ({"sexual": 0.6}, (A,), ("sexual",), Severity.MEDIUM, ()),
        (
            {"sexual/minors": 0.6, "sexual": 0.6},
            (A,),
            ("sexual_minors", "sexual"),
            Severity.CRITICAL,
            (),
        ),
        # Below OpenAI's flag but not negligible: sensitive, unsure, for a human to look at.
        ({"self-harm": 0.35}, (S,), ("self_harm",), Severity.MEDIUM, (S,)),
        ({"illicit": 0.9}, (), (), Severity.NONE, ()),
        ({}, (), (), Severity.NONE, ()),
    ],
)
def test_openai_categories_map_onto_vigie_labels(
    scores: Mapping[str, float],
    labels: tuple[Label, ...],
    categories: tuple[str, ...],
    severity: Severity,
    unsure: tuple[Label, ...],
) -> None:
    result = ModerationResult.model_validate(moderation_result(scores))

    out = verdict_of(result, model=MODERATION_MODEL)

    assert (out.labels, out.categories, out.severity, out.unsure) == (
        labels,
        categories,
        severity,
        unsure,
    )
    assert out.model_version == f"openai:{MODERATION_MODEL}"
    assert out.scores[S] == max(
        scores.get(name, 0.0001)
        for name in ("self-harm", "self-harm/intent", "self-harm/instructions")
    )


def keyword_scores(text: str) -> dict[str, float]:
    if "pills" in text:
        return {"self-harm/intent": 0.92, "self-harm": 0.88}
    if "loser" in text:
        return {"harassment": 0.81}
    return {}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as http:
        yield http


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> ClassifierMetrics:
    return ClassifierMetrics(registry)


def guarded(
    client: httpx.AsyncClient, url: str, metrics: ClassifierMetrics, *, timeout_s: float = 2.0
) -> GuardedRemote:
    remote = OpenAIModeration(client, base_url=url, api_key="sk-test", chunk_size=2)
    return GuardedRemote(remote, lexicon_backend(), timeout_s=timeout_s, metrics=metrics)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


async def test_requests_follow_the_moderation_api_in_chunks(client: httpx.AsyncClient) -> None:
    texts = [f"comment {i}" for i in range(5)]
    with scripted_server(moderation_script(keyword_scores)) as server:
        backend = OpenAIModeration(
            client, base_url=server.url + "/", api_key="sk-test", chunk_size=2
        )
        out = await backend.classify([(t, "en") for t in texts])
        requests = server.received()

    assert len(out) == 5
    assert [r.path for r in requests] == ["/v1/moderations"] * 3
    assert sorted(len(r.json()["input"]) for r in requests) == [1, 2, 2]
    assert sorted(t for r in requests for t in r.json()["input"]) == texts
    assert {r.json()["model"] for r in requests} == {"omni-moderation-latest"}
    assert {r.headers["authorization"] for r in requests} == {"Bearer sk-test"}


async def test_verdicts_come_back_in_the_order_of_the_batch(client: httpx.AsyncClient) -> None:
    texts = ["hello", "you loser", "the pills are ready for tonight", "nice", "bye"]
    with scripted_server(moderation_script(keyword_scores)) as server:
        backend = OpenAIModeration(client, base_url=server.url, api_key="k", chunk_size=2)
        out = await backend.classify([(t, None) for t in texts])

    assert [v.labels for v in out] == [(), (A,), (S,), (), ()]


async def test_a_remote_verdict_adds_to_the_local_one(
    client: httpx.AsyncClient, metrics: ClassifierMetrics, registry: CollectorRegistry
) -> None:
    items = [
        ("the pills are ready for tonight", "en"),
        ("you loser", "en"),
        ("How do I cancel my order?", "en"),
    ]
    with scripted_server(moderation_script(keyword_scores)) as server:
        pills, loser, question = await guarded(client, server.url, metrics).classify(items)

    assert pills.labels == (S,)
    assert pills.severity is Severity.CRITICAL
    assert pills.lang == "en"
    assert loser.labels == (A,)
    assert question.labels == (Q,)  # scored by the local classifier alone
    assert pills.model_version.startswith(f"openai:{MODERATION_MODEL}+lexicon")
    assert (
        sample(registry, "vigie_classifier_fallbacks_total", backend="openai", reason="timeout")
        == 0
    )


async def test_a_crisis_the_remote_scorer_misses_stays_sensitive(
    client: httpx.AsyncClient, metrics: ClassifierMetrics, registry: CollectorRegistry
) -> None:
    with scripted_server(moderation_script(lambda _text: {})) as server:
        (out,) = await guarded(client, server.url, metrics).classify(
            [("I want to kill myself", "en")]
        )

    assert out.labels == (S,)
    assert out.severity is Severity.CRITICAL
    assert "suicide" in out.categories
    assert sample(registry, "vigie_classifier_crisis_floor_total", backend="openai") == 1


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (status(500), "server_error"),
        (status(503), "server_error"),
        (status(429), "rate_limited"),
        (status(401), "client_error"),
        (lambda _r: Reply(body=b"<html>oops</html>"), "malformed"),
        (lambda _r: Reply(body={"model": "m", "results": []}), "malformed"),
        (lambda _r: Reply(body={"unexpected": True}), "malformed"),
    ],
)
async def test_a_failing_scorer_falls_back_to_the_local_verdict_and_counts_it(
    client: httpx.AsyncClient,
    metrics: ClassifierMetrics,
    registry: CollectorRegistry,
    reply: object,
    reason: str,
) -> None:
    items = [("I want to kill myself", "en"), ("Comment je fais ?", "fr")]
    with scripted_server(reply) as server:  # type: ignore[arg-type]
        crisis, question = await guarded(client, server.url, metrics).classify(items)

    local = await lexicon_backend().classify(items)
    assert [crisis, question] == local
    assert (
        sample(registry, "vigie_classifier_fallbacks_total", backend="openai", reason=reason) == 2
    )
    assert (
        sample(
            registry, "vigie_classifier_backend_seconds_count", backend="openai", outcome="failed"
        )
        == 1
    )


async def test_a_scorer_slower_than_the_timeout_is_abandoned_for_the_local_verdict(
    client: httpx.AsyncClient, metrics: ClassifierMetrics, registry: CollectorRegistry
) -> None:
    slow = moderation_script(keyword_scores, delay_s=30.0)
    with scripted_server(slow) as server:
        (out,) = await guarded(client, server.url, metrics, timeout_s=0.2).classify(
            [("I want to kill myself", "en")]
        )

    assert out.labels == (S,)
    assert out.model_version.startswith("lexicon")
    assert (
        sample(registry, "vigie_classifier_fallbacks_total", backend="openai", reason="timeout")
        == 1
    )


async def test_an_unreachable_scorer_falls_back(
    client: httpx.AsyncClient, metrics: ClassifierMetrics, registry: CollectorRegistry
) -> None:
    with scripted_server(status(200)) as server:
        url = server.url  # the port is closed once the server stops
    (out,) = await guarded(client, url, metrics).classify([("hello", "en")])

    assert out.model_version.startswith("lexicon")
    assert (
        sample(registry, "vigie_classifier_fallbacks_total", backend="openai", reason="unreachable")
        == 1
    )


async def test_the_scorer_alone_raises_a_named_failure(client: httpx.AsyncClient) -> None:
    with scripted_server(status(502)) as server:
        backend = OpenAIModeration(client, base_url=server.url, api_key="k")
        with pytest.raises(BackendError) as failure:
            await backend.classify([("hello", "en")])

    assert failure.value.reason is FailureReason.SERVER_ERROR
