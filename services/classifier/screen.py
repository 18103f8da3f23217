"""The crisis screen: which lane a comment takes from ingest to the router.

A comment whose text carries one of the lexicon's intent cues (a person saying they will
harm themselves) is what the classifier marks critical; such a comment goes through the
priority lane (``shared.topics.COMMENTS_PRIORITY``), where no backlog of routine comments
sits in front of it. The screen is the union of those cues, over the same normalised text
the classifier reads, so every comment the lexicon makes critical is screened in. It reads
no context (negation, figures of speech): a comment screened in wrongly only takes the
faster lane, and the classifier still decides what it is.

Only new comments take the priority lane: an edit, a deletion or a hide must reach the
router after the comment it changes, and the two lanes are not ordered with each other.
"""

from __future__ import annotations

import re

from services.classifier.lexicon import SENSITIVE_CUES, normalize
from services.classifier.literals import required_literals
from shared.events import Comment, CommentKind
from shared.topics import COMMENTS_NORMALIZED, COMMENTS_PRIORITY

_INTENT = [cue.pattern.pattern for cue in SENSITIVE_CUES if cue.intent]
_CRISIS = re.compile("|".join(f"(?:{pattern})" for pattern in _INTENT))
# A text that holds none of the cues' required literals cannot match: most comments are
# told apart by a few substring tests, without running the expression. Empty when a cue
# has no such literal (the expression then always runs).
_LITERALS: tuple[str, ...] = tuple(
    sorted({literal for pattern in _INTENT for literal in required_literals(pattern)})
)
if not all(required_literals(pattern) for pattern in _INTENT):
    _LITERALS = ()


def crisis_suspected(text: str) -> bool:
    """Whether ``text`` carries a crisis cue, whatever its context."""
    normalised = normalize(text)
    if _LITERALS and not any(literal in normalised for literal in _LITERALS):
        return False
    return _CRISIS.search(normalised) is not None


def comment_topic(comment: Comment) -> str:
    """The topic a normalised comment is published to."""
    if comment.kind is CommentKind.CREATED and crisis_suspected(comment.text):
        return COMMENTS_PRIORITY
    return COMMENTS_NORMALIZED
