"""The policy file's schema: what each key may hold. Cross-references are checked in
``references.py``, inheritance and matching in ``tree.py``."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from services.router.policy.durations import Duration
from services.router.policy.matchers import parse_matcher
from services.router.policy.resources import COUNTRY, KINDS, LANGUAGE
from services.router.policy.timewindows import TimeWindow
from shared.events import Channel, Severity

NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
GROUP_FIELDS = ("platform", "source", "author_id", "post_id", "thread_id", "label")
# What an inhibition may require to be equal between the open case and the new comment.
EQUAL_FIELDS = ("platform", "source", "author_id", "post_id", "thread_id")
PLACEHOLDER = "{resources}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _matcher(text: str) -> str:
    parse_matcher(text)
    return text


MatcherText = Annotated[str, AfterValidator(_matcher)]


class ActionType(StrEnum):
    REPLY = "reply"
    HIDE = "hide"
    QUEUE = "queue"
    LIKE = "like"


class Approval(StrEnum):
    AUTO = "auto"
    REQUIRES_APPROVAL = "requires_approval"


# Channels addressed by a URL in the policy; every other channel names a ``target`` that the
# notifier resolves with its own settings (tokens, webhook URLs and keys are secrets).
URL_CHANNELS = frozenset({Channel.WEBHOOK})
# Channels that act on a platform, not on a person: the router addresses them itself.
PLATFORM_CHANNELS = frozenset({Channel.META, Channel.X})


class ReceiverConfig(_Frozen):
    name: str = Field(pattern=NAME)
    channel: Channel
    url: str = Field(
        default="", description="webhook: the signed webhook's address (http:// or https://)."
    )
    target: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Other channels: a Slack channel id, the name of a Slack or Teams webhook "
        "setting, e-mail addresses (comma-separated), a PagerDuty routing key's name or E.164 "
        "phone numbers. Never a secret.",
    )
    fallback: str | None = Field(
        default=None,
        pattern=NAME,
        description="The receiver that gets an alert this one could not be given.",
    )
    quiet_hours: tuple[str, ...] = Field(
        default=(), description="Time windows in which only critical cases page this receiver."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://\S+$", value):
            raise ValueError("url must be http:// or https://")
        return value

    @model_validator(mode="after")
    def _address_of_channel(self) -> ReceiverConfig:
        if self.channel in PLATFORM_CHANNELS:
            raise ValueError(
                f"{self.channel.value} acts on the platform's comments; it is not a receiver "
                "(use a route's reply or hide action)"
            )
        if self.channel in URL_CHANNELS:
            if not self.url:
                raise ValueError(f"a {self.channel.value} receiver needs url: http(s)://...")
            if self.target is not None:
                raise ValueError(f"a {self.channel.value} receiver takes a url, not a target")
        else:
            if self.target is None:
                raise ValueError(f"a {self.channel.value} receiver needs its target")
            if self.url:
                raise ValueError(f"a {self.channel.value} receiver takes a target, not a url")
        if self.fallback == self.name:
            raise ValueError("a receiver cannot be its own fallback")
        return self


class ActionConfig(_Frozen):
    kind: ActionType
    template: str | None = Field(default=None, description="reply: the approved template.")
    sla: Duration | None = Field(default=None, description="queue: answer within this long.")
    approval: Approval | None = Field(default=None, description="Default: the policy's.")

    @model_validator(mode="after")
    def _fields_of_kind(self) -> ActionConfig:
        if self.kind is ActionType.REPLY and self.template is None:
            raise ValueError("a reply names its template (template: ...)")
        if self.kind is not ActionType.REPLY and self.template is not None:
            raise ValueError(f"only a reply takes a template, not {self.kind.value}")
        if self.kind is ActionType.QUEUE and self.sla is None:
            raise ValueError("a queue action needs its sla (e.g. sla: 4h)")
        if self.kind is not ActionType.QUEUE and self.sla is not None:
            raise ValueError(f"only a queue action takes an sla, not {self.kind.value}")
        return self


class RouteOptions(_Frozen):
    """What a route inherits from its parent unless it sets it (copy-then-override)."""

    severity: Severity | None = Field(
        default=None, description="Case severity; default: the classification's."
    )
    open_case: bool | None = None
    notify: tuple[str, ...] | None = None
    chain: str | None = None
    group_by: tuple[str, ...] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    digest_after: int | None = Field(default=None, ge=1)
    actions: tuple[ActionConfig, ...] | None = None
    country: str | None = Field(default=None, pattern=COUNTRY)

    @field_validator("group_by")
    @classmethod
    def _group_fields(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = [f for f in value or () if f not in GROUP_FIELDS]
        if unknown:
            raise ValueError(f"unknown group_by field(s) {unknown}; known: {list(GROUP_FIELDS)}")
        return value

    @model_validator(mode="after")
    def _one_way_to_page(self) -> RouteOptions:
        if self.notify is not None and self.chain is not None:
            raise ValueError("set notify or chain, not both (notify is a one-step chain)")
        return self


class RouteConfig(RouteOptions):
    name: str = Field(pattern=NAME)
    matchers: tuple[MatcherText, ...] = ()
    active_during: tuple[str, ...] = Field(
        default=(), description="Time windows: the route matches only inside one of them."
    )
    inactive_during: tuple[str, ...] = Field(
        default=(), description="Time windows: the route never matches inside them."
    )
    continue_: bool = Field(default=False, alias="continue")
    routes: tuple[RouteConfig, ...] = ()


class Defaults(RouteOptions):
    """The root route's options: every route starts from these."""


