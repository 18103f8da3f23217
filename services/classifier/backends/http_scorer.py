"""A generic remote scorer over HTTP, for any model served behind a small JSON contract.

Request, ``POST {url}`` (``authorization: Bearer <token>`` when a token is set)::

    {"items": [{"id": "0", "text": "je veux en finir", "lang": "fr"}]}

Answer, ``200``::

    {"model_version": "acme-3",
     "results": [{"id": "0", "scores": {"sensitive": 0.97, "abusive": 0.01},
                  "labels": ["sensitive"], "categories": ["suicide"],
                  "severity": "critical", "lang": "fr", "rationale": "intent"}]}

Every item id comes back exactly once, with a score in [0, 1] for each label the scorer is
configured to decide. ``labels`` is optional (default: score >= 0.5), and so are
``unsure``, ``categories``, ``severity`` (default: from the labels), ``lang`` and
``rationale``. Anything else is a malformed answer, and the batch falls back to the local
classifier. ``docs/classifier-backends.md`` is the reference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.classifier.backends.base import ALL_LABELS, BackendError, FailureReason, Item
from services.classifier.backends.remote import in_chunks, post_json
from shared.events import Classification, Label, Severity

THRESHOLD = 0.5
_LANG = re.compile(r"^[a-z]{2,3}$")
_DEFAULT_SEVERITY = {
    Label.SENSITIVE: Severity.HIGH,
    Label.ABUSIVE: Severity.MEDIUM,
    Label.QUESTION: Severity.LOW,
    Label.PRAISE: Severity.NONE,
}


class ScoredItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    scores: dict[Label, float] = Field(description="Label -> score in [0, 1].")
    labels: list[Label] | None = None
    unsure: list[Label] = []
    categories: list[str] = Field(default=[], max_length=20)
    severity: Severity | None = None
    lang: str | None = Field(default=None, max_length=16)
    rationale: str | None = None


class ScorerResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model_version: str = Field(min_length=1, max_length=40)
    results: list[ScoredItem]


def request_body(items: Sequence[Item]) -> dict[str, object]:
    return {
        "items": [
            {"id": str(i), "text": text, "lang": lang} for i, (text, lang) in enumerate(items)
        ]
    }


def _malformed(detail: str) -> BackendError:
    return BackendError(FailureReason.MALFORMED, detail)


def verdict_of(item: ScoredItem, *, scored: frozenset[Label], version: str) -> Classification:
    missing = scored - item.scores.keys()
    if missing:
        raise _malformed(f"item {item.id[:20]!r} has no score for {sorted(missing)}")
    if any(not 0.0 <= item.scores[label] <= 1.0 for label in scored):
        raise _malformed(f"item {item.id[:20]!r} has a score outside [0, 1]")
    given = (
        set(item.labels)
        if item.labels is not None
        else {label for label in scored if item.scores[label] >= THRESHOLD}
    )
    labels = tuple(label for label in Label if label in given and label in scored)
    severity = item.severity or max(
        (_DEFAULT_SEVERITY[label] for label in labels),
        key=lambda level: level.rank,
        default=Severity.NONE,
    )
    return Classification(
        labels=labels,
        categories=tuple(dict.fromkeys(c[:64] for c in item.categories)),
        severity=severity,
        scores={label: item.scores[label] if label in scored else 0.0 for label in Label},
        unsure=tuple(label for label in labels if label in item.unsure),
        lang=item.lang if item.lang and _LANG.match(item.lang) else "und",
        rationale=f"http: {(item.rationale or 'scores')[:200]}",
        model_version=version,
    )


def parse_response(
    body: object, *, expected: int, scored: frozenset[Label]
) -> list[Classification]:
    try:
        response = ScorerResponse.model_validate(body)
    except ValidationError as exc:
        raise _malformed("not a scorer answer") from exc
    by_id = {item.id: item for item in response.results}
    wanted = [str(i) for i in range(expected)]
    if len(response.results) != expected or set(by_id) != set(wanted):
        raise _malformed(f"{len(response.results)} results for {expected} items, ids differ")
    version = f"http:{response.model_version}"
    return [verdict_of(by_id[i], scored=scored, version=version) for i in wanted]


class HttpScorer:
    name = "http"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        url: str,
        token: str | None = None,
        labels: frozenset[Label] = ALL_LABELS,
        chunk_size: int = 32,
    ) -> None:
        self._client = client
        self._url = url
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self.scored_labels = labels
        self._chunk_size = chunk_size

    async def classify(self, items: Sequence[Item]) -> list[Classification]:
        return await in_chunks(items, self._chunk_size, self._classify_chunk)

    async def _classify_chunk(self, items: Sequence[Item]) -> list[Classification]:
        body = await post_json(self._client, self._url, request_body(items), headers=self._headers)
        return parse_response(body, expected=len(items), scored=self.scored_labels)
