"""Question and praise cues, French and English: asking forms, rhetorical questions, praise."""

from __future__ import annotations

import pytest

from services.classifier.lexicon import normalize
from services.classifier.rules import classify, scan
from services.classifier.speech_acts import ASKING, NOT_PRAISE, PRAISE, RHETORICAL
from shared.events import Label

ASKS = [
    # French: inversion, "est-ce que", interrogative words, requests for information.
    "Pouvez-vous m'envoyer le lien",
    "Est-ce que c'est remboursé",
    "Bonjour, est-ce que la boutique est ouverte dimanche",
    "Comment faire pour annuler ma commande",
    "Quand est-ce que la vidéo sort",
    "Combien coûte la consultation",
    "Où trouver le formulaire",
    "Avez-vous des places pour samedi",
    "Y a-t-il une version en anglais",
    "Faut-il prendre rendez-vous",
    "Livrez-vous en Belgique",
    "Je voudrais savoir si le stage est complet",
    "J'aimerais savoir quand vous rouvrez",
    "Quelqu'un sait si c'est compatible",
    "Merci pour la vidéo. Pouvez-vous partager la recette",
    "c'est quand le prochain live",
    # English.
    "Can you send me the link",
    "Does anyone know when the store opens",
    "Is there a gluten free version",
    "How do I reset my password",
    "I was wondering if you ship to Canada",
    "Thanks for the video. What size should I order",
    "Anyone know a good dentist around here",
]

DOES_NOT_ASK = [
    "Quand je vois ça, j'ai envie de pleurer de joie",
    "Quand on veut, on peut",
    "Comment dire, c'est pas terrible",
    "On se donne rendez-vous samedi au marché",
    "je ne vais pas me tuer, rassurez-vous",
    "Abonnez-vous pour ne rien rater",
    "Quelqu'un a volé mon vélo devant chez vous",
    "J'ai reçu ma commande ce matin",
    "What a great video",
    "Which is why I stopped buying here.",
    "Do it now before it sells out",
    "I can't wait for the next one",
]

RHETORICAL_QUESTIONS = [
    "why are you all so stupid?",
    "Why are you people so incompetent",
    "Are you retarded?",
    "are you really that dumb?",
    "Who the hell do you think you are?",
    "What is wrong with you people?",
    "Pourquoi vous êtes tous aussi nuls ?",
    "pourquoi tu es si bête",
    "Vous êtes cons ou quoi ?",
    "t'es débile ou quoi",
    "Vous vous foutez de nous ?",
    "Vous nous prenez pour des pigeons ?",
]

REAL_QUESTIONS = [
    "Why is the shop closed today?",
    "Pourquoi le magasin est fermé aujourd'hui ?",
    "Are you open on Sunday?",
    "Vous êtes ouverts dimanche ?",
    "Why are prices so high this month?",
]

PRAISE_FR = [
    "Un gros merci pour votre patience",
    "Merci mille fois",
    "Beau travail, vraiment",
    "Bon boulot l'équipe",
    "C'est top, rien à redire",
    "J'aime beaucoup votre façon d'expliquer",
    "Vidéo très intéressante",
    "Très bien expliqué, enfin j'ai compris",
    "Ça fait plaisir de lire ça",
    "Vous gérez",
    "Franchement pas mal du tout",
    "Hâte de voir la suite",
    "Superbe reportage",
    "Je kiffe cette nouvelle formule",
    "Quel talent !",
]

# English look-alikes of praise words.
NOT_PRAISE_EN = [
    "Not without giving up someone in our top 6",
    "another 3000 calories on top of that",
    "The BBC covered that up. No thank you.",
    "Still a statistical minority by a great deal.",
    "the way she is so possessive is super uncomfortable",
]

NOT_PRAISE_FR = [
    "Super déçu par le service client",
    "Trop nul ce nouveau site",
    "Merci d'avance pour votre réponse",
    "Merci de me rembourser rapidement",
    "merci pour rien",
    "pas génial cette fois",
    "Toujours en attente de ma commande",
    "Trop cher pour ce que c'est",
]


@pytest.mark.parametrize("text", ASKS)
def test_an_asking_form_asks_even_without_a_question_mark(text: str) -> None:
    normalised = normalize(text)

    assert ASKING.search(normalised), text
    assert scan(normalised).asks


@pytest.mark.parametrize("text", DOES_NOT_ASK)
def test_a_look_alike_does_not_ask(text: str) -> None:
    assert not scan(normalize(text)).asks


@pytest.mark.parametrize("text", RHETORICAL_QUESTIONS)
def test_an_insulting_question_is_rhetorical_not_one_to_answer(text: str) -> None:
    normalised = normalize(text)
    found = scan(normalised)

    assert RHETORICAL.search(normalised), text
    assert found.rhetorical and not found.asks
    assert Label.QUESTION not in classify(text).labels


@pytest.mark.parametrize("text", REAL_QUESTIONS)
def test_a_real_question_is_not_rhetorical(text: str) -> None:
    found = scan(normalize(text))

    assert found.asks and not found.rhetorical
    assert Label.QUESTION in classify(text).labels


@pytest.mark.parametrize("text", PRAISE_FR)
def test_french_praise_cues(text: str) -> None:
    normalised = normalize(text)

    assert PRAISE.search(normalised) and not NOT_PRAISE.search(normalised), text
    assert Label.PRAISE in classify(text, lang_hint="fr").labels


@pytest.mark.parametrize("text", NOT_PRAISE_FR)
def test_french_look_alikes_are_not_praise(text: str) -> None:
    assert not scan(normalize(text)).praise


@pytest.mark.parametrize("text", NOT_PRAISE_EN)
def test_english_look_alikes_are_not_praise(text: str) -> None:
    assert not scan(normalize(text)).praise
    assert Label.PRAISE not in classify(text, lang_hint="en").labels


@pytest.mark.parametrize("text", ["Top, merci !", "Top la vidéo", "vraiment top ce live"])
def test_top_is_still_french_praise(text: str) -> None:
    assert scan(normalize(text)).praise


@pytest.mark.parametrize(
    ("text", "unasked"),
    [
        ("idk what it is either", True),
        ("I do not understand why everything must explode.", True),
        ("I was so confused of why I saw two of them", True),
        ("It's a Honda. Never sure about those.", True),
        ("I don't know how to reset my password", False),  # asks for help
        ("I don't know if I can come", False),
        ("I don't know what it is, do you?", False),  # a "?"
        ("Not sure. Does anyone know when it opens", False),  # an asking form
        ("Je ne sais pas ce que c'est", False),  # English only
    ],
)
def test_a_statement_of_not_knowing_asks_nothing(text: str, unasked: bool) -> None:
    assert scan(normalize(text)).unasked is unasked


@pytest.mark.parametrize(
    ("text", "agrees"),
    [
        ("Glad we agree.", True),
        ("I totally agree with this", True),
        ("You're absolutely right", True),
        ("I second that", True),
        ("Good luck with the move", True),
        ("Tout à fait d'accord", True),
        ("Vous avez raison", True),
        ("Bonne chance pour la suite", True),
        ("I agree, thanks for the video", False),  # a praise word: praise
        ("I've had good luck with them", False),
        ("Good video", False),
    ],
)
def test_agreement_without_a_praise_word(text: str, agrees: bool) -> None:
    assert scan(normalize(text)).agrees is agrees