class TemplateConfig(_Frozen):
    name: str = Field(pattern=NAME)
    text: dict[str, str] = Field(
        min_length=1, description="By language; the first is used for other languages."
    )
    resources: tuple[str, ...] = Field(
        default=(), description="Kinds of resource listed where the text says {resources}."
    )

    @field_validator("text")
    @classmethod
    def _text(cls, value: dict[str, str]) -> dict[str, str]:
        for lang, body in value.items():
            if not re.match(LANGUAGE, lang):
                raise ValueError(f"text keys are language codes (fr, en...), not {lang!r}")
            stripped = body.replace(PLACEHOLDER, "")
            if "{" in stripped or "}" in stripped:
                raise ValueError(f"text.{lang}: the only placeholder is {PLACEHOLDER}")
        return value

    @field_validator("resources")
    @classmethod
    def _kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in value if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown resource kind(s) {unknown}; known: {list(KINDS)}")
        return value

    @model_validator(mode="after")
    def _placeholder(self) -> TemplateConfig:
        for lang, body in self.text.items():
            if self.resources and PLACEHOLDER not in body:
                raise ValueError(f"text.{lang} must say where the resources go: {PLACEHOLDER}")
            if not self.resources and PLACEHOLDER in body:
                raise ValueError(f"text.{lang} uses {PLACEHOLDER} but lists no resources")
        return self


class ChainStep(_Frozen):
    notify: tuple[str, ...] = Field(min_length=1)
    wait: Duration = Field(description="Before the next step, unless acknowledged.")


class ChainConfig(_Frozen):
    """Page a tier, wait, page the next... until acknowledged; then remind past the SLA."""

    name: str = Field(pattern=NAME)
    steps: tuple[ChainStep, ...] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=20, description="Run the steps again N times.")
    then: Literal["stop", "resolve"] = Field(
        default="stop", description="After the last wait: leave the case open, or resolve it."
    )
    sla: Duration | None = Field(
        default=None, description="Acknowledged but unresolved past this: remind."
    )
    remind_every: Duration | None = None
    remind: tuple[str, ...] = Field(default=(), description="Default: the first step's.")

    @model_validator(mode="after")
    def _reminders(self) -> ChainConfig:
        if (self.remind_every or self.remind) and self.sla is None:
            raise ValueError("reminders need an sla")
        if any(step.wait <= timedelta(0) for step in self.steps):
            raise ValueError("every step waits a positive time before the next")
        return self


class InhibitRule(_Frozen):
    """An open case matching ``source_matchers`` mutes the pages of new comments matching
    ``target_matchers`` when the ``equal`` fields agree."""

    name: str = Field(pattern=NAME)
    source_matchers: tuple[MatcherText, ...] = Field(min_length=1)
    target_matchers: tuple[MatcherText, ...] = Field(min_length=1)
    equal: tuple[str, ...] = Field(min_length=1)

    @field_validator("equal")
    @classmethod
    def _equal(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in value if f not in EQUAL_FIELDS]
        if unknown:
            raise ValueError(f"unknown equal field(s) {unknown}; known: {list(EQUAL_FIELDS)}")
        return value


class ResourcesConfig(_Frozen):
    file: str = Field(min_length=1, description="Relative to the policy file's directory.")
    max_age: Duration = Field(
        default=timedelta(days=180), description="lint warns about entries verified earlier."
    )


class PolicyConfig(_Frozen):
    version: str = Field(min_length=1, max_length=40)
    receivers: tuple[ReceiverConfig, ...] = ()
    time_windows: tuple[TimeWindow, ...] = ()
    templates: tuple[TemplateConfig, ...] = ()
    resources: ResourcesConfig | None = None
    chains: tuple[ChainConfig, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()
    approval: dict[ActionType, Approval] = Field(
        default_factory=dict, description="Default approval per action kind (else auto)."
    )
    defaults: Defaults = Defaults()
    routes: tuple[RouteConfig, ...] = Field(min_length=1)
