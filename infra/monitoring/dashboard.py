"""The operator's dashboard, generated from the same filters as the metrics and alerts (Monitoring API
v1 Dashboard JSON, mosaicLayout). Pure: no Pulumi imports."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from infra.monitoring.metrics import (
    INSTANCE_COUNT,
    OLDEST_UNACKED_AGE,
    REQUEST_COUNT,
    UNDELIVERED,
    Watched,
    events_filter,
    function_metric_filter,
    latency_filter,
    subscription_metric_filter,
)
from infra.settings import Alerting


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
