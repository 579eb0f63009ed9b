"""The alert policies as data: what each watches, when it fires, what it means, what to do first.

Every notification carries a one-line summary and the first command, both with this stack's names and
thresholds filled in, and a link to the alert's section of the one runbook, docs/runbook.md
(`<runbookUrl>#<anchor>`), which has the whole explanation and procedure: the notification is what an
on-call reads on a phone, the runbook what they follow at a desk, so the long form lives once, there.

A new alert touches: an entry in `alerts()` here; its thresholds, as keys of `Alerting` in
infra/settings.py (then `make configuration` regenerates Pulumi.yaml and docs/configuration.md); its
section in docs/runbook.md; and, when it needs a metric the stack does not yet define or chart, the
metrics (metrics.py), the dashboard (dashboard.py) and the Google metrics tests/infra/test_monitoring.py
knows. Pure: no Pulumi imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from infra.monitoring.metrics import (
    OLDEST_UNACKED_AGE,
    REQUEST_COUNT,
    UNDELIVERED,
    Watched,
    events_filter,
    function_metric_filter,
    subscription_metric_filter,
)
from infra.settings import DEAD_LETTER_RETENTION_DAYS, Alerting


@dataclass(frozen=True)
class Aggregation:
    period: str
    aligner: str
    reducer: str


@dataclass(frozen=True)
class Alert:
    """One alert policy with a single threshold condition (value above `threshold`)."""

    name: str  # the resource name's suffix: renaming it replaces the policy
    anchor: str  # its section of docs/runbook.md
    title: str
    severity: str  # ERROR or WARNING
    subject: str
    filter: Callable[[Watched], str]
    threshold: float
    duration_seconds: int
    aggregation: Aggregation
    summary: Callable[[Watched], str]  # one line; the runbook section has the whole explanation
    first_step: Callable[[Watched], str]
    # A ratio condition: `filter` over this (denominatorFilter, same aggregation).
    denominator: Callable[[Watched], str] | None = None
    # It names a log-based metric, so it waits until Cloud Monitoring knows that metric.
    reads_log_metric: bool = False

    def runbook(self, runbook_url: str) -> str:
        return f"{runbook_url}#{self.anchor}"

    def documentation(self, watched: Watched, runbook_url: str) -> str:
        return (
            f"**What it means.** {self.summary(watched)}\n\n"
            f"**What to do first.** {self.first_step(watched)}\n\n"
            f"Then follow the runbook: {self.runbook(runbook_url)}"
        )


RETRY_LINES = 'jsonPayload.status="retry"'


def _logs(watched: Watched, condition: str) -> str:
    """A `gcloud logging read` of the function's lines that meet `condition`."""
    return (
        f'`gcloud logging read \'resource.type="cloud_run_revision" AND '
        f'resource.labels.service_name="{watched.service_name}" AND {condition}\' '
        f"--project {watched.project} --freshness 1h --limit 20`"
    )


def alerts(alerting: Alerting) -> tuple[Alert, ...]:
    """The stack's alert policies, with this stack's thresholds."""
    return (
        # Why: a dead letter is an upload that never got a verdict; someone must look at it.
        Alert(
            name="dead-letters",
            anchor="dead-letters",
            title="dead-lettered messages waiting",
            severity="ERROR",
            subject="messages are dead-lettered",
            filter=lambda w: subscription_metric_filter(UNDELIVERED, w.dead_letter_subscription),
            threshold=0,
            duration_seconds=alerting.dead_letter_duration_seconds,
            aggregation=Aggregation("60s", "ALIGN_MAX", "REDUCE_SUM"),
            summary=lambda w: (
                f"Messages reached `{w.dead_letter_subscription}` after every delivery failed: "
                f"their uploads have no verdict yet (kept {DEAD_LETTER_RETENTION_DAYS} days)."
            ),
            first_step=lambda w: (
                f"Look at them without acknowledging: `gcloud pubsub subscriptions pull "
                f"{w.dead_letter_subscription} --project {w.project} --limit 10`."
            ),
        ),
        # Why: uploads waiting too long for a verdict (failing or not keeping up).
        Alert(
            name="push-backlog",
            anchor="push-backlog",
            title=f"push backlog older than {alerting.backlog_age_seconds}s",
            severity="WARNING",
            subject="the push backlog is growing old",
            filter=lambda w: subscription_metric_filter(OLDEST_UNACKED_AGE, w.push_subscription),
            threshold=alerting.backlog_age_seconds,
            duration_seconds=alerting.backlog_duration_seconds,
            aggregation=Aggregation("60s", "ALIGN_MAX", "REDUCE_MAX"),
            summary=lambda w: (
                f"The oldest message on `{w.push_subscription}` has waited over "
                f"{alerting.backlog_age_seconds} s: the function keeps failing it or cannot keep up."
            ),
            first_step=lambda w: (
                f"Look for failures: {_logs(w, 'severity>=ERROR')}; none means capacity "
                "(instances flat at maxInstances on the dashboard)."
            ),
        ),
        # Why: Vision or Pub/Sub in trouble (quota exhausted, outage) shows as retry outcomes.
        Alert(
            name="retry-ratio",
            anchor="retry-share",
            title=f"retry share above {alerting.retry_ratio:g}",
            severity="WARNING",
            subject="Vision or Pub/Sub calls keep failing",
            filter=lambda w: events_filter(w.service_name, status="retry"),
            denominator=lambda w: events_filter(w.service_name),
            threshold=alerting.retry_ratio,
            duration_seconds=alerting.retry_duration_seconds,
            aggregation=Aggregation("300s", "ALIGN_RATE", "REDUCE_SUM"),
            reads_log_metric=True,
            summary=lambda w: (
                f"Over {alerting.retry_ratio:.0%} of the function's events end in `retry`: Vision "
                "or Pub/Sub calls keep failing."
            ),
            first_step=lambda w: f"Read the exception in the retry lines: {_logs(w, RETRY_LINES)}.",
        ),
        # Why: sustained 5xx beyond retries: crashes, timeouts, a revision that cannot start.
        Alert(
            name="server-errors",
            anchor="server-errors",
            title=f"5xx above {alerting.server_errors_per_minute:g}/min",
            severity="ERROR",
            subject="the function answers 5xx",
            filter=lambda w: function_metric_filter(
                REQUEST_COUNT, w.service_name, response_code_class="5xx"
            ),
            # request_count is a DELTA INT64 metric (cloud.google.com/monitoring/api/metrics_gcp,
            # run): ALIGN_DELTA over 60 s is the count per minute, so the threshold is the
            # configured per-minute number as it is (ALIGN_RATE would be per second).
            threshold=alerting.server_errors_per_minute,
            duration_seconds=alerting.server_error_duration_seconds,
            aggregation=Aggregation("60s", "ALIGN_DELTA", "REDUCE_SUM"),
            summary=lambda w: (
                f"The function `{w.service_name}` answers 5xx at over "
                f"{alerting.server_errors_per_minute:g} per minute."
            ),
            first_step=lambda w: f"Read its errors: {_logs(w, 'severity>=ERROR')}.",
        ),
    )
