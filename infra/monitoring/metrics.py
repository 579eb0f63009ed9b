"""What the monitoring counts: the log-based metrics, Google's metrics of our resources, their filters.

The function writes one JSON line per event (function/labeling/logs.py); Cloud Run parses stdout JSON
into `jsonPayload` (https://cloud.google.com/run/docs/logging#writing_structured_logs), which the
log-based metrics count. Google's own metrics cover the rest: Pub/Sub subscription backlog and age,
Cloud Run request counts and instances. Pure: no Pulumi imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Log-based metrics (dashboards and alerts refer to them).
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


@dataclass(frozen=True)
class Watched:
    """The names of what is watched, as the resources report them."""

    project: str
    service_name: str
    push_subscription: str
    dead_letter_subscription: str


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
            *(f'metric.labels.{key}="{value}"' for key, value in metric_labels.items()),
        ]
    )


def events_filter(service_name: str, **metric_labels: str) -> str:
    return function_metric_filter(user_metric_type(EVENTS_METRIC), service_name, **metric_labels)


def latency_filter(service_name: str) -> str:
    return function_metric_filter(user_metric_type(LATENCY_METRIC), service_name)
