"""What a digest says: how many comments joined the case since its receivers last heard of
it, with which labels, and whether its severity changed. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from shared.events import Severity

_TEXT = {
    "en": "{count} new comment(s) in this case{labels}{severity}.",
    "fr": "{count} nouveau(x) commentaire(s) dans ce cas{labels}{severity}.",
}
_SEVERITY = {"en": "; severity {} → {}", "fr": " ; gravité {} → {}"}
LANGS = tuple(_TEXT)


@dataclass(frozen=True, slots=True)
class DigestSummary:
    comments: int
    labels: tuple[tuple[str, int], ...]  # label and how many of the comments carry it
    severity_before: Severity
    severity_now: Severity

    @classmethod
    def of(
        cls, comment_labels: Iterable[Iterable[str]], *, before: Severity, now: Severity
    ) -> DigestSummary:
        per_comment = [tuple(labels) for labels in comment_labels]
        counts = Counter(label for labels in per_comment for label in set(labels))
        ordered = tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
        return cls(len(per_comment), ordered, before, now)

    def text(self, lang: str = "en") -> str:
        lang = lang if lang in _TEXT else "en"
        labels = ", ".join(f"{label} ×{count}" for label, count in self.labels)
        severity = (
            _SEVERITY[lang].format(self.severity_before.value, self.severity_now.value)
            if self.severity_now is not self.severity_before
            else ""
        )
        return _TEXT[lang].format(
            count=self.comments,
            labels=f" ({labels})" if labels else "",
            severity=severity,
        )
