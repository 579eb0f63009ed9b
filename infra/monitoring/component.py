"""Monitoring resources: the log-based metrics, one e-mail channel per address, the alert policies of
infra/monitoring/alerts.py and the dashboard of infra/monitoring/dashboard.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

from infra.monitoring.alerts import Alert, alerts
from infra.monitoring.dashboard import dashboard_json
from infra.monitoring.metrics import (
    EVENT_LABELS,
    EVENTS_METRIC,
    LATENCY_METRIC,
    Watched,
    events_log_filter,
    latency_log_filter,
)
from infra.settings import Alerting

# Latency buckets: 1 ms growing by 1.4x, 40 finite buckets reach about 700 s, beyond the 540 s
# function timeout, at about +-20 % resolution.
LATENCY_BUCKETS = gcp.logging.MetricBucketOptionsExponentialBucketsArgs(
    scale=1.0, growth_factor=1.4, num_finite_buckets=40
)
AUTO_CLOSE = "1800s"  # an incident whose condition has had no data for 30 min closes itself


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
    """Log-based metrics, e-mail channels, the alert policies and the operator's dashboard."""

    events_metric: gcp.logging.Metric
    latency_metric: gcp.logging.Metric
    metrics_known: time.Sleep
    channels: list[gcp.monitoring.NotificationChannel]
    alert_policies: dict[str, gcp.monitoring.AlertPolicy]  # by Alert.name
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
        # A channel's `name` is output-only; its provider id is the same full name
        # projects/P/notificationChannels/N (terraform-provider-google sets the id from
        # "{{name}}", also its import format), known as soon as the channel exists.
        routes: list[pulumi.Input[str]] = [
            *(channel.id for channel in self.channels),
            *alerting.notification_channels,
        ]

        self.alert_policies = {
            alert.name: self._policy(
                name,
                alert,
                args=args,
                watched=watched,
                routes=routes,
                # The log-based metric must exist, and be known to Monitoring, before a policy
                # names it.
                after=[self.events_metric, self.metrics_known] if alert.reads_log_metric else [],
            )
            for alert in alerts(alerting)
        }
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
                "alert_policies": [policy.name for policy in self.alert_policies.values()],
                "dashboard": self.dashboard.id,
            }
        )

    def _policy(
        self,
        name: str,
        alert: Alert,
        *,
        args: MonitoringArgs,
        watched: pulumi.Output[Watched],
        routes: Sequence[pulumi.Input[str]],
        after: Sequence[pulumi.Resource],
    ) -> gcp.monitoring.AlertPolicy:
        """One policy from its declaration: a threshold condition, documentation, the routes."""
        title = alert.title
        aggregation = alert.aggregation
        runbook_url = args.alerting.runbook_url
        return gcp.monitoring.AlertPolicy(
            f"{name}-{alert.name}",
            project=args.project,
            display_name=f"AI-Service ({args.stack}): {title}",
            combiner="OR",
            severity=alert.severity,
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=title,
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=watched.apply(alert.filter),
                        comparison="COMPARISON_GT",
                        threshold_value=alert.threshold,
                        duration=f"{alert.duration_seconds}s",
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period=aggregation.period,
                                per_series_aligner=aggregation.aligner,
                                cross_series_reducer=aggregation.reducer,
                            )
                        ],
                        denominator_filter=(
                            None if alert.denominator is None else watched.apply(alert.denominator)
                        ),
                        denominator_aggregations=(
                            None
                            if alert.denominator is None
                            else [
                                gcp.monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArgs(
                                    alignment_period=aggregation.period,
                                    per_series_aligner=aggregation.aligner,
                                    cross_series_reducer=aggregation.reducer,
                                )
                            ]
                        ),
                    ),
                )
            ],
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                content=watched.apply(lambda w: alert.documentation(w, runbook_url)),
                mime_type="text/markdown",
                subject=f"[AI-Service {args.stack}] {alert.subject}",
                links=[
                    gcp.monitoring.AlertPolicyDocumentationLinkArgs(
                        display_name="Runbook", url=alert.runbook(runbook_url)
                    )
                ],
            ),
            notification_channels=list(routes),
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close=AUTO_CLOSE),
            user_labels={**args.labels, "component": "monitoring"},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*args.depends_on, *self.channels, *after]
            ),
        )
