"""Monitoring as code: log-based metrics from the function's log lines, alert policies, a dashboard.

The function writes one JSON line per event (function/labeling/logs.py); Cloud Run parses stdout JSON
into `jsonPayload` (https://cloud.google.com/run/docs/logging#writing_structured_logs), which the
log-based metrics below count. Google's own metrics cover the rest: Pub/Sub subscription backlog and
age, Cloud Run request counts and instances. The runbook for every alert is the README's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

from infra.settings import Alerting

# Log-based metrics (names are documented in the README; dashboards and alerts refer to them).
EVENTS_METRIC = "ai_service_events"
LATENCY_METRIC = "ai_service_latency"
# Every event's log line has these keys (labeling/logs.py log_outcome); null becomes "".
EVENT_LABELS: Mapping[str, str] = {
    "status": "Outcome: labeled, failed, dropped or retry.",
    "matched": "true when a target label matched (labeled results), else false.",
    "error_code": "Why an event failed, was dropped or retried (e.g. NOT_AN_IMAGE, TRANSIENT).",
    "decision": "accept, review or reject with a review band (REVIEW_MIN_SCORE), else empty.",
}
EVENT_STATUSES = ("labeled", "failed", "dropped", "retry")

# Google metrics of the resources the stack creates.
UNDELIVERED = "pubsub.googleapis.com/subscription/num_undelivered_messages"
OLDEST_UNACKED_AGE = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
REQUEST_COUNT = "run.googleapis.com/request_count"
INSTANCE_COUNT = "run.googleapis.com/container/instance_count"
SUBSCRIPTION_RESOURCE = "pubsub_subscription"
# Gen2 functions run as Cloud Run services; their logs and metrics name this resource type.
FUNCTION_RESOURCE = "cloud_run_revision"

# Latency buckets: 1 ms growing by 1.4x, 40 finite buckets reach about 700 s, beyond the 540 s
# function timeout, at about +-20 % resolution.
LATENCY_BUCKETS = gcp.logging.MetricBucketOptionsExponentialBucketsArgs(
    scale=1.0, growth_factor=1.4, num_finite_buckets=40
)
AUTO_CLOSE = "1800s"  # an incident whose condition has had no data for 30 min closes itself


def user_metric_type(name: str) -> str:
    """The metric type Cloud Monitoring gives a user-defined log-based metric."""
    return f"logging.googleapis.com/user/{name}"


def events_log_filter(service_name: str) -> str:
    """The function's event lines: its Cloud Run service, one of the four outcomes."""
    statuses = " OR ".join(f'jsonPayload.status="{status}"' for status in EVENT_STATUSES)
    return (
        f'resource.type="{FUNCTION_RESOURCE}" AND '
        f'resource.labels.service_name="{service_name}" AND ({statuses})'
    )


def latency_log_filter(service_name: str) -> str:
    """Event lines that measured a latency (a request dropped before the handler has none)."""
    return f"{events_log_filter(service_name)} AND jsonPayload.latency_ms>=0"


def _labels(selectors: Mapping[str, str], prefix: str) -> list[str]:
    return [f'{prefix}.{key}="{value}"' for key, value in selectors.items()]


def subscription_metric_filter(metric: str, subscription: str) -> str:
    return " AND ".join(
        [
            f'metric.type="{metric}"',
            f'resource.type="{SUBSCRIPTION_RESOURCE}"',
            f'resource.labels.subscription_id="{subscription}"',
        ]
    )


def function_metric_filter(metric: str, service_name: str, **metric_labels: str) -> str:
    return " AND ".join(
        [
            f'metric.type="{metric}"',
            f'resource.type="{FUNCTION_RESOURCE}"',
            f'resource.labels.service_name="{service_name}"',
            *_labels(metric_labels, "metric.labels"),
        ]
    )


def events_filter(service_name: str, **metric_labels: str) -> str:
    return function_metric_filter(user_metric_type(EVENTS_METRIC), service_name, **metric_labels)


def latency_filter(service_name: str) -> str:
    return function_metric_filter(user_metric_type(LATENCY_METRIC), service_name)


