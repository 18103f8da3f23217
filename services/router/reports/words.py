"""The report's interface words, in French and English."""

from __future__ import annotations

LANGUAGES = ("en", "fr")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title_week": "Vigie weekly report",
        "title_month": "Vigie monthly report",
        "period": "Period",
        "previous": "previous period",
        "generated": "Generated",
        "time_zone": "time zone",
        "overview": "Overview",
        "comments": "Comments",
        "cases_opened": "Cases opened",
        "by_platform": "Comments by platform",
        "by_label": "Comments by label",
        "daily": "Comments per day",
        "legend": "dark: this period · light: previous period",
        "crisis": "Crisis cases (critical or sensitive)",
        "crisis_cases": "Crisis cases",
        "acknowledged": "Acknowledged",
        "median_ack": "Median time to acknowledge",
        "p90_ack": "90th percentile",
        "case": "Case",
        "opened": "Opened",
        "severity": "Severity",
        "route": "Route",
        "time_to_ack": "Time to acknowledge",
        "deadline": "Deadline",
        "within": "Within deadline",
        "yes": "yes",
        "no": "no",
        "not_yet": "not yet",
        "none_set": "none",
        "breaches": "Missed deadlines",
        "ack_breaches": "Cases not acknowledged within their deadline",
        "late_by": "Late by",
        "unacked": "still not acknowledged",
        "answer_breaches": "Questions answered past their deadline",
        "answer_due": "Answer due",
        "answered_at": "Answered",
        "waiting": "still waiting",
        "no_breach": "None: every deadline was met.",
        "questions": "Questions",
        "queued": "Queued for an answer",
        "answered": "Answered",
        "answered_late": "of which late",
        "pending": "Still pending",
        "pending_overdue": "of which overdue",
        "topics": "Top topics",
        "rising": "Rising topics",
        "term": "Term",
        "count": "Comments",
        "change": "Change",
        "praise": "Praise highlights",
        "nothing": "Nothing this period.",
        "more": "… and {n} more: the JSON report (vigie report --format json, or the API) "
        "lists them all.",
        "privacy": "Sensitive comments are left out of topics; excerpts carry no author names.",
        "sensitive": "sensitive",
        "abusive": "abusive",
        "question": "question",
        "praise_label": "praise",
        "none": "no label",
    },
    "fr": {
        "title_week": "Vigie — rapport hebdomadaire",
        "title_month": "Vigie — rapport mensuel",
        "period": "Période",
        "previous": "période précédente",
        "generated": "Généré le",
        "time_zone": "fuseau horaire",
        "overview": "Vue d'ensemble",
        "comments": "Commentaires",
        "cases_opened": "Cas ouverts",
        "by_platform": "Commentaires par plateforme",
        "by_label": "Commentaires par étiquette",
        "daily": "Commentaires par jour",
        "legend": "foncé : cette période · clair : période précédente",
        "crisis": "Cas de crise (critiques ou sensibles)",
        "crisis_cases": "Cas de crise",
        "acknowledged": "Pris en charge",
        "median_ack": "Délai médian de prise en charge",
        "p90_ack": "90e centile",
        "case": "Cas",
        "opened": "Ouvert le",
        "severity": "Gravité",
        "route": "Route",
        "time_to_ack": "Délai de prise en charge",
        "deadline": "Échéance",
        "within": "Dans les délais",
        "yes": "oui",
        "no": "non",
        "not_yet": "pas encore",
        "none_set": "aucune",
        "breaches": "Délais dépassés",
        "ack_breaches": "Cas non pris en charge dans les délais",
        "late_by": "Retard",
        "unacked": "toujours pas pris en charge",
        "answer_breaches": "Questions répondues après l'échéance",
        "answer_due": "Réponse attendue",
        "answered_at": "Répondue le",
        "waiting": "toujours en attente",
        "no_breach": "Aucun : tous les délais ont été tenus.",
        "questions": "Questions",
        "queued": "En attente de réponse",
        "answered": "Répondues",
        "answered_late": "dont en retard",
        "pending": "Toujours en attente",
        "pending_overdue": "dont en retard",
        "topics": "Sujets principaux",
        "rising": "Sujets en hausse",
        "term": "Terme",
        "count": "Commentaires",
        "change": "Évolution",
        "praise": "Messages positifs",
        "nothing": "Rien sur cette période.",
        "more": "… et {n} de plus : le rapport JSON (vigie report --format json, ou l'API) "
        "les liste tous.",
        "privacy": "Les commentaires sensibles sont exclus des sujets ; "
        "les extraits ne portent aucun nom d'auteur.",
        "sensitive": "sensible",
        "abusive": "abusif",
        "question": "question",
        "praise_label": "éloge",
        "none": "sans étiquette",
    },
}


def label_word(label: str, lang: str) -> str:
    key = "praise_label" if label == "praise" else label
    return WORDS[lang].get(key, label)


def duration(seconds: float | None, lang: str) -> str:
    """``45 s``, ``12 min``, ``3 h 05``, ``2 d 4 h`` (``j`` in French)."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest:02d}"
    days, hours = divmod(hours, 24)
    return f"{days} {'j' if lang == 'fr' else 'd'} {hours} h"
