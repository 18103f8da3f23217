"""What Vigie's Grafana dashboards show: their panels, queries, units and variables.

Data only; deploy/grafana/build.py turns it into the JSON files Grafana provisions.
"""

from __future__ import annotations

from dataclasses import dataclass

RATE = "$__rate_interval"
# Outcomes of a webhook that are not a rejection or a failure.
NORMAL_OUTCOMES = "accepted|duplicate|not_comment|handshake"
FAILED_OUTCOMES = "adapter_error|bus_unavailable"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    text_mode: str = "value_and_name"  # stat panels: "name" shows the labels alone (info)
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Variable:
    """A multi-value template variable; "All" is the regex ``.*``."""

    name: str
    label: str
    query: str


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...] = ()


def q(expr: str, legend: str) -> tuple[Query, ...]:
    return (Query(expr, legend),)


def quantiles(
    metric: str, by: str, selector: str, window: str, *levels: float
) -> tuple[Query, ...]:
    """One histogram_quantile query per level, grouped by ``by`` (besides ``le``)."""
    group = f"le, {by}" if by else "le"
    prefix = f"{{{{{by}}}}} " if by else ""
    return tuple(
        Query(
            f"histogram_quantile({level}, sum by ({group}) "
            f"(rate({metric}_bucket{{{selector}}}[{window}])))",
            f"{prefix}p{round(level * 100)}",
        )
        for level in levels
    )


SERVICE = 'service=~"$service"'
PLATFORM = 'platform=~"$platform"'
CHANNEL = 'channel=~"$channel"'

