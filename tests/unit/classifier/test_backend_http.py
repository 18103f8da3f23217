"""The generic HTTP scorer: its JSON contract, checked against a real local server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.classifier.backends.base import BackendError, FailureReason
from services.classifier.backends.guard import GuardedRemote
from services.classifier.backends.http_scorer import HttpScorer, parse_response
from services.classifier.backends.local import lexicon_backend
from services.classifier.metrics import ClassifierMetrics
from shared.events import Label, Severity
from tests.remote_scorers import Reply, scorer_script, scripted_server

S, A, Q, P = Label.SENSITIVE, Label.ABUSIVE, Label.QUESTION, Label.PRAISE
ALL = frozenset(Label)


def answer(*results: dict[str, Any], version: str = "acme-3") -> dict[str, Any]:
    return {"model_version": version, "results": list(results)}


def scores(**values: float) -> dict[str, float]:
    return {label.value: values.get(label.value, 0.0) for label in Label}


def test_labels_default_to_scores_at_or_above_one_half() -> None:
    body = answer({"id": "0", "scores": scores(sensitive=0.5, abusive=0.49, question=0.8)})

    (out,) = parse_response(body, expected=1, scored=ALL)

    assert out.labels == (S, Q)
    assert out.severity is Severity.HIGH
    assert out.scores[A] == 0.49
    assert out.model_version == "http:acme-3"
    assert out.lang == "und"


def test_the_scorer_may_decide_labels_severity_and_language_itself() -> None:
    body = answer(
        {
            "id": "0",
            "scores": scores(sensitive=0.3),
            "labels": ["sensitive"],
            "unsure": ["sensitive"],
            "categories": ["suicide"],
            "severity": "critical",
            "lang": "fr",
            "rationale": "intent",
        }
    )

    (out,) = parse_response(body, expected=1, scored=ALL)

    assert (out.labels, out.unsure, out.categories) == ((S,), (S,), ("suicide",))
    assert out.severity is Severity.CRITICAL
    assert out.lang == "fr"
    assert "intent" in out.rationale


def test_results_are_matched_by_id_not_by_position() -> None:
    body = answer(
        {"id": "1", "scores": scores(praise=0.9)}, {"id": "0", "scores": scores(abusive=0.9)}
    )

    first, second = parse_response(body, expected=2, scored=ALL)

    assert (first.labels, second.labels) == ((A,), (P,))


@pytest.mark.parametrize(
    "body",
    [
        answer({"id": "0", "scores": scores()}),  # one result for two items
        answer({"id": "0", "scores": scores()}, {"id": "7", "scores": scores()}),
        answer({"id": "0", "scores": scores()}, {"id": "0", "scores": scores()}),
        answer({"id": "0", "scores": {"sensitive": 0.1}}, {"id": "1", "scores": scores()}),
        answer({"id": "0", "scores": scores(abusive=1.5)}, {"id": "1", "scores": scores()}),
        answer(
            {"id": "0", "scores": scores(spam=0.9) | {"spam": 0.9}}, {"id": "1", "scores": scores()}
        ),
        {"results": []},
        ["not", "an", "object"],
    ],
)
def test_anything_off_contract_is_a_malformed_answer(body: object) -> None:
    with pytest.raises(BackendError) as failure:
        parse_response(body, expected=2, scored=ALL)

    assert failure.value.reason is FailureReason.MALFORMED


def test_a_scorer_of_some_labels_must_score_only_those() -> None:
    body = answer({"id": "0", "scores": {"sensitive": 0.9}})

    (out,) = parse_response(body, expected=1, scored=frozenset({S}))

    assert out.labels == (S,)
    assert out.scores == {S: 0.9, A: 0.0, Q: 0.0, P: 0.0}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as http:
        yield http


def by_keyword(text: str) -> dict[str, float]:
    return scores(abusive=0.9) if "idiot" in text else scores(praise=0.7)


async def test_the_request_carries_ids_texts_languages_and_the_token(
    client: httpx.AsyncClient,
) -> None:
    with scripted_server(scorer_script(by_keyword)) as server:
        backend = HttpScorer(client, url=server.url + "/score", token="t0ken", chunk_size=10)
        out = await backend.classify([("quel idiot", "fr"), ("great video", None)])
        (request,) = server.received()

    assert request.path == "/score"
    assert request.headers["authorization"] == "Bearer t0ken"
    assert request.json() == {
        "items": [
            {"id": "0", "text": "quel idiot", "lang": "fr"},
            {"id": "1", "text": "great video", "lang": None},
        ]
    }
    assert [v.labels for v in out] == [(A,), (P,)]


async def test_no_token_no_authorization_header(client: httpx.AsyncClient) -> None:
    with scripted_server(scorer_script(by_keyword)) as server:
        await HttpScorer(client, url=server.url).classify([("hi", None)])
        (request,) = server.received()

    assert "authorization" not in {name.lower() for name in request.headers}


async def test_a_guarded_scorer_of_every_label_still_keeps_the_crisis_floor(
    client: httpx.AsyncClient,
) -> None:
    registry = CollectorRegistry()
    metrics = ClassifierMetrics(registry)
    with scripted_server(scorer_script(lambda _text: scores(praise=0.9))) as server:
        remote = HttpScorer(client, url=server.url)
        guard = GuardedRemote(remote, lexicon_backend(), timeout_s=2.0, metrics=metrics)
        (out,) = await guard.classify([("je vais en finir, merci pour tout", "fr")])

    assert S in out.labels
    assert out.severity is Severity.CRITICAL
    assert (
        registry.get_sample_value("vigie_classifier_crisis_floor_total", {"backend": "http"}) == 1
    )


async def test_a_scorer_error_page_falls_back(client: httpx.AsyncClient) -> None:
    registry = CollectorRegistry()
    metrics = ClassifierMetrics(registry)
    with scripted_server(lambda _r: Reply(status=502, body=b"bad gateway")) as server:
        guard = GuardedRemote(
            HttpScorer(client, url=server.url), lexicon_backend(), timeout_s=2.0, metrics=metrics
        )
        (out,) = await guard.classify([("quel idiot", "fr")])

    assert out.labels == (A,)
    assert out.model_version.startswith("lexicon")
    labels = {"backend": "http", "reason": "server_error"}
    assert registry.get_sample_value("vigie_classifier_fallbacks_total", labels) == 1
