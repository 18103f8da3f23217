"""Reply texts from approved templates: the comment's language, the route's country, and the
resource directory's entries. Nothing else ever goes into a reply."""

from __future__ import annotations

from dataclasses import dataclass

from services.router.policy.resources import Resource, ResourceDirectory
from services.router.policy.schema import PLACEHOLDER, TemplateConfig


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    lang: str
    resources: tuple[str, ...]  # the ids of the entries listed, for the audit log


def resource_line(entry: Resource, lang: str) -> str:
    hours = entry.localised_hours(lang)
    line = f"{entry.localised_name(lang)} — {entry.contact}"
    return f"{line} ({hours})" if hours else line


def render(
    template: TemplateConfig,
    *,
    lang: str,
    country: str | None,
    directory: ResourceDirectory | None,
) -> Reply:
    """The template in ``lang`` (else in its first language) with its resources listed.

    The policy is validated so that a template that lists resources always has a country and
    entries; should it not, the reply is refused rather than sent without them.
    """
    used = lang if lang in template.text else next(iter(template.text))
    body = template.text[used]
    if not template.resources:
        return Reply(body, used, ())
    if directory is None or country is None:
        raise ValueError(f"template {template.name!r} needs a country and a resource directory")
    entries = directory.lookup(country=country, kinds=template.resources)
    if not entries:
        raise ValueError(f"no resources for {country} in template {template.name!r}")
    listing = "\n".join(resource_line(entry, used) for entry in entries)
    return Reply(body.replace(PLACEHOLDER, listing), used, tuple(e.id for e in entries))