PIPELINE = Dashboard(
    uid="vigie-pipeline",
    title="Vigie — pipeline",
    description="Throughput, latency, freshness, lag and errors of the pipeline "
    "(ingest → classifier → router → notifier).",
    variables=(Variable("service", "Service", 'label_values(up{job="vigie"}, service)'),),
    panels=(
        Panel(
            "Ingest: webhooks per second by outcome",
            "Webhooks received, by outcome (accepted or the rejection reason).",
            q(
                f"sum by (outcome) (rate(vigie_ingest_webhooks_total{{{SERVICE}}}[{RATE}]))",
                "{{outcome}}",
            ),
            unit="reqps",
        ),
        Panel(
            "Ingest: acknowledgement latency (p50, p99)",
            "From request received to the broker's acknowledgement of its events.",
            quantiles("vigie_ingest_ack_seconds", "", SERVICE, RATE, 0.5, 0.99),
            unit="s",
        ),
        Panel(
            "Events published per second by topic",
            "Events acknowledged by the broker, by topic.",
            q(
                f"sum by (topic) (rate(vigie_events_published_total{{{SERVICE}}}[{RATE}]))",
                "{{topic}}",
            ),
            unit="ops",
        ),
        Panel(
            "Stages: records per second by stage and outcome",
            "Records handled by each stage (ok, dlq, retry); rising dlq or retry needs a look.",
            q(
                f"sum by (stage, outcome) (rate(vigie_stage_records_total{{{SERVICE}}}[{RATE}]))",
                "{{stage}} {{outcome}}",
            ),
            unit="ops",
        ),
        Panel(
            "Stages: p99 batch processing time",
            "Time to process one batch, from poll to commit.",
            quantiles("vigie_stage_seconds", "stage", SERVICE, RATE, 0.99),
            unit="s",
        ),
        Panel(
            "Stages: p99 event age at the end of each stage",
            "From the comment's platform event time to the end of each stage: end-to-end "
            "freshness. The router's line is how old a comment is when its case is decided.",
            quantiles("vigie_stage_event_age_seconds", "stage", SERVICE, RATE, 0.99),
            unit="s",
        ),
        Panel(
            "Consumer lag by group",
            "Records behind the end of the partitions each consumer group reads.",
            q(
                "sum by (group) (max by (group, topic, partition) "
                f"(vigie_consumer_lag_records{{{SERVICE}}}))",
                "{{group}}",
            ),
        ),
        Panel(
            "Dead-letter topics: records held",
            "Records in each <topic>.dlq (poison records, kept with the reason in headers).",
            q(f"max by (topic) (vigie_dlq_records{{{SERVICE}}})", "{{topic}}"),
        ),
        Panel(
            "Errors per second",
            "Rejected webhooks (4xx: signatures, tokens, bodies), ingest failures (5xx: "
            "adapter_error, bus_unavailable), stage records sent to a DLQ or retried.",
            (
                Query(
                    "sum by (outcome) (rate(vigie_ingest_webhooks_total"
                    f'{{{SERVICE}, outcome!~"{NORMAL_OUTCOMES}|{FAILED_OUTCOMES}"}}[{RATE}]))'
                    " or vector(0)",
                    "rejected {{outcome}}",
                ),
                Query(
                    "sum by (outcome) (rate(vigie_ingest_webhooks_total"
                    f'{{{SERVICE}, outcome=~"{FAILED_OUTCOMES}"}}[{RATE}])) or vector(0)',
                    "failed {{outcome}}",
                ),
                Query(
                    "sum by (stage, outcome) (rate(vigie_stage_records_total"
                    f'{{{SERVICE}, outcome!="ok"}}[{RATE}])) or vector(0)',
                    "dlq/retry {{stage}} {{outcome}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Ingest: time since each source's last comment",
            "Alerted on when longer than the platform's expected interval "
            "(VIGIE_SOURCE_SILENCE_AFTER).",
            q(
                "time() - max by (platform, source) "
                f"(vigie_ingest_source_last_event_timestamp_seconds{{{SERVICE}}})",
                "{{platform}} {{source}}",
            ),
            unit="s",
        ),
        Panel(
            "Services up",
            "Targets answering Prometheus' scrape, per service.",
            q(f'sum by (service) (up{{job="vigie", {SERVICE}}})', "{{service}}"),
            kind="stat",
            height=5,
        ),
        Panel(
            "Versions running",
            "Targets per service and version.",
            q(
                f"count by (service, version) (vigie_build_info{{{SERVICE}}})",
                "{{service}} {{version}}",
            ),
            kind="stat",
            text_mode="name",
            height=5,
        ),
    ),
)

TTH = 'vigie_router_time_to_human_seconds_bucket{severity="critical"'
MODERATION = Dashboard(
    uid="vigie-moderation",
    title="Vigie — moderation",
    description="What the comments say and how fast people answer: labels, cases, "
    "time to a human, SLA breaches, the policy in force.",
    variables=(
        Variable("platform", "Platform", "label_values(vigie_classifier_labels_total, platform)"),
    ),
    panels=(
        Panel(
            "Labels per second by label and platform",
            "Labels the classifier gives (a comment may have several).",
            q(
                "sum by (label, platform) "
                f"(rate(vigie_classifier_labels_total{{{PLATFORM}}}[{RATE}]))",
                "{{label}} {{platform}}",
            ),
            unit="ops",
        ),
        Panel(
            "Labels per second by language",
            "Detected language of the labelled comments.",
            q(
                f"sum by (lang) (rate(vigie_classifier_labels_total{{{PLATFORM}}}[{RATE}]))",
                "{{lang}}",
            ),
            unit="ops",
        ),
        Panel(
            "Categories per second",
            "Finer categories given by the classifier.",
            q(
                f"sum by (category) (rate(vigie_classifier_categories_total[{RATE}]))",
                "{{category}}",
            ),
            unit="ops",
        ),
        Panel(
            "Cases not resolved, by severity and state",
            "Counted from the database at scrape time (max over router replicas).",
            q("max by (severity, state) (vigie_router_open_cases)", "{{severity}} {{state}}"),
        ),
        Panel(
            "Cases opened, acknowledged and resolved per hour",
            "By severity.",
            (
                Query(
                    f"3600 * sum by (severity) (rate(vigie_router_cases_opened_total[{RATE}]))",
                    "opened {{severity}}",
                ),
                Query(
                    "3600 * sum by (transition, severity) "
                    "(rate(vigie_router_case_transitions_total"
                    f'{{transition=~"acknowledged?|resolved?"}}[{RATE}]))',
                    "{{transition}} {{severity}}",
                ),
            ),
            unit="suffix:/h",
        ),
        Panel(
            "Time to a human, critical cases (p50, p90, last hour)",
            "From the platform event time of the case's first comment to the first human "
            "acknowledgement. SLO: 99% within 15 minutes.",
            quantiles(
                "vigie_router_time_to_human_seconds", "", 'severity="critical"', "1h", 0.5, 0.9
            ),
            unit="s",
        ),
        Panel(
            "Time to acknowledge by severity (p50, p90, last hour)",
            "From the case opening to its first human acknowledgement.",
            quantiles("vigie_router_time_to_acknowledge_seconds", "severity", "", "1h", 0.5, 0.9),
            unit="s",
        ),
        Panel(
            "Crisis SLO: critical cases reaching a human within 15 minutes (last 24 h)",
            "Share of critical cases acknowledged within 15 minutes of the comment (objective "
            "99%); empty when no critical case was acknowledged in the window.",
            q(
                f'sum(rate({TTH}, le=~"900(\\\\.0)?"}}[1d])) '
                "/ sum(rate(vigie_router_time_to_human_seconds_count"
                '{severity="critical"}[1d]))',
                "within 15 min",
            ),
            unit="percentunit",
            kind="stat",
        ),
        Panel(
            "SLA breaches in the last hour",
            "Cases past their acknowledgement deadline unacknowledged; questions past their "
            "answer deadline.",
            q(
                "sum by (severity, kind) (increase(vigie_router_sla_breaches_total[1h]))"
                " or vector(0)",
                "breaches {{kind}} {{severity}}",
            ),
        ),
        Panel(
            "Overdue cases by severity",
            "Cases not acknowledged past their deadline (the chain's first escalation).",
            q(
                "max by (severity) (vigie_router_overdue_cases) or vector(0)",
                "overdue {{severity}}",
            ),
        ),
        Panel(
            "Policy version in force",
            "The escalation policy each router runs.",
            q("max by (version) (vigie_router_policy_info)", "{{version}}"),
            kind="stat",
            text_mode="name",
            width=24,
            height=5,
        ),
    ),
)

DELIVERIES = Dashboard(
    uid="vigie-deliveries",
    title="Vigie — deliveries",
    description="Pages and replies sent by the notifier: outcomes, failures, retries, latency.",
    variables=(
        Variable("channel", "Channel", "label_values(vigie_notifier_deliveries_total, channel)"),
    ),
    panels=(
        Panel(
            "Deliveries per second by channel and outcome",
            "delivered, failed (permanent error or retries exhausted), duplicate (already sent).",
            q(
                "sum by (channel, outcome) "
                f"(rate(vigie_notifier_deliveries_total{{{CHANNEL}}}[{RATE}]))",
                "{{channel}} {{outcome}}",
            ),
            unit="ops",
        ),
        Panel(
            "Failed deliveries per second by channel",
            "Deliveries given up: the receiver never got them.",
            q(
                "sum by (channel) (rate(vigie_notifier_deliveries_total"
                f'{{{CHANNEL}, outcome="failed"}}[{RATE}])) or vector(0)',
                "failed {{channel}}",
            ),
            unit="ops",
        ),
        Panel(
            "Retries per second by channel",
            "Attempts that failed with a recoverable error and will be tried again.",
            q(
                "sum by (channel) (rate(vigie_notifier_attempts_total"
                f'{{{CHANNEL}, result="retryable"}}[{RATE}])) or vector(0)',
                "retries {{channel}}",
            ),
            unit="ops",
        ),
        Panel(
            "Attempts per second by channel and result",
            "ok, retryable, permanent.",
            q(
                "sum by (channel, result) "
                f"(rate(vigie_notifier_attempts_total{{{CHANNEL}}}[{RATE}]))",
                "{{channel}} {{result}}",
            ),
            unit="ops",
        ),
        Panel(
            "Send latency by channel (p50, p99)",
            "Time of one send attempt.",
            quantiles("vigie_notifier_send_seconds", "channel", CHANNEL, RATE, 0.5, 0.99),
            unit="s",
        ),
        Panel(
            "Notifier dead-letter topic",
            "Actions the notifier could not read (records held in the DLQ, and the rate sent "
            "there).",
            (
                Query(
                    'max by (topic) (vigie_dlq_records{topic=~".*actions.*"}) or vector(0)',
                    "held {{topic}}",
                ),
                Query(
                    "sum by (outcome) (rate(vigie_stage_records_total"
                    f'{{stage=~"notifier.*", outcome!="ok"}}[{RATE}])) or vector(0)',
                    "notifier {{outcome}} per second",
                ),
            ),
        ),
    ),
)

DASHBOARDS = {"pipeline": PIPELINE, "moderation": MODERATION, "deliveries": DELIVERIES}
