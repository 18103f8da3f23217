"""OpenAI's moderation endpoint as a remote scorer of ``sensitive`` and ``abusive``.

``POST {base_url}/v1/moderations`` with ``{"model", "input": [texts]}`` answers one result
per input: boolean ``categories`` (OpenAI's own thresholds) and ``category_scores``. The
mapping below turns them into Vigie's labels, categories and severities. The endpoint knows
nothing of questions or praise; those stay with the local classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from services.classifier.backends.base import BackendError, FailureReason, Item
from services.classifier.backends.remote import in_chunks, post_json
from shared.events import Classification, Label, Severity

S, A = Label.SENSITIVE, Label.ABUSIVE
SCORED = frozenset({S, A})

# A self-harm score at or above this, without OpenAI's flag, still marks the comment
# sensitive (unsure) for a human to look at: recall first on crisis comments.
SENSITIVE_UNSURE_AT = 0.3


@dataclass(frozen=True, slots=True)
class Mapped:
    label: Label
    category: str
    severity: Severity


# OpenAI category -> Vigie. ``illicit`` and ``illicit/violent`` (advice on wrongdoing) are
# neither a crisis nor abuse aimed at someone, so they are not mapped.
OPENAI_CATEGORIES: dict[str, Mapped] = {
    "self-harm/intent": Mapped(S, "self_harm_intent", Severity.CRITICAL),
    "self-harm/instructions": Mapped(S, "self_harm_instructions", Severity.CRITICAL),
    "self-harm": Mapped(S, "self_harm", Severity.HIGH),
    "harassment/threatening": Mapped(A, "threat", Severity.HIGH),
    "hate/threatening": Mapped(A, "threat", Severity.HIGH),
    "harassment": Mapped(A, "harassment", Severity.MEDIUM),
    "hate": Mapped(A, "hate", Severity.MEDIUM),
    "violence": Mapped(A, "violence", Severity.MEDIUM),
    "violence/graphic": Mapped(A, "graphic_violence", Severity.MEDIUM),
    "sexual/minors": Mapped(A, "sexual_minors", Severity.CRITICAL),
    "sexual": Mapped(A, "sexual", Severity.MEDIUM),
}


class ModerationResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    flagged: bool
    categories: dict[str, bool | None]
    category_scores: dict[str, float]


class ModerationResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    results: list[ModerationResult]


def verdict_of(result: ModerationResult, *, model: str) -> Classification:
    """One moderation result as a Vigie verdict (language left to the local classifier)."""
    labels: list[Label] = []
    categories: list[str] = []
    severity = Severity.NONE
    scores: dict[Label, float] = dict.fromkeys(Label, 0.0)
    reasons: list[str] = []
    for name, mapped in OPENAI_CATEGORIES.items():
        score = result.category_scores.get(name, 0.0)
        scores[mapped.label] = max(scores[mapped.label], score)
        if not result.categories.get(name):
            continue
        reasons.append(f"{name} {score:.2f}")
        if mapped.label not in labels:
            labels.append(mapped.label)
        if mapped.category not in categories:
            categories.append(mapped.category)
        if mapped.severity.rank > severity.rank:
            severity = mapped.severity
    unsure: list[Label] = []
    if S not in labels and scores[S] >= SENSITIVE_UNSURE_AT:
        labels.append(S)
        unsure.append(S)
        categories.append("self_harm")
        reasons.append(f"self-harm scores up to {scores[S]:.2f}")
        if severity.rank < Severity.MEDIUM.rank:
            severity = Severity.MEDIUM
    return Classification(
        labels=tuple(label for label in Label if label in labels),
        categories=tuple(categories),
        severity=severity,
        scores=scores,
        unsure=tuple(unsure),
        lang="und",
        rationale="openai: " + (", ".join(reasons) or "nothing flagged"),
        model_version=f"openai:{model}",
    )


def parse_response(body: object, *, expected: int) -> list[Classification]:
    try:
        response = ModerationResponse.model_validate(body)
    except ValidationError as exc:
        raise BackendError(FailureReason.MALFORMED, "not a moderation response") from exc
    if len(response.results) != expected:
        raise BackendError(
            FailureReason.MALFORMED, f"{len(response.results)} results for {expected} inputs"
        )
    return [verdict_of(result, model=response.model) for result in response.results]


class OpenAIModeration:
    name = "openai"
    scored_labels = SCORED

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        model: str = "omni-moderation-latest",
        chunk_size: int = 32,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/v1/moderations"
        self._headers = {"authorization": f"Bearer {api_key}"}
        self._model = model
        self._chunk_size = chunk_size

    async def classify(self, items: Sequence[Item]) -> list[Classification]:
        return await in_chunks(items, self._chunk_size, self._classify_chunk)

    async def _classify_chunk(self, items: Sequence[Item]) -> list[Classification]:
        payload = {"model": self._model, "input": [text for text, _ in items]}
        body = await post_json(self._client, self._url, payload, headers=self._headers)
        return parse_response(body, expected=len(items))
