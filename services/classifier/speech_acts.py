"""Questions and praise, French and English: the cues the lexicon layer reads besides crises
and abuse.

Patterns are written for ``lexicon.normalize``d text (lower case, straight quotes). Each is
curated and tested one by one (``tests/unit/classifier/test_speech_acts.py``), because the
training data has no French praise and asks its French questions with a "?" every time.

- ``ASKING``: forms that ask for an answer even without a "?" ("pouvez-vous m'envoyer le
  lien", "est-ce que c'est remboursé", "does anyone know when it opens"), at the start of the
  comment or of one of its sentences.
- ``QUESTION_START``: any interrogative first word (looser, for the lexicon alone).
- ``RHETORICAL``: questions that insult or dismiss whoever they address ("why are you all so
  stupid?", "vous êtes cons ou quoi ?"): not questions to answer, whatever their form.
- ``NOT_KNOWING``: statements that name what their author does not know ("I don't know what
  the middle ground is", "idk", "not sure how you got that"): with no "?" and no asking form,
  they ask nothing, and the model's ``question`` is not taken.
- ``PRAISE`` and ``NOT_PRAISE``: praise words, and the turns that empty them ("merci pour
  rien", "pas génial", "super déçu", "merci d'avance").
- ``AGREEMENT``: agreeing and wishing luck ("I agree", "you're not wrong", "good luck",
  "je suis d'accord"); without a praise word they praise no one, and the model's ``praise``
  is not taken.
"""

from __future__ import annotations

import re

from services.classifier.literals import alternation_literals

# The start of the comment or of one of its sentences or clauses ("Bonjour, est-ce que ...").
_SENTENCE = r"(?:^|[.!;:,…]\s*|\n)"

_FR_ASKING = (
    r"est-ce qu|qu'est-ce qu|"
    # Inversion of the verbs that ask ("pouvez-vous", "faut-il", "y a-t-il"), not of any
    # verb: "rassurez-vous", "abonnez-vous" are imperatives.
    r"(?:y )?(?:pouvez|pourriez|pourrais|peux|puis|peut|pourrait|avez|auriez|aurais|as|a|aura|"
    r"savez|sauriez|sais|voulez|voudriez|veux|êtes|es|est|sont|serez|seriez|serait|sera|"
    r"faites|fait|font|faut|faudrait|allez|va|vont|irez|comptez|prévoyez|acceptez|livrez|"
    r"proposez|connaissez|connais|conseillez|recommandez|pensez|penses|trouvez|croyez|vendez|"
    r"prenez|existe|reste|restent|dois|doit|devrais|devrait|vais|ont|organisez|ouvrez|fermez)"
    r"(?:-t)?-(?:vous|tu|il|elle|on|ils|elles|je)\b|"
    r"quand (?:est-ce|est|sera|seront|commence|commencent|sort|sortent|ouvre|ferme|arrive|aura)\b|"
    r"comment (?:faire|fait-on|on fait|je fais|puis-je|peut-on|vous faites|ça marche|ca marche|"
    r"avoir|obtenir|trouver|est-ce|se fait|s'inscrire|contacter)\b|"
    r"où (?:est-ce|est|sont|trouver|acheter|peut-on|puis-je|se trouve|en est)\b|"
    r"combien (?:coûte|coute|de|ça|ca|est-ce|faut-il)\b|"
    r"pourquoi (?:est-ce|vous|ne|n'|le|la|les|mon|ma|mes|votre|vos|ce|cette|il|elle|on)\b|"
    r"quel(?:le)?s? (?:est|sont|sera|seront|prix|horaires?|jour|heure|date|délai|taille)\b|"
    r"c'est (?:quand|où|combien|possible de|normal que|normal qu)\b|"
    r"(?:je|j') ?(?:voudrais|voulais|aimerais|souhaiterais|souhaite|veux) savoir\b|"
    r"quelqu'un (?:sait|saurait|peut|pourrait|a déjà|aurait|connait|connaît)\b|"
    r"(?:j'ai|petite|une) question\b|"
    r"savez-vous|sauriez-vous"
)
_EN_ASKING = (
    r"(?:can|could|would|will) (?:you|u|someone|somebody|anyone|anybody|i|we) |"
    r"does (?:anyone|anybody|someone|somebody|it|this|that|he|she) |"
    r"(?:do|did) (?:anyone|anybody|someone|somebody|you|u|they|we|i) |"
    r"(?:is|are) (?:there|it|this|these|that|they|you|u) |"
    r"how (?:do|can|does|did|long|much|many|often|soon|to) |"
    r"(?:what|when|where|who) (?:is|are|was|does|do|did|time|day|should|can|will|would|kind|"
    r"size)\b|"
    r"which (?:one|size|day|time|version|model|store|shop|is better)\b|"
    r"(?:what's|where's|when's|how's) |"
    r"(?:any|anyone|anybody|someone|somebody) (?:know|knows|idea|tips|advice)\b|"
    r"(?:i|i'm|i am) (?:was |am )?wondering (?:if|whether|how|when|where|why|what)\b|"
    r"(?:i have|i've got|quick) (?:a )?question\b|"
    r"is it (?:possible|normal|safe|ok|okay)\b"
)
ASKING = re.compile(_SENTENCE + r"(?:" + _FR_ASKING + "|" + _EN_ASKING + r")")

