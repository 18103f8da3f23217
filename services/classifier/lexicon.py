"""Cue lists of the lexicon layer, French and English (questions and praise: ``speech_acts``).

Each cue is a regular expression over normalised text (``normalize`` below) with its
label, category and strength. ``intent`` cues (a person saying they will harm themselves)
make a comment critical; the others make it sensitive or abusive but less urgent. ``unless``
is the context that turns a match into a figure of speech ("je vais en finir avec ce
dossier", "t'es mort de rire"). Kept as data so that they are reviewed like a policy (see
docs/classifier.md) and tested one by one in ``tests/unit/classifier``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from shared.events import Label

# The text every cue (and the trained model's features) is written for. Platform artefacts
# (mentions, links, ``[NAME]`` placeholders, ``RT`` prefixes, HTML entities) become fixed
# tokens so that no training source can be recognised by its markup, and a comment reads
# the same whichever platform it came from.
_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "“": '"', "”": '"'})
_QUOTE_CHARS = tuple(chr(code) for code in _QUOTES)
_URL = re.compile(r"(?:https?://\S*|\bhttps?\b|www\.\S+)")
_MENTION = re.compile(r"@\w+")
_PLACEHOLDER = re.compile(r"\[[a-z]+\]")
_RETWEET = re.compile(r"^(?:rt\s+)+|\brt\s+(?=xuser)")
_REPEATS = re.compile(r"(.)\1{3,}")


def normalize(text: str) -> str:
    """Lower-cased, single-spaced text with platform markup replaced by fixed tokens."""
    lowered = (html.unescape(text) if "&" in text else text).lower()
    if any(map(lowered.__contains__, _QUOTE_CHARS)):  # most comments have none
        lowered = lowered.translate(_QUOTES)
    if "http" in lowered or "www." in lowered:
        lowered = _URL.sub(" xurl ", lowered)
    if "@" in lowered:
        lowered = _MENTION.sub(" xuser ", lowered)
    if "[" in lowered:
        lowered = _PLACEHOLDER.sub(" xname ", lowered)
    lowered = _REPEATS.sub(r"\1\1\1", lowered)
    lowered = " ".join(lowered.split())  # str.split's whitespace is re's \s: one space
    return (
        _RETWEET.sub("", lowered).strip()
        if lowered.startswith("rt") or " rt " in lowered
        else lowered
    )


@dataclass(frozen=True, slots=True)
class Cue:
    label: Label
    category: str
    pattern: re.Pattern[str]
    strength: float
    intent: bool = False
    unless: re.Pattern[str] | None = None


def _cues(
    label: Label,
    category: str,
    strength: float,
    *patterns: str,
    intent: bool = False,
    unless: str | None = None,
) -> list[Cue]:
    context = re.compile(unless) if unless else None
    return [Cue(label, category, re.compile(p), strength, intent, context) for p in patterns]


S, A = Label.SENSITIVE, Label.ABUSIVE
# Laughter or embarrassment right after a cue: "I want to die laughing", "mort de rire".
_JOKING = r"^\W*(laughing|of laughter|of embarrassment|lol|lmao|mdr|ptdr|de rire|de honte|😂|🤣)"
_PILLS = r"(pills|meds|medication|tablets|médicaments|médocs|cachets|comprimés|pilules)"

SENSITIVE_CUES: list[Cue] = [
    *_cues(
        S,
        "suicide",
        0.97,
        r"\b(kill|killing) my ?self\b",
        r"\bend(ing)? (my|my own) life\b",
        r"\bend(ing)? it all\b",
        r"\b(want|wanna|going|gonna|ready) (to )?die\b",
        r"\bsuicid(e|al)\b",
        r"\bno reason to (live|go on|keep going)\b",
        r"\bbetter off (dead|without me)\b",
        r"\bdon'?t want to (live|be alive|wake up|be here)\b",
        r"\bnever want to wake up\b",
        r"\btake my (own )?life\b",
        r"\bhang my ?self\b",
        r"\bjump (off|from) (a|the) (bridge|building|roof)\b",
        r"\b(take|taking|swallow|swallowing) all (my|the|of my) " + _PILLS,
        r"\bslit my wrists?\b",
        r"\bcan'?t (go on|do this) any ?more\b",
        r"\bme (suicider|tuer|pendre|foutre en l'air)\b",
        r"\bm'ôter la vie\b",
        r"\ben finir\b",
        r"\bmettre fin à (mes jours|ma vie|tout)\b",
        r"\b(envie|besoin) (de mourir|d'en finir)\b",
        r"\bveux (pas |plus )?mourir\b",
        r"\bplus envie de vivre\b",
        # Starts at "ne" so that the "ne ... plus" of the cue is not read as a denial.
        r"\b(ne |n')?(veux|voulais) plus vivre\b",
        r"\bn'ai plus (envie|la force) de vivre\b",
        r"\b(n'ai )?plus (aucune )?raison de vivre\b",
        r"\bsuicid(e|aire|er)\b",
        r"\bmieux sans moi\b",
        r"\bme jeter (d'un|du|sous un|sous le|par la) (pont|train|métro|fenêtre|toit)\b",
        r"\b(avaler|prendre) (toutes? )?(mes|les|des|tous mes|toute ma boîte de) " + _PILLS,
        r"\bje ne vois plus d'issue\b",
        r"\bje vais (tout )?arrêter (de vivre|pour de bon)\b",
        intent=True,
        # "je vais en finir avec ce dossier": an errand, not a crisis; "avec la vie" stays.
        unless=_JOKING + r"|^ avec (ce|cet|cette|ces|le|les|un|une|mon|mes|son|sa|ses|leur)\b",
    ),
    *_cues(
        S,
        "self_harm_intent",
        0.95,
        r"\b(cut|cutting|hurt|hurting|harm|harming|harmed|burn|burned|burnt|burning) "
        r"my ?self\b",
        r"\bme (scarifier|mutiler|faire du mal|couper|taillader|brûler)\b",
        r"\bje me (scarifie|mutile|fais du mal|coupe les (bras|veines|poignets))\b",
        intent=True,
    ),
    *_cues(
        S,
        "self_harm_mention",
        0.85,
        r"\bself[- ]?harm",
        r"\bscarification",
        r"\bautomutilation",
        r"\bmy (scars|cuts) (from|on my)\b",
    ),
    *_cues(
        S,
        "medical_distress",
        0.9,
        r"\bcan'?t breathe\b",
        r"\bchest pains?\b",
        r"\boverdos",
        r"\bseizure\b",
        r"\bheart attack\b",
        r"\b(took|taken|swallowed) too many " + _PILLS,
        r"\b(n'arrive|arrive) (plus|pas) à respirer\b",
        r"\bdu mal à respirer\b",
        r"\bdouleurs? (à la|dans la) poitrine\b",
        r"\bsurdose\b",
        r"\bje fais un malaise\b",
        r"\bcrise cardiaque\b",
        r"\bpris trop de " + _PILLS,
    ),
    *_cues(
        S,
        "domestic_violence",
        0.9,
        r"\b(he|she|my (husband|wife|partner|boyfriend|girlfriend|ex|dad|father|mom|mother)) "
        r"(hits|beats|hurts|chokes|hit|beat|choked|strangled) me\b",
        r"\b(il|elle) m'a (frappée?|battue?|étranglée?)\b",
        r"\b(il|elle) me (frappe|bat|étrangle|tape dessus)\b",
        r"\bmon (mari|copain|conjoint|compagnon|ex|père) me (frappe|bat|menace|étrangle)\b",
        r"\bma (femme|copine|compagne|mère) me (frappe|bat|menace)\b",
        r"\bviolences? conjugales?\b",
        r"\bdomestic (violence|abuse)\b",
        r"\b(afraid|scared) to go home\b",
        r"\bpeur de rentrer (chez moi|à la maison)\b",
        r"\bthreatened to kill me\b",
        r"\bmenacée? de (me tuer|mort)\b",
    ),
    *_cues(
        S,
        "eating_disorder",
        0.85,
        r"\b(anorexi|bulimi|boulimi)",
        r"\bstarv(e|ing) my ?self\b",
        r"\bme faire vomir\b",
        r"\bje me fais vomir\b",
        r"\bmake my ?self (throw up|vomit|puke)\b",
        r"\bpro[- ]?ana\b",
        r"\bthinspo",
    ),
    *_cues(
        S,
        "substance",
        0.8,
        r"\b(i|i've|i have) relapsed\b",
        r"\bcan'?t stop (drinking|using)\b",
        r"\bj'ai (re)?chuté\b",
        r"\bje n'arrive pas à arrêter (de boire|la drogue)\b",
    ),
]

ABUSIVE_CUES: list[Cue] = [
    *_cues(
        A,
        "threat",
        0.95,
        r"\bi('ll| will| am going to|'m gonna|'m going to) (kill|hurt|find|beat|shoot|stab) you\b",
        r"\byou('re| are) (dead|going to die)\b",
        r"\bje vais te (tuer|buter|défoncer|frapper|crever|retrouver)\b",
        r"\bt'es mort\b",
        r"\bon va te (trouver|retrouver|tuer|buter)\b",
        r"\bje sais où tu (habites|vis)\b",
        r"\bi know where you live\b",
        unless=_JOKING + r"|^ (right|wrong|on|serious)\b",
    ),
    *_cues(
        A,
        "harassment",
        0.9,
        r"\b(go )?kill yourself\b",
        r"\bkys\b",
        r"\bgo die\b",
        r"\bva (crever|mourir|te pendre|te tuer)\b",
        r"\bcrève\b",
        r"\bnobody (likes|wants) you\b",
        r"\bpersonne ne t'aime\b",
    ),
    *_cues(
        A,
        "sexual",
        0.9,
        r"\bsend (me )?nudes\b",
        r"\bsuck my\b",
        r"\benvoie (moi |des )?(tes )?nudes\b",
        r"\bsuce(-| )moi\b",
    ),
    *_cues(
        A,
        "spam",
        0.8,
        r"\b(check|visit) (out )?my (profile|bio|page|channel)\b",
        r"\b(dm|message) me (for|to) (earn|make|get)\b",
        r"\bearn \$?\d+ (a|per) (day|week|hour)\b",
        r"\bgagne[rz]? \d+ ?(€|euros) par (jour|semaine)\b",
        r"\bclique[rz]? (sur )?(le|mon) lien\b",
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
        r"\bpiece of shit\b",
        r"\bconna(rd|sse)s?\b",
        r"\bta gueule\b",
        r"\babruti",
        r"\bcrétin",
        r"\bdébile",
        r"\bencul",
        r"\bva te faire\b",
        r"\bpauvre (con|conne|type|idiot|idiote|tâche)\b",
        r"\bimbécile",
        r"\bsalop(e|ard)",
        r"\bputes?\b",
        r"\bnul(le)?s? à chier\b",
        r"\bbouffon",
        r"\btocards?\b",
        r"\bgrosse merde\b",
        r"\btous des (cons|voleurs|escrocs|incapables|pourris)\b",
    ),
]

# A negation right before a cue, in the same clause ("I don't want to die" stays sensitive,
# but unsure); punctuation ends the clause ("I don't know, I want to die" is not negated).
NEGATION = re.compile(
    r"\b(not|never|don'?t|doesn'?t|didn'?t|won'?t|wouldn'?t|no longer|ne|n'|jamais|pas)"
    r"\s*(\w+\s+){0,2}$"
)
# A French negation inside the match: "je veux pas mourir".
INNER_NEGATION = re.compile(r"\b(pas|jamais)\b")
