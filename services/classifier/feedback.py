"""Moderator feedback: a correction of the classifier, kept as a labelled example.

A moderator says which labels are right for one comment revision (none is an answer too),
with who, when and an optional note. Exported, each latest correction is one line in the
shape of the training data (``text``, ``lang``, ``labels``,
``categories``, ``source`` = ``feedback#<id>``, ``label_scope`` = the four labels, since a
moderator judges all four at once).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.events import Label

ALL_LABELS: tuple[str, ...] = tuple(label.value for label in Label)
NO_LABEL = "none"
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class FeedbackError(ValueError):
    """Invalid feedback; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Correction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: str = Field(min_length=1, max_length=64)
    comment_id: str = Field(min_length=1, max_length=512)
    revision: int | None = Field(default=None, ge=0, description="None: the latest one.")
    labels: tuple[Label, ...]
    categories: tuple[str, ...] = ()
    moderator: str = Field(min_length=1, max_length=128)
    corrected_at: datetime
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("categories")
    @classmethod
    def _categories_are_names(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not _CATEGORY.match(value):
                raise ValueError(f"{value!r} is not a category name (a-z, 0-9, _)")
        return tuple(dict.fromkeys(values))

    @field_validator("corrected_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone")
        return value


def parse_labels(value: str) -> tuple[Label, ...]:
    """``"sensitive,question"`` -> labels in canonical order; ``"none"`` -> no label."""
    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    if names == [NO_LABEL]:
        return ()
    if not names:
        raise FeedbackError("labels", f"give labels or {NO_LABEL!r}")
    unknown = [name for name in names if name not in ALL_LABELS]
    if unknown:
        expected = ", ".join((*ALL_LABELS, NO_LABEL))
        raise FeedbackError("labels", f"unknown label {unknown[0]!r} (expected {expected})")
    return tuple(label for label in Label if label.value in names)


def correction(**values: Any) -> Correction:
    """A ``Correction``, or a ``FeedbackError`` that names the first invalid field."""
    try:
        return Correction(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "feedback"
        raise FeedbackError(field, first["msg"]) from exc


def training_example(
    *, feedback_id: int, text: str, lang: str, labels: Sequence[str], categories: Sequence[str]
) -> dict[str, object]:
    return {
        "text": text,
        "lang": lang,
        "labels": [name for name in ALL_LABELS if name in labels],
        "categories": list(categories),
        "source": f"feedback#{feedback_id}",
        "label_scope": list(ALL_LABELS),
    }


def jsonl(examples: Iterable[dict[str, object]]) -> Iterator[str]:
    for example in examples:
        yield json.dumps(example, ensure_ascii=False) + "\n"