QUESTION_START = re.compile(
    r"^(how|what|when|where|why|who|which|can|could|is|are|do|does|did|will|would|should|"
    r"anyone|comment|pourquoi|quand|où|qui|quel(le)?s?|est-ce|pouvez|peut-on|peux|"
    r"avez|as-tu|y a-t-il|combien|savez|sauriez|auriez)\b"
)

_INSULT_EN = (
    r"(?:stupid|dumb|ignorant|pathetic|useless|incompetent|clueless|retarded|brainless|"
    r"worthless|idiots?|morons?|braindead|brain dead|delusional)"
)
_INSULT_FR = (
    r"(?:cons?|connes?|nuls?|nulles?|bêtes?|stupides?|débiles?|idiots?|idiotes?|incompétents?|"
    r"incompétentes?|abrutis?|crétins?|teubés?|demeurés?|tarés?|incapables?)"
)
RHETORICAL = re.compile(
    r"\b(?:why|how) (?:are|is|r|can|do) (?:you|u|y'all|you guys|you people|they|these people|"
    r"people|everyone)(?: all)?(?: so| this| that| such)?(?: \w+)? " + _INSULT_EN + r"|"
    r"\b(?:are|r) (?:you|u|they) (?:all )?(?:really |just )?(?:that |this |so )?"
    r"(?:an? )?" + _INSULT_EN + r"|"
    r"\bwho (?:the (?:fuck|hell)|tf) (?:do you think|are you|cares|asked)\b|"
    r"\bwhat(?:'s| is| the (?:fuck|hell) is) wrong with (?:you|u|y'all|these people|people)\b|"
    r"\b(?:pourquoi|comment) (?:vous êtes|êtes-vous|t'es|tu es|es-tu|ils sont|sont-ils|on est)"
    r"(?: tous| toutes)? (?:si |aussi |tellement |autant |vraiment )?" + _INSULT_FR + r"|"
    r"\b(?:t'es|tu es|vous êtes|il est|elle est|ils sont) (?:vraiment )?(?:un |une |des )?"
    + _INSULT_FR
    + r" ou quoi\b|"
    r"\bvous (?:vous )?foutez de (?:nous|ma gueule|notre gueule|qui)\b|"
    r"\bvous nous prenez pour des (?:cons|idiots|pigeons|imbéciles)\b"
)

# English only: the French questions of the training data all have a "?", so the model does
# not ask French statements. "I don't know how to ..." and its kin ask for help: left out.
NOT_KNOWING = re.compile(
    r"\b(?:i (?:do not|don't|dont|didn't|did not) (?:know|understand|get|see)\b"
    r"(?! (?:how|where|what|who|when|which|whether|if) (?:to|i|we)\b)|"
    r"idk|(?:not|never) sure|i was (?:\w+ )?confused)\b"
)