@dataclass(frozen=True)
class Watched:
    """The names of what is watched, as the resources report them."""

    project: str
    service_name: str
    push_subscription: str
    dead_letter_subscription: str


# --- The dashboard, generated (Monitoring API v1 Dashboard JSON, mosaicLayout) ----------------------


def _aggregation(
    aligner: str, reducer: str, group_by: Sequence[str] = (), period: str = "60s"
) -> dict[str, Any]:
    aggregation: dict[str, Any] = {
        "alignmentPeriod": period,
        "perSeriesAligner": aligner,
        "crossSeriesReducer": reducer,
    }
    if group_by:
        aggregation["groupByFields"] = list(group_by)
    return aggregation


def _series(
    filter_: str, aggregation: dict[str, Any], legend: str = "", plot: str = "LINE"
) -> dict[str, Any]:
    data_set: dict[str, Any] = {
        "timeSeriesQuery": {"timeSeriesFilter": {"filter": filter_, "aggregation": aggregation}},
        "plotType": plot,
        "minAlignmentPeriod": aggregation["alignmentPeriod"],
        "targetAxis": "Y1",
    }
    if legend:
        data_set["legendTemplate"] = legend
    return data_set


def _chart(
    title: str,
    data_sets: list[dict[str, Any]],
    y_label: str,
    thresholds: Sequence[tuple[float, str]] = (),
) -> dict[str, Any]:
    chart: dict[str, Any] = {
        "dataSets": data_sets,
        "yAxis": {"label": y_label, "scale": "LINEAR"},
    }
    if thresholds:
        chart["thresholds"] = [
            {"value": value, "label": label, "targetAxis": "Y1"} for value, label in thresholds
        ]
    return {"title": title, "xyChart": chart}


def dashboard_widgets(watched: Watched, alerting: Alerting) -> list[dict[str, Any]]:
    """The charts an operator looks at first, in reading order."""
    service = watched.service_name

    def per_minute_by(*fields: str) -> dict[str, Any]:
        return _aggregation("ALIGN_DELTA", "REDUCE_SUM", fields)

    labeled = events_filter(service, status="labeled")
    matched_share = {
        "timeSeriesQuery": {
            "timeSeriesFilterRatio": {
                "numerator": {
                    "filter": events_filter(service, status="labeled", matched="true"),
                    "aggregation": _aggregation("ALIGN_RATE", "REDUCE_SUM"),
                },
                "denominator": {
                    "filter": labeled,
                    "aggregation": _aggregation("ALIGN_RATE", "REDUCE_SUM"),
                },
            }
        },
        "plotType": "LINE",
        "minAlignmentPeriod": "60s",
        "targetAxis": "Y1",
        "legendTemplate": "matched / labeled",
    }
    latency = [
        _series(
            latency_filter(service),
            _aggregation("ALIGN_DELTA", f"REDUCE_PERCENTILE_{percentile}"),
            f"p{percentile}",
        )
        for percentile in (50, 95, 99)
    ]
    return [
        _chart(
            "Events per minute by outcome",
            [
                _series(
                    events_filter(service),
                    per_minute_by("metric.labels.status"),
                    "${metric.labels.status}",
                    "STACKED_BAR",
                )
            ],
            "events / min",
        ),
        _chart("Matched share of labeled images", [matched_share], "share (0-1)"),
        _chart("Latency per event (p50, p95, p99)", latency, "ms"),
        _chart(
            "Failures, drops and retries per minute by error_code",
            [
                _series(
                    events_filter(service),
                    per_minute_by("metric.labels.status", "metric.labels.error_code"),
                    "${metric.labels.status} ${metric.labels.error_code}",
                    "STACKED_BAR",
                )
            ],
            "events / min",
        ),
        _chart(
            "Push backlog: undelivered messages",
            [
                _series(
                    subscription_metric_filter(UNDELIVERED, watched.push_subscription),
                    _aggregation("ALIGN_MAX", "REDUCE_SUM"),
                    watched.push_subscription,
                )
            ],
            "messages",
        ),
        _chart(
            "Push backlog: oldest unacknowledged message age",
            [
                _series(
                    subscription_metric_filter(OLDEST_UNACKED_AGE, watched.push_subscription),
                    _aggregation("ALIGN_MAX", "REDUCE_MAX"),
                    watched.push_subscription,
                )
            ],
            "seconds",
            [(alerting.backlog_age_seconds, "alert")],
        ),
        _chart(
            "Dead letters waiting",
            [
                _series(
                    subscription_metric_filter(UNDELIVERED, watched.dead_letter_subscription),
                    _aggregation("ALIGN_MAX", "REDUCE_SUM"),
                    watched.dead_letter_subscription,
                )
            ],
            "messages",
            [(0, "alert above")],
        ),
        _chart(
            "Function instances",
            [
                _series(
                    function_metric_filter(INSTANCE_COUNT, service),
                    _aggregation("ALIGN_MAX", "REDUCE_SUM", ["metric.labels.state"]),
                    "${metric.labels.state}",
                    "STACKED_AREA",
                )
            ],
            "instances",
        ),
        _chart(
            "Function responses per minute by class",
            [
                _series(
                    function_metric_filter(REQUEST_COUNT, service),
                    # Same aggregation as the 5xx alert, so its line reads in the same unit.
                    per_minute_by("metric.labels.response_code_class"),
                    "${metric.labels.response_code_class}",
                )
            ],
            "requests / min",
            [(alerting.server_errors_per_minute, "5xx alert")],
        ),
        _chart(
            "Decisions per minute (review band)",
            [
                _series(
                    events_filter(service),
                    per_minute_by("metric.labels.decision"),
                    "${metric.labels.decision}",
                    "STACKED_BAR",
                )
            ],
            "events / min",
        ),
    ]


