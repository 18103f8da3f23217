"""Cue lists of the first classifier, French and English.

Each cue is a regular expression over lower-cased text with its label, category and
strength. ``intent`` cues (a person saying they will harm themselves) make a comment
critical; ``mention`` cues make it sensitive but less urgent. Kept as data so that they are
reviewed like a policy, and tested one by one in ``tests/unit/classifier``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.events import Label


@dataclass(frozen=True, slots=True)
class Cue:
    label: Label
    category: str
    pattern: re.Pattern[str]
    strength: float
    intent: bool = False


def _cues(
    label: Label, category: str, strength: float, *patterns: str, intent: bool = False
) -> list[Cue]:
    return [Cue(label, category, re.compile(p), strength, intent) for p in patterns]


S, A = Label.SENSITIVE, Label.ABUSIVE

SENSITIVE_CUES: list[Cue] = [
    *_cues(
        S,
        "suicide",
        0.97,
        r"\b(kill|killing) my ?self\b",
        r"\bend(ing)? (my|it all|my own) life\b",
        r"\bend it all\b",
        r"\b(want|wanna|going|gonna) to die\b",
        r"\bwanna die\b",
        r"\bsuicid(e|al)\b",
        r"\bno reason to (live|go on)\b",
        r"\bbetter off dead\b",
        r"\bdon'?t want to (live|be alive|wake up)\b",
        r"\btake my (own )?life\b",
        r"\bme (suicider|tuer)\b",
        r"\ben finir\b",
        r"\bmettre fin à (mes jours|ma vie)\b",
        r"\b(envie|besoin) de mourir\b",
        r"\bveux (pas )?mourir\b",
        r"\bplus envie de vivre\b",
        # Starts at "ne" so that the "ne ... plus" of the cue is not read as a denial.
        r"\b(ne |n')?(veux|voulais) plus vivre\b",
        r"\bn'ai plus (envie|la force) de vivre\b",
        r"\bsuicid(e|aire|er)\b",
        r"\bmieux sans moi\b",
        intent=True,
    ),
    *_cues(
        S,
        "self_harm_intent",
        0.95,
        r"\b(cut|cutting|hurt|hurting|harm|harming) my ?self\b",
        r"\bself[- ]harm",
        r"\bme (scarifier|mutiler|faire du mal)\b",
        r"\bscarif",
        r"\bautomutil",
        intent=True,
    ),
    *_cues(
        S,
        "medical_distress",
        0.9,
        r"\bcan'?t breathe\b",
        r"\bchest pains?\b",
        r"\boverdos",
        r"\bseizure\b",
        r"\bn'arrive (plus|pas) à respirer\b",
        r"\bdouleurs? (à la|dans la) poitrine\b",
        r"\bsurdose\b",
        r"\bmalaise\b",
    ),
    *_cues(
        S,
        "domestic_violence",
        0.9,
        r"\b(he|she|my (husband|wife|partner|boyfriend|girlfriend|dad|father|mom|mother)) "
        r"(hits|beats|hurts|chokes) me\b",
        r"\b(il|elle) me (frappe|bat|étrangle)\b",
        r"\bviolences? conjugales?\b",
        r"\bdomestic (violence|abuse)\b",
    ),
    *_cues(
        S,
        "eating_disorder",
        0.85,
        r"\b(anorexi|bulimi|boulimi)",
        r"\bstarv(e|ing) my ?self\b",
        r"\bme faire vomir\b",
        r"\bmake my ?self (throw up|vomit)\b",
    ),
]

ABUSIVE_CUES: list[Cue] = [
    *_cues(
        A,
        "threat",
        0.95,
        r"\bi('ll| will| am going to|'m gonna|'m going to) (kill|hurt|find|beat) you\b",
        r"\byou('re| are) (dead|going to die)\b",
        r"\bje vais te (tuer|buter|défoncer|frapper)\b",
        r"\bt'es mort\b",
        r"\bon va te (trouver|retrouver)\b",
    ),
    *_cues(
        A,
        "harassment",
        0.9,
        r"\b(go )?kill yourself\b",
        r"\bkys\b",
        r"\bgo die\b",
        r"\bva (crever|mourir)\b",
        r"\bcrève\b",
    ),
    *_cues(
        A,
        "insult",
        0.9,
        r"\bidiots?\b",
        r"\bstupid\b",
        r"\bmoron",
        r"\bdumb ?ass\b",
        r"\bshut up\b",
        r"\bf+u+c+k+ (you|off)\b",
        r"\bbitch(es)?\b",
        r"\bloser\b",
        r"\basshole",
        r"\bconna(rd|sse)s?\b",
        r"\bta gueule\b",
        r"\babruti",
        r"\bcrétin",
        r"\bdébile",
        r"\bencul",
        r"\bva te faire\b",
        r"\bpauvre (con|type|idiot)\b",
        r"\bimbécile",
        r"\bsalop(e|ard)",
        r"\bputes?\b",
        r"\bnul(le)?s? à chier\b",
    ),
]

# A negation right before a cue ("I don't want to die" stays sensitive, but uncertain).
NEGATION = re.compile(
    r"\b(not|never|don'?t|doesn'?t|didn'?t|won'?t|no longer|ne|n'|jamais|pas)\W+(\w+\W+){0,2}$"
)

QUESTION_START = re.compile(
    r"^(how|what|when|where|why|who|which|can|could|is|are|do|does|did|will|would|should|"
    r"anyone|comment|pourquoi|quand|où|qui|quel(le)?s?|est-ce|pouvez|peut-on|peux|"
    r"avez|as-tu|y a-t-il|combien)\b"
)

PRAISE = re.compile(
    r"\b(thanks?|thank you|thx|love (it|this|you)|great|amazing|awesome|wonderful|excellent|"
    r"brilliant|well done|helpful|fantastic|merci|bravo|génial|super|top|magnifique|"
    r"j'adore|formidable|excellent(e)?|chapeau|trop bien|félicitations)\b"
)