PRAISE = re.compile(
    r"\b(thanks?|thank you|thx|love (it|this|you|your)|great|amazing|awesome|wonderful|"
    r"excellent|brilliant|well done|helpful|fantastic|merci|bravo|génial(e|es|s)?|super|"
    r"(?<![\w'] )top(?! \d)|(vraiment|juste|très) top|"
    r"magnifiques?|j'adore|formidables?|excellente?s?|chapeau|trop bien|félicitations|"
    r"au top|parfaite?|incroyables?|trop forte?s?|chouette|sublimes?|bien joué|"
    r"je recommande|vous êtes (les meilleurs|géniaux|géniales|formidables|au top)|"
    r"continuez (comme ça|ainsi)|quel plaisir|belle (vidéo|initiative|équipe|découverte)|"
    # French compliments and thanks the training data has none of.
    r"(grand|gros) merci|merci (infiniment|mille fois)|trop (cool|top|beau|belle|mignon|"
    r"mignonne|drôle)|(beau|bon|excellent|super|superbe|joli) (travail|boulot|job)|"
    r"c'est (top|génial|parfait|magnifique|excellent|très bien|cool|beau|réussi)|"
    r"j'aime (beaucoup|trop|bien|vraiment)|je kiffe|je vous (adore|aime)|"
    r"(très|super|vraiment|hyper|trop) (utiles?|intéressante?s?|réussie?s?|clair|claire|"
    r"instructifs?|instructives?|inspirante?s?|touchante?s?|émouvante?s?|drôles?|beaux?|belles?)|"
    r"ça fait (du bien|plaisir)|vous gérez|tu gères|quel(le)? (bonheur|talent|beauté|régal)|"
    r"merveilleu(x|se|ses)|superbes?|adorables?|impressionnante?s?|"
    r"(très|super|vraiment) bien (expliqué|fait|dit|écrit|vu|fait)e?s?|"
    r"(c'est|vraiment|franchement) pas mal|un régal|quelle (belle|bonne) (idée|nouvelle)|"
    r"hâte de (voir|lire|tester|essayer|découvrir)|respect à)\b"
)
# Praise words that are not praise: "merci pour rien", "pas génial", "thanks for nothing",
# "super déçu", and the thanks that close a request ("merci d'avance", "thanks in advance").
NOT_PRAISE = re.compile(
    r"\b(merci pour rien|thanks for nothing|no thanks|non merci|"
    r"(pas|plus|not|never|jamais) (très |si |so |very |that |really )?"
    r"(great|amazing|awesome|helpful|super|top|génial|terrible|bien|incroyable|formidable)|"
    r"(super|trop|hyper) (déçue?s?|nulle?s?|mauvaise?s?|chers?|chères?|chiante?s?|lente?s?|"
    r"énervée?s?|triste|fâchée?s?|uncomfortable|annoying|creepy|weird|awkward|boring|rude|"
    r"disappointed|disappointing|sad|expensive|slow)|"
    r"no thank you|(by )?a great deal (of|more|less)|by a great deal|"
    r"merci d'avance|merci par avance|thanks in advance|"
    r"merci de (me |nous )?(répondre|rappeler|recontacter|contacter|rembourser))\b"
)

# Agreement and good wishes: what GoEmotions' "approval" labels as praise most often.
AGREEMENT = re.compile(
    r"\b(?:i (?:\w+ )?agree|we agree|agreed|i second (?:that|this)|"
    r"(?:you're|you are|youre|ur) (?:\w+ )?(?:right|correct|not wrong)|"
    r"(?<!had )(?<!have )good luck|you're welcome|"
    r"(?:je suis|tout à fait|totalement|entièrement) d'accord|(?:vous avez|tu as|t'as) raison|"
    r"bonne chance)\b"
)

# Literals one of which each pattern needs: most comments skip the search (it runs on every
# comment, and an alternation that opens on "i " is tried at every position).
_NOT_KNOWING_LITERALS = ("i d", "idk", "sure", "confused")
_AGREEMENT_LITERALS = (
    "agree",
    "second",
    "right",
    "correct",
    "wrong",
    "luck",
    "welcome",
    "d'accord",
    "raison",
    "chance",
)


# One of which every ``PRAISE`` match holds (derived from the pattern, checked at import).
_PRAISE_LITERALS = alternation_literals(PRAISE.pattern)
if not _PRAISE_LITERALS:
    raise RuntimeError("PRAISE must stay a word list each of whose words has a literal")


def praises(normalised: str) -> bool:
    """A praise word that no ``NOT_PRAISE`` turn empties, in an already-normalised text."""
    return (
        any(map(normalised.__contains__, _PRAISE_LITERALS))
        and PRAISE.search(normalised) is not None
        and NOT_PRAISE.search(normalised) is None
    )


def states_not_knowing(normalised: str) -> bool:
    """``NOT_KNOWING`` in an already-normalised text."""
    return any(w in normalised for w in _NOT_KNOWING_LITERALS) and bool(
        NOT_KNOWING.search(normalised)
    )


def agrees(normalised: str) -> bool:
    """``AGREEMENT`` in an already-normalised text."""
    return any(w in normalised for w in _AGREEMENT_LITERALS) and bool(AGREEMENT.search(normalised))
