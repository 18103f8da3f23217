"""Topics: the words and word pairs that comments use most, and how that changed.

A term counts once per comment that uses it (a comment repeating a word a hundred times
counts once). Stop words (French and English), numbers, words under three letters, links,
@handles and known author names are left out. Pure.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

_STOP_WORDS = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    even ever few for from further get got had has have having he her here hers herself him
    himself his how i if in into is it its itself just know let like lot me more most much
    must my myself no nor not now of off on once one only or other our ours ourselves out
    over own please really same she should so some still such than thank thanks that the
    their theirs them themselves then there these they this those through thing things to
    too under until up us very want was we well were what when where which while who whom
    why will with would yes yet you your yours yourself yourselves im ive dont cant didnt
    doesnt isnt wasnt youre thats its gonna wanna hey hello hi ok okay oh via
    ai aie aient aies ait alors as au aucun aussi autre aux avais avait avant avec avez
    avoir avons bah bien bon ca car ce ceci cela celle celles celui cependant ces cet cette
    ceux chaque chez ci comme comment dans de des deja depuis donc dont du elle elles en
    encore entre es est et etaient etais etait ete etes etre eu eux faire fait fais faut ici
    il ils je jusqu la le les leur leurs lui ma mais me meme mes moi mon ne ni non nos notre
    nous on ont ou oui par parce pas peu peut plus pour pourquoi quand que quel quelle
    quelles quels qui quoi sa sans se ses seulement si sien son sont sous suis sur ta te tes
    toi ton tous tout toute toutes tres tu un une vos votre vous vers voila vraiment merci
    cest jai jsuis quil quelle qu ya svp bonjour salut
    """
STOP_WORDS = frozenset(_STOP_WORDS.split())

_LINK = re.compile(r"(https?://|www\.)\S+|\S+@\S+\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"[@#]\w+")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


@lru_cache(maxsize=65536)  # comments reuse the same few thousand words
def fold(word: str) -> str:
    """Lower case without accents, so that ``Été`` and ``ete`` are one term."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_words(names: Iterable[str]) -> frozenset[str]:
    """Every word of every known author name or id, folded: never a topic."""
    return frozenset(fold(w) for name in names for w in _WORD.findall(_HANDLE.sub(" ", name)))


def strip_identities(text: str, banned: frozenset[str]) -> str:
    """The text without links, @handles, #tags or any word of a known author name."""
    cleaned = _HANDLE.sub(" ", _LINK.sub(" ", text))
    return _WORD.sub(lambda m: "" if fold(m.group()) in banned else m.group(), cleaned)


def words(text: str, *, banned: frozenset[str] = frozenset()) -> list[tuple[str, str] | None]:
    """The text's words as (folded, as written in lower case); ``None`` where a left-out
    word breaks a pair."""
    cleaned = _HANDLE.sub(" ", _LINK.sub(" ", text))
    out: list[tuple[str, str] | None] = []
    for raw in _WORD.findall(cleaned):
        written = raw.lower().replace("’", "'")
        # Elisions: l'appli -> appli, aujourd'hui stays one word.
        if "'" in written and len(written.split("'", 1)[0]) <= 2:
            written = written.split("'", 1)[1]
        word = fold(written)
        keep = len(word) >= 3 and word not in STOP_WORDS and word not in banned
        out.append((word, written) if keep else None)
    return out


@dataclass
class Counts:
    """How many comments use each term (folded), and how people write it."""

    uses: Counter[str] = field(default_factory=Counter)
    forms: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, text: str, *, banned: frozenset[str]) -> None:
        found = words(text, banned=banned)
        seen: dict[str, str] = {w[0]: w[1] for w in found if w is not None}
        for a, b in zip(found, found[1:], strict=False):
            if a and b and a[0] != b[0]:
                seen[f"{a[0]} {b[0]}"] = f"{a[1]} {b[1]}"
        self.uses.update(seen.keys())
        for term, written in seen.items():
            forms = self.forms.get(term)
            if forms is None:
                forms = self.forms[term] = Counter()
            forms[written] += 1

    def shown(self, term: str) -> str:
        """The way most comments write the term (``méditation`` rather than ``meditation``)."""
        forms = self.forms.get(term)
        return min(forms, key=lambda f: (-forms[f], f)) if forms else term


def count(texts: Iterable[str], *, banned: frozenset[str] = frozenset()) -> Counts:
    counts = Counts()
    for text in texts:
        counts.add(text, banned=banned)
    return counts


@dataclass(frozen=True, slots=True)
class Trend:
    term: str
    count: int
    previous: int

    @property
    def change(self) -> int:
        return self.count - self.previous


def _without_parts(ranked: Iterable[str], uses: Counter[str], limit: int) -> list[str]:
    """The first ``limit`` terms, leaving out a word already said by a pair as frequent."""
    chosen: list[str] = []
    for term in ranked:
        if " " not in term and any(
            term in c.split(" ") and uses[c] >= uses[term] for c in chosen if " " in c
        ):
            continue
        chosen.append(term)
        if len(chosen) == limit:
            break
    return chosen


def top(now: Counts, before: Counts, *, limit: int = 10, min_count: int = 2) -> list[Trend]:
    """The most used terms; a pair goes before its words when it is as frequent."""
    uses = now.uses
    ranked = sorted(
        (t for t, n in uses.items() if n >= min_count), key=lambda t: (-uses[t], -len(t), t)
    )
    return [
        Trend(now.shown(t), uses[t], before.uses.get(t, 0))
        for t in _without_parts(ranked, uses, limit)
    ]


def rising(now: Counts, before: Counts, *, limit: int = 5, min_count: int = 3) -> list[Trend]:
    """The terms whose use grew the most since the previous period."""
    uses, past = now.uses, before.uses
    grown = [t for t, n in uses.items() if n >= min_count and n > past.get(t, 0)]
    grown.sort(key=lambda t: (-(uses[t] - past.get(t, 0)), -uses[t], -len(t), t))
    return [
        Trend(now.shown(t), uses[t], past.get(t, 0)) for t in _without_parts(grown, uses, limit)
    ]