def dashboard_document(watched: Watched, alerting: Alerting, stack: str) -> dict[str, Any]:
    """Two charts per row, in the order dashboard_widgets lists them."""
    width, height = 6, 4
    tiles = [
        {
            "xPos": (index % 2) * width,
            "yPos": (index // 2) * height,
            "width": width,
            "height": height,
            "widget": widget,
        }
        for index, widget in enumerate(dashboard_widgets(watched, alerting))
    ]
    return {
        "displayName": f"AI-Service image labeling ({stack})",
        "mosaicLayout": {"columns": 12, "tiles": tiles},
    }


def dashboard_json(watched: Watched, alerting: Alerting, stack: str) -> str:
    return json.dumps(dashboard_document(watched, alerting, stack), sort_keys=True)


# --- Alert documentation: what it means and what to do, sent with every notification --------------


def _runbook(alerting: Alerting, meaning: str, steps: Sequence[str]) -> str:
    numbered = "\n".join(f"{number}. {step}" for number, step in enumerate(steps, start=1))
    return (
        f"**What it means.** {meaning}\n\n**What to do.**\n{numbered}\n\n"
        f"Runbook: {alerting.runbook_url} (README, section Runbook)."
    )


def dead_letter_documentation(watched: Watched, alerting: Alerting) -> str:
    subscription = watched.dead_letter_subscription
    return _runbook(
        alerting,
        f"Messages reached the dead-letter subscription `{subscription}`: the function answered "
        "5xx for them on every delivery attempt, so their uploads have no result yet. Nothing is "
        "lost: the subscription keeps them 7 days.",
        [
            f"Look at them: `gcloud pubsub subscriptions pull {subscription} "
            f"--project {watched.project} --limit 10` (without `--auto-ack`).",
            "Find why they failed: the function's ERROR lines with status retry "
            '(`jsonPayload.status="retry"`, same `id`), and the retry-ratio alert.',
            "Once the cause is fixed, replay them to user-service-new-image (see the runbook), "
            "then acknowledge them here; the alert closes when the subscription is empty.",
        ],
    )


def backlog_documentation(watched: Watched, alerting: Alerting) -> str:
    return _runbook(
        alerting,
        f"The oldest unacknowledged message on the push subscription `{watched.push_subscription}` "
        f"is older than {alerting.backlog_age_seconds} s: uploads wait for their verdict. Either "
        "the function keeps failing them (retries with backoff) or it cannot keep up.",
        [
            "Check the dashboard: 5xx responses and retries point to failures, a flat instance "
            "count at maxInstances points to capacity.",
            "Failures: follow the retry-ratio or 5xx alert. Capacity: raise "
            "`ai-service:maxInstances` (mind Vision's quota) and `pulumi up`.",
        ],
    )


def retry_documentation(watched: Watched, alerting: Alerting) -> str:
    return _runbook(
        alerting,
        f"More than {alerting.retry_ratio:.0%} of the function's events end in `retry`: Vision or "
        "Pub/Sub is failing (ResourceExhausted = quota exhausted, PermissionDenied = API "
        "disabled or a grant missing, ServiceUnavailable / DeadlineExceeded = outage). Pub/Sub "
        "redelivers them; after maxDeliveryAttempts they are dead-lettered.",
        [
            'Read the exception in the ERROR lines\' message: `jsonPayload.status="retry"` in Logs '
            f"Explorer (resource cloud_run_revision, service {watched.service_name}).",
            "Quota: the Vision quota page of the project, raise it or lower maxInstances. "
            "Google outage: status.cloud.google.com; retries resume by themselves.",
        ],
    )


def server_error_documentation(watched: Watched, alerting: Alerting) -> str:
    return _runbook(
        alerting,
        f"The function `{watched.service_name}` answers 5xx at more than "
        f"{alerting.server_errors_per_minute:g} per minute. Each 5xx is a redelivery; with no "
        "retry lines logged, it is a crash, a timeout, an out-of-memory kill or a revision that "
        "fails to start.",
        [
            "Logs Explorer: the service's ERROR lines and Cloud Run's own request logs "
            "(status 500/503/504) and any 'Memory limit exceeded' or startup error.",
            "A bad release: roll back (`git revert`, `pulumi up`). Timeouts: compare latency p99 "
            "with functionTimeoutSeconds.",
        ],
    )


# --- Resources -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoringArgs:
    project: str
    stack: str
    alerting: Alerting
    metric_propagation_seconds: int
    service_name: pulumi.Input[str]
    push_subscription: gcp.pubsub.Subscription
    dead_letter_subscription: gcp.pubsub.Subscription
    labels: Mapping[str, str]
    depends_on: Sequence[pulumi.Resource]


class Monitoring(pulumi.ComponentResource):
    """Log-based metrics, e-mail channels, four alert policies and the operator's dashboard."""

    events_metric: gcp.logging.Metric
    latency_metric: gcp.logging.Metric
    metrics_known: time.Sleep
    channels: list[gcp.monitoring.NotificationChannel]
    dead_letter_alert: gcp.monitoring.AlertPolicy
    backlog_alert: gcp.monitoring.AlertPolicy
    retry_alert: gcp.monitoring.AlertPolicy
    server_error_alert: gcp.monitoring.AlertPolicy
    dashboard: gcp.monitoring.Dashboard

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:Monitoring", name, None, opts)
        alerting = args.alerting
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        labels = {**args.labels, "component": "monitoring"}
        service_name = pulumi.Output.from_input(args.service_name)
        watched = pulumi.Output.all(
            service_name, args.push_subscription.name, args.dead_letter_subscription.name
        ).apply(
            lambda names: Watched(
                project=args.project,
                service_name=names[0],
                push_subscription=names[1],
                dead_letter_subscription=names[2],
            )
        )

        # Why: events by outcome, match, error code and decision, counted from the log lines.
        self.events_metric = gcp.logging.Metric(
            f"{name}-events",
            project=args.project,
            name=EVENTS_METRIC,
            description="Events the AI-Service function handled, one per log line.",
            filter=service_name.apply(events_log_filter),
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA",
                value_type="INT64",
                unit="1",
                display_name="AI-Service events",
                labels=[
                    gcp.logging.MetricMetricDescriptorLabelArgs(
                        key=key, value_type="STRING", description=description
                    )
                    for key, description in EVENT_LABELS.items()
                ],
            ),
            label_extractors={key: f"EXTRACT(jsonPayload.{key})" for key in EVENT_LABELS},
            opts=child,
        )
        # Why: the latency distribution (p50/p95/p99) per outcome, from latency_ms.
        self.latency_metric = gcp.logging.Metric(
            f"{name}-latency",
            project=args.project,
            name=LATENCY_METRIC,
            description="Time the AI-Service function spent on an event, in milliseconds.",
            filter=service_name.apply(latency_log_filter),
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA",
                value_type="DISTRIBUTION",
                unit="ms",
                display_name="AI-Service event latency",
                labels=[
                    gcp.logging.MetricMetricDescriptorLabelArgs(
                        key="status", value_type="STRING", description=EVENT_LABELS["status"]
                    )
                ],
            ),
            value_extractor="EXTRACT(jsonPayload.latency_ms)",
            label_extractors={"status": "EXTRACT(jsonPayload.status)"},
            bucket_options=gcp.logging.MetricBucketOptionsArgs(exponential_buckets=LATENCY_BUCKETS),
            opts=child,
        )
        # Why: Google creates a log-based metric's descriptor asynchronously; an alert policy
        # that names it right after its creation is refused with 404 "Cannot find metric(s) that
        # match type = logging.googleapis.com/user/... could take up to 10 minutes"
        # (terraform-provider-google #11102). Waits on create only, so later `up`s are not slowed.
        self.metrics_known = time.Sleep(
            f"{name}-metric-propagation",
            create_duration=f"{args.metric_propagation_seconds}s",
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.events_metric, self.latency_metric]
            ),
        )
        # Why: the on-call's e-mail addresses from config; none means unrouted policies.
        self.channels = [
            gcp.monitoring.NotificationChannel(
                f"{name}-email-{email}",
                project=args.project,
                type="email",
                display_name=f"AI-Service on-call: {email}",
                description="Receives the AI-Service alert policies (ai-service:alertEmails).",
                labels={"email_address": email},
                user_labels=labels,
                opts=child,
            )
            for email in alerting.emails
        ]
        # A channel's `name` is output-only (None until the provider reports it, e.g. under
        # mocks); its provider id is the same full name projects/P/notificationChannels/N
        # (terraform-provider-google sets the id from "{{name}}", also its import format).
        routes: list[pulumi.Input[str]] = [
            *(channel.id for channel in self.channels),
            *alerting.notification_channels,
        ]

        def policy(
            suffix: str,
            *,
            title: str,
            severity: str,
            condition: gcp.monitoring.AlertPolicyConditionConditionThresholdArgs,
            documentation: pulumi.Output[str],
            subject: str,
            after: Sequence[pulumi.Resource] = (),
        ) -> gcp.monitoring.AlertPolicy:
            return gcp.monitoring.AlertPolicy(
                f"{name}-{suffix}",
                project=args.project,
                display_name=f"AI-Service ({args.stack}): {title}",
                combiner="OR",
                severity=severity,
                conditions=[
                    gcp.monitoring.AlertPolicyConditionArgs(
                        display_name=title, condition_threshold=condition
                    )
                ],
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    content=documentation,
                    mime_type="text/markdown",
                    subject=f"[AI-Service {args.stack}] {subject}",
                    links=[
                        gcp.monitoring.AlertPolicyDocumentationLinkArgs(
                            display_name="Runbook (README)", url=alerting.runbook_url
                        )
                    ],
                ),
                notification_channels=routes,
                alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close=AUTO_CLOSE),
                user_labels=labels,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[*args.depends_on, *self.channels, *after]
                ),
            )

        def threshold(
            filter_: pulumi.Input[str],
            value: float,
            duration: int,
            aggregation: tuple[str, str, str],
            denominator: pulumi.Input[str] | None = None,
        ) -> gcp.monitoring.AlertPolicyConditionConditionThresholdArgs:
            period, aligner, reducer = aggregation
            aggregations = [
                gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                    alignment_period=period,
                    per_series_aligner=aligner,
                    cross_series_reducer=reducer,
                )
            ]
            return gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=filter_,
                comparison="COMPARISON_GT",
                threshold_value=value,
                duration=f"{duration}s",
                aggregations=aggregations,
                denominator_filter=denominator,
                denominator_aggregations=None
                if denominator is None
                else [
                    gcp.monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArgs(
                        alignment_period=period,
                        per_series_aligner=aligner,
                        cross_series_reducer=reducer,
                    )
                ],
            )

        # Why: a dead letter is an upload that never got a verdict; someone must look at it.
        self.dead_letter_alert = policy(
            "dead-letters",
            title="dead-lettered messages waiting",
            severity="ERROR",
            condition=threshold(
                watched.apply(
                    lambda w: subscription_metric_filter(UNDELIVERED, w.dead_letter_subscription)
                ),
                0,
                alerting.dead_letter_duration_seconds,
                ("60s", "ALIGN_MAX", "REDUCE_SUM"),
            ),
            documentation=watched.apply(lambda w: dead_letter_documentation(w, alerting)),
            subject="messages are dead-lettered",
        )
        # Why: uploads waiting too long for a verdict (failing or not keeping up).
        self.backlog_alert = policy(
            "push-backlog",
            title=f"push backlog older than {alerting.backlog_age_seconds}s",
            severity="WARNING",
            condition=threshold(
                watched.apply(
                    lambda w: subscription_metric_filter(OLDEST_UNACKED_AGE, w.push_subscription)
                ),
                alerting.backlog_age_seconds,
                alerting.backlog_duration_seconds,
                ("60s", "ALIGN_MAX", "REDUCE_MAX"),
            ),
            documentation=watched.apply(lambda w: backlog_documentation(w, alerting)),
            subject="the push backlog is growing old",
        )
        # Why: Vision or Pub/Sub in trouble (quota exhausted, outage) shows as retry outcomes.
        # A ratio condition (denominatorFilter): retry events over all events.
        self.retry_alert = policy(
            "retry-ratio",
            title=f"retry share above {alerting.retry_ratio:g}",
            severity="WARNING",
            condition=threshold(
                service_name.apply(lambda service: events_filter(service, status="retry")),
                alerting.retry_ratio,
                alerting.retry_duration_seconds,
                ("300s", "ALIGN_RATE", "REDUCE_SUM"),
                denominator=service_name.apply(events_filter),
            ),
            documentation=watched.apply(lambda w: retry_documentation(w, alerting)),
            subject="Vision or Pub/Sub calls keep failing",
            # The user metric must exist, and be known to Monitoring, before a policy names it.
            after=[self.events_metric, self.metrics_known],
        )
        # Why: sustained 5xx beyond retries: crashes, timeouts, a revision that cannot start.
        self.server_error_alert = policy(
            "server-errors",
            title=f"5xx above {alerting.server_errors_per_minute:g}/min",
            severity="ERROR",
            condition=threshold(
                service_name.apply(
                    lambda service: function_metric_filter(
                        REQUEST_COUNT, service, response_code_class="5xx"
                    )
                ),
                # request_count is a DELTA INT64 metric (cloud.google.com/monitoring/api/
                # metrics_gcp, run): ALIGN_DELTA over 60 s is the count per minute, so the
                # threshold is the configured per-minute number as it is (ALIGN_RATE would be
                # per second and need a fractional threshold).
                alerting.server_errors_per_minute,
                alerting.server_error_duration_seconds,
                ("60s", "ALIGN_DELTA", "REDUCE_SUM"),
            ),
            documentation=watched.apply(lambda w: server_error_documentation(w, alerting)),
            subject="the function answers 5xx",
        )
        # Why: the figures an operator looks at first, generated from the same filters.
        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=args.project,
            dashboard_json=watched.apply(lambda w: dashboard_json(w, alerting, args.stack)),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*args.depends_on, self.events_metric, self.latency_metric],
            ),
        )
        self.register_outputs(
            {
                "metrics": [self.events_metric.name, self.latency_metric.name],
                "alert_policies": [
                    self.dead_letter_alert.name,
                    self.backlog_alert.name,
                    self.retry_alert.name,
                    self.server_error_alert.name,
                ],
                "dashboard": self.dashboard.id,
            }
        )
