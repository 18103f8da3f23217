"""Message texts per channel and language, from the Jinja2 templates beside this module.

The context a template sees is built here and only here: for a sensitive case it holds the
case link, severity and categories, never the comment text or its author. The comment text
appears only for labels that are not sensitive and only when a setting allows it. HTML
templates are autoescaped; Slack's mrkdwn has its own escaping filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared.events import Action, ActionKind, Label

LANGUAGES = ("en", "fr")
TEMPLATES = Path(__file__).parent / "templates"

# Short interface words (buttons), in the same languages as the templates.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "open": "Open the case",
        "ack": "Acknowledge",
        "resolve": "Resolve",
        "acknowledged": "Acknowledged by {by} at {at}",
        "resolved": "Resolved by {by} at {at}",
        "link": "the link sent to {name}",
        "vigie": "Vigie",
        "someone": "someone",
    },
    "fr": {
        "open": "Ouvrir le cas",
        "ack": "Prendre en charge",
        "resolve": "Clore",
        "acknowledged": "Pris en charge par {by} le {at}",
        "resolved": "Clos par {by} le {at}",
        "link": "le lien envoyé à {name}",
        "vigie": "Vigie",
        "someone": "quelqu'un",
    },
}


def slack_escape(value: object) -> str:
    """Slack mrkdwn treats ``& < >`` as control characters."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["slack"] = slack_escape
    return env


def language(action: Action, default: str) -> str:
    lang = (action.lang or "").split("-")[0].lower()
    return lang if lang in LANGUAGES else default


def case_url(action: Action, console_url: str) -> str:
    return f"{console_url.rstrip('/')}/api/v1/cases/{action.case_id}"


def context(action: Action, *, console_url: str, allow_text: bool) -> dict[str, Any]:
    """What a template may show about one action."""
    sensitive = Label.SENSITIVE in action.labels
    return {
        "kind": action.kind.value,
        "case_id": str(action.case_id),
        "case_url": case_url(action, console_url),
        "severity": action.severity.value,
        "labels": [label.value for label in action.labels],
        "categories": list(action.categories),
        "route": action.route,
        "platform": action.comment.platform,
        "comment_url": action.comment_url,
        "opened_at": action.case_opened_at.strftime("%Y-%m-%d %H:%M UTC"),
        "ack_url": action.ack_url,
        "resolve_url": action.resolve_url,
        "sensitive": sensitive,
        "comment_text": action.comment_text if allow_text and not sensitive else None,
        # The router's own words for a page (a digest's summary); never the comment's text.
        "note": action.message if action.kind is ActionKind.NOTIFY else None,
    }


def render(name: str, lang: str, **values: Any) -> str:
    return environment().get_template(f"{lang}/{name}").render(**values).strip()


def render_action(name: str, action: Action, *, lang: str, **options: Any) -> str:
    return render(name, lang, **context(action, **options))


def render_digest(name: str, actions: Sequence[Action], *, lang: str, **options: Any) -> str:
    cases = [context(a, **options) for a in actions]
    return render(name, lang, cases=cases, count=len(cases))


@dataclass(frozen=True, slots=True)
class Style:
    """How messages are written: where cases live, which language, whether text may show."""

    console_url: str
    allow_text: bool = False
    default_lang: str = "en"

    def lang(self, action: Action) -> str:
        return language(action, self.default_lang)

    def case_url(self, action: Action) -> str:
        return case_url(action, self.console_url)

    def words(self, action: Action) -> dict[str, str]:
        return WORDS[self.lang(action)]

    def status(self, action: Action) -> str:
        """The line "Acknowledged by X at T" of an acknowledge or resolve action. The router
        puts who did it in ``message``: a person, ``link:<receiver>`` or ``system:...``."""
        words = self.words(action)
        by = (action.message or "").strip()
        if by.startswith("link:"):
            who = words["link"].format(name=by.removeprefix("link:"))
        elif by.startswith("system:"):
            who = words["vigie"]
        else:
            who = by or words["someone"]
        key = "resolved" if action.kind is ActionKind.RESOLVE else "acknowledged"
        return words[key].format(by=who, at=action.occurred_at.strftime("%Y-%m-%d %H:%M UTC"))

    def render(self, name: str, action: Action) -> str:
        return render_action(
            name,
            action,
            lang=self.lang(action),
            console_url=self.console_url,
            allow_text=self.allow_text,
        )

    def digest(self, name: str, actions: Sequence[Action]) -> str:
        return render_digest(
            name,
            actions,
            lang=self.lang(actions[0]),
            console_url=self.console_url,
            allow_text=self.allow_text,
        )
