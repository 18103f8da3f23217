"""The console's words in French and English, and which language a request gets: the
``vigie_lang`` cookie (set by the switch), else ``Accept-Language``, else French."""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("fr", "en")
DEFAULT = "fr"
LANG_COOKIE = "vigie_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"fr": "Vigie — console", "en": "Vigie — console"},
    "login": {"fr": "Connexion", "en": "Log in"},
    "name": {"fr": "Nom d'utilisateur", "en": "User name"},
    "password": {"fr": "Mot de passe", "en": "Password"},
    "login_failed": {"fr": "Nom ou mot de passe incorrect.", "en": "Wrong name or password."},
    "login_throttled": {
        "fr": "Trop d'essais infructueux. Réessayez dans {minutes} min.",
        "en": "Too many failed attempts. Try again in {minutes} min.",
    },
    "login_busy": {
        "fr": "Trop de connexions en même temps. Réessayez dans un instant.",
        "en": "Too many logins at once. Try again in a moment.",
    },
    "logout": {"fr": "Se déconnecter", "en": "Log out"},
    "reports": {"fr": "Rapports", "en": "Reports"},
    "report_week": {"fr": "semaine dernière", "en": "last week"},
    "report_month": {"fr": "mois dernier", "en": "last month"},
    "inbox": {"fr": "Cas ouverts", "en": "Open cases"},
    "live": {"fr": "en direct", "en": "live"},
    "offline": {"fr": "reconnexion…", "en": "reconnecting…"},
    "severity": {"fr": "Gravité", "en": "Severity"},
    "status": {"fr": "État", "en": "Status"},
    "platform": {"fr": "Plateforme", "en": "Platform"},
    "label": {"fr": "Étiquette", "en": "Label"},
    "labels": {"fr": "Étiquettes", "en": "Labels"},
    "search": {"fr": "Rechercher", "en": "Search"},
    "filter": {"fr": "Filtrer", "en": "Filter"},
    "any": {"fr": "toutes", "en": "any"},
    "opened": {"fr": "Ouvert", "en": "Opened"},
    "route": {"fr": "Route", "en": "Route"},
    "assignee": {"fr": "Assigné à", "en": "Assignee"},
    "no_cases": {"fr": "Aucun cas.", "en": "No cases."},
    "case": {"fr": "Cas", "en": "Case"},
    "comments": {"fr": "Commentaires", "en": "Comments"},
    "hidden_text": {
        "fr": "Texte visible par les modérateurs seulement.",
        "en": "Text visible to moderators only.",
    },
    "text_not_stored": {
        "fr": "Texte non enregistré dans cette base.",
        "en": "Text not stored in this database.",
    },
    "classification": {"fr": "Classification", "en": "Classification"},
    "rationale": {"fr": "Justification", "en": "Rationale"},
    "timeline": {"fr": "Historique", "en": "Timeline"},
    "actions": {"fr": "Actions", "en": "Actions"},
    "acknowledge": {"fr": "Prendre en charge", "en": "Acknowledge"},
    "resolve": {"fr": "Clore", "en": "Resolve"},
    "reopen": {"fr": "Rouvrir", "en": "Reopen"},
    "assign": {"fr": "Assigner", "en": "Assign"},
    "approve": {"fr": "Approuver", "en": "Approve"},
    "reason": {"fr": "Raison", "en": "Reason"},
    "reject": {"fr": "Rejeter", "en": "Reject"},
    "reply": {"fr": "Répondre", "en": "Reply"},
    "reply_with": {"fr": "Réponse approuvée", "en": "Approved reply"},
    "correct_labels": {
        "fr": "Corriger les étiquettes (pour réentraîner le classifieur)",
        "en": "Correct the labels (to retrain the classifier)",
    },
    "note": {"fr": "Note", "en": "Note"},
    "save": {"fr": "Enregistrer", "en": "Save"},
    "back": {"fr": "Retour aux cas", "en": "Back to cases"},
    "who": {"fr": "Qui", "en": "Who"},
    "what": {"fr": "Quoi", "en": "What"},
    "when": {"fr": "Quand", "en": "When"},
    "read_only": {
        "fr": "Lecture seule : votre rôle ne permet pas d'agir sur les cas.",
        "en": "Read only: your role cannot act on cases.",
    },
    "latest_shown": {
        "fr": "Les {shown} plus récents sur {total}.",
        "en": "The latest {shown} of {total}.",
    },
    "oldest_shown": {
        "fr": "Les {shown} plus anciennes sur {total} ; les suivantes après décision.",
        "en": "The oldest {shown} of {total}; the next ones once these are decided.",
    },
    "feedback_saved": {"fr": "Correction enregistrée.", "en": "Correction recorded."},
}


def pick_lang(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGS:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        primary = tag.split("-")[0].lower()
        if primary in LANGS and weight > 0:
            ranked.append((-weight, index, primary))
    return min(ranked)[2] if ranked else DEFAULT


def translator(lang: str) -> Callable[[str], str]:
    def t(key: str) -> str:
        return MESSAGES[key][lang]

    return t
