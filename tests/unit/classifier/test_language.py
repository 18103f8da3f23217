"""French, English or undetermined, from function words and accents."""

from __future__ import annotations

import pytest

from services.classifier.language import detect


@pytest.mark.parametrize(
    ("text", "hint", "lang"),
    [
        ("merci beaucoup, super vidéo !", None, "fr"),
        ("je ne sais pas quoi faire", None, "fr"),
        ("où est le magasin ?", None, "fr"),
        ("thanks, this helped a lot", None, "en"),
        ("how do i book an appointment?", None, "en"),
        ("what is the price of the blue one", None, "en"),
        # No function word at all: undetermined, unless the platform gave a hint.
        ("lol", None, "und"),
        ("", None, "und"),
        ("😍😍😍", None, "und"),
        ("ok", "fr", "fr"),
        ("ok", "fr-CA", "fr"),
        ("ok", "EN-us", "en"),
        ("ok", "de", "und"),
        ("ok", "", "und"),
        # The hint breaks ties only; evidence in the text wins over it.
        ("le the", "fr", "fr"),
        ("thanks, this helped a lot", "fr", "en"),
        ("merci beaucoup, super vidéo", "en", "fr"),
        # Accented words count as French evidence.
        ("vidéo géniale", None, "fr"),
    ],
)
def test_detect(text: str, hint: str | None, lang: str) -> None:
    assert detect(text, hint) == lang
