"""Monitoring: log-based metrics that count the function's real log lines, alert policies on the
resources the stack creates with thresholds from config and a runbook, and a dashboard whose every chart
resolves to a metric the stack defines or a Google metric of one of its resources."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import redirect_stdout
from typing import Any

import pytest

from infra.monitoring.alerts import Alert, alerts
from infra.settings import load_settings
from labeling.logs import log_outcome
from tests.infra import provider_schema
from tests.infra.harness import PROJECT_ID, REPOSITORY, ProgramRun, Registration, run_program
from tests.test_docs_links import anchors

METRIC = "gcp:logging/metric:Metric"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
SERVICE = "gcp:projects/service:Service"
SLEEP = "time:index/sleep:Sleep"
NEW_TYPES = (METRIC, POLICY, DASHBOARD, CHANNEL)

# The Google metrics the monitoring may use, their monitored resource, and their metric labels
# (cloud.google.com/monitoring/api/metrics_gcp: pubsub, run).
GOOGLE_METRICS = {
    "pubsub.googleapis.com/subscription/num_undelivered_messages": ("pubsub_subscription", set()),
    "pubsub.googleapis.com/subscription/oldest_unacked_message_age": ("pubsub_subscription", set()),
    "run.googleapis.com/request_count": (
        "cloud_run_revision",
        {"response_code", "response_code_class", "route"},
    ),
    "run.googleapis.com/container/instance_count": ("cloud_run_revision", {"state"}),
}
ALIGNERS = {"ALIGN_MAX", "ALIGN_RATE", "ALIGN_DELTA", "ALIGN_MEAN", "ALIGN_SUM"}
REDUCERS = {"REDUCE_SUM", "REDUCE_MAX", "REDUCE_MEAN"} | {
    f"REDUCE_PERCENTILE_{p}" for p in (50, 95, 99)
}

CUSTOM = {
    "alertEmails": "oncall@example.com, sre@example.org",
    "alertNotificationChannels": "projects/bike-share-test/notificationChannels/42",
    "alertDeadLetterDurationSeconds": "120",
    "alertBacklogAgeSeconds": "900",
    "alertBacklogDurationSeconds": "600",
    "alertRetryRatio": "0.25",
    "alertRetryDurationSeconds": "1200",
    "alertServerErrorsPerMinute": "30",
    "alertServerErrorDurationSeconds": "180",
    "runbookUrl": "https://git.example.com/ai-service/docs/runbook.md",
}


@pytest.fixture(scope="module")
def custom_run() -> ProgramRun:
    return run_program(CUSTOM)


# --- A tiny evaluator for the subset of the Logging query language the metrics use --------------


def _split(text: str, separator: str) -> list[str]:
    """Split at top-level separators (outside parentheses and quotes)."""
    parts, depth, quoted, start, index = [], 0, False, 0, 0
    while index < len(text):
        char = text[index]
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(separator, index):
            parts.append(text[start:index])
            index += len(separator)
            start = index
            continue
        index += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _field(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def log_filter_matches(query: str, entry: dict[str, Any]) -> bool:
    for term in _split(query, " AND "):
        if term.startswith("(") and term.endswith(")"):
            if not any(log_filter_matches(option, entry) for option in _split(term[1:-1], " OR ")):
                return False
            continue
        comparison = re.fullmatch(r'([\w.]+)(=|>=)(".*"|[0-9.]+)', term)
        assert comparison, f"the test's evaluator does not know the term {term!r}"
        path, operator, raw = comparison.groups()
        value = _field(entry, path)
        if operator == "=":
            if value is None or str(value).lower() != json.loads(raw).lower():
                return False
        elif not isinstance(value, (int, float)) or value < float(raw):
            return False
    return True


def logged_line(**outcome: Any) -> dict[str, Any]:
    """One line exactly as the function writes it (labeling.logs), as Cloud Run stores it."""
    captured = io.StringIO()
    with redirect_stdout(captured):
        log_outcome("INFO", "event", **outcome)
    payload: dict[str, Any] = json.loads(captured.getvalue())
    payload.pop("severity")  # Cloud Logging lifts it into LogEntry.severity
    return payload


def entry(payload: dict[str, Any], service: str = "ai-service-image-labeling") -> dict[str, Any]:
    return {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
        "jsonPayload": payload,
    }


def event_lines() -> Iterator[dict[str, Any]]:
    common = {"source_message_id": "7", "image_id": 1}
    yield logged_line(status="labeled", matched=True, latency_seconds=0.012, **common)
    yield logged_line(
        status="labeled", matched=False, latency_seconds=0.01, decision="review", **common
    )
    yield logged_line(
        status="failed", matched=False, latency_seconds=0.2, error_code="NOT_AN_IMAGE", **common
    )
    yield logged_line(
        status="retry", matched=False, latency_seconds=2.5, error_code="TRANSIENT", **common
    )
    yield logged_line(
        status="dropped",
        matched=False,
        latency_seconds=None,
        error_code="MALFORMED_ENVELOPE",
        source_message_id=None,
        image_id=None,
    )


def metric(run: ProgramRun, name: str) -> Registration:
    return run.one(METRIC, name=name)


# --- Log-based metrics -----------------------------------------------------------------------------


def test_the_events_metric_counts_every_event_line_of_the_function_and_nothing_else(
    default_run: ProgramRun,
) -> None:
    events = metric(default_run, "ai_service_events")
    query = events.inputs["filter"]
    service = default_run.one(FUNCTION).inputs["name"]

    for line in event_lines():
        assert log_filter_matches(query, entry(line, service)), (line, query)
    assert not log_filter_matches(query, entry(next(event_lines()), "another-service"))
    assert not log_filter_matches(query, entry({"message": "worker started"}, service))
    assert not log_filter_matches(query, entry({"message": "x", "status": "ok"}, service))
    descriptor = events.inputs["metricDescriptor"]
    assert (descriptor["metricKind"], descriptor["valueType"]) == ("DELTA", "INT64")


def test_the_events_metric_labels_are_extracted_from_keys_every_line_has(
    default_run: ProgramRun,
) -> None:
    events = metric(default_run, "ai_service_events")
    extractors = events.inputs["labelExtractors"]
    declared = {label["key"] for label in events.inputs["metricDescriptor"]["labels"]}

    assert set(extractors) == declared == {"status", "matched", "error_code", "decision"}
    for key, extractor in extractors.items():
        field = re.fullmatch(r"EXTRACT\(jsonPayload\.(\w+)\)", extractor)
        assert field, extractor
        for line in event_lines():
            assert field.group(1) in line, f"{key}: the log line has no {field.group(1)}"


def test_the_latency_metric_is_a_distribution_of_latency_ms_for_lines_that_measured_one(
    default_run: ProgramRun,
) -> None:
    latency = metric(default_run, "ai_service_latency")
    descriptor = latency.inputs["metricDescriptor"]

    assert (descriptor["metricKind"], descriptor["valueType"], descriptor["unit"]) == (
        "DELTA",
        "DISTRIBUTION",
        "ms",
    )
    assert latency.inputs["valueExtractor"] == "EXTRACT(jsonPayload.latency_ms)"
    buckets = latency.inputs["bucketOptions"]["exponentialBuckets"]
    # The largest finite bucket covers the longest an event may take (540 s function timeout).
    assert buckets["scale"] * buckets["growthFactor"] ** buckets["numFiniteBuckets"] > 540_000
    lines = list(event_lines())
    measured = [line for line in lines if line["latency_ms"] is not None]
    for line in lines:
        matched = log_filter_matches(latency.inputs["filter"], entry(line))
        assert matched is (line in measured), line
        if matched:
            assert isinstance(line["latency_ms"], (int, float))


# --- Resolving filters against what the stack creates ----------------------------------------------


def filter_problems(run: ProgramRun, query: str, group_by: list[str] | None = None) -> list[str]:
    """Why a Monitoring filter (and its group-by fields) does not name something this stack makes."""
    terms = dict(re.findall(r'([\w.]+)="([^"]*)"', query))
    metric_type = terms.get("metric.type", "")
    resource_type = terms.get("resource.type")
    labels = {key.split(".", 2)[2] for key in terms if key.startswith("metric.labels.")}
    labels |= {field.split(".", 2)[2] for field in group_by or [] if field.startswith("metric.")}
    problems: list[str] = []
    if metric_type.startswith("logging.googleapis.com/user/"):
        name = metric_type.removeprefix("logging.googleapis.com/user/")
        defined = {item.inputs["name"]: item for item in run.of_type(METRIC)}
        if name not in defined:
            return [f"{query}: no log-based metric {name!r} in the stack"]
        known = {label["key"] for label in defined[name].inputs["metricDescriptor"]["labels"]}
        expected_resource = "cloud_run_revision"
    elif metric_type in GOOGLE_METRICS:
        expected_resource, known = GOOGLE_METRICS[metric_type]
    else:
        return [f"{query}: {metric_type!r} is neither the stack's nor a known Google metric"]
    if resource_type != expected_resource:
        problems.append(f"{query}: resource.type should be {expected_resource}")
    if expected_resource == "pubsub_subscription":
        subscriptions = {item.inputs["name"] for item in run.of_type(SUBSCRIPTION)}
        if terms.get("resource.labels.subscription_id") not in subscriptions:
            problems.append(f"{query}: names no subscription of the stack {sorted(subscriptions)}")
    else:
        services = {item.inputs["name"] for item in run.of_type(FUNCTION)}
        if terms.get("resource.labels.service_name") not in services:
            problems.append(f"{query}: names no function of the stack {sorted(services)}")
    if labels - known:
        problems.append(f"{query}: unknown metric labels {sorted(labels - known)}")
    return problems


def conditions(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """Each policy's threshold condition, keyed by the metric its filter names (retry: by label)."""
    found = {}
    for policy in run.of_type(POLICY):
        [condition] = policy.inputs["conditions"]
        threshold = condition["conditionThreshold"]
        key = re.search(r'metric\.type="([^"]+)"', threshold["filter"]).group(1)  # type: ignore[union-attr]
        if "subscription_id" in threshold["filter"]:
            key += " " + re.search(r'subscription_id="([^"]+)"', threshold["filter"]).group(1)  # type: ignore[union-attr]
        found[key] = {**threshold, "policy": policy}
    return found


def declared_alerts(config: Mapping[str, str] | None = None) -> tuple[Alert, ...]:
    """The alerts infra/monitoring/alerts.py declares, with this config's thresholds."""
    return alerts(load_settings(PROJECT_ID, None, dict(config or {})).alerting)


def test_every_declared_alert_is_one_policy_on_the_stack_s_own_resources(
    default_run: ProgramRun,
) -> None:
    policies = default_run.of_type(POLICY)

    assert sorted(policy.name for policy in policies) == sorted(
        f"monitoring-{alert.name}" for alert in declared_alerts()
    )
    for policy in policies:
        [condition] = policy.inputs["conditions"]
        threshold = condition["conditionThreshold"]
        assert filter_problems(default_run, threshold["filter"]) == [], policy.urn
        if threshold.get("denominatorFilter"):
            assert filter_problems(default_run, threshold["denominatorFilter"]) == [], policy.urn
        for aggregation in threshold["aggregations"] + threshold.get("denominatorAggregations", []):
            assert aggregation["perSeriesAligner"] in ALIGNERS, policy.urn
            assert aggregation["crossSeriesReducer"] in REDUCERS, policy.urn
        assert threshold["comparison"] == "COMPARISON_GT", policy.urn


def test_alert_thresholds_and_durations_come_from_stack_config(custom_run: ProgramRun) -> None:
    found = conditions(custom_run)
    dead_letter = custom_run.outputs["deadLetterSubscription"]
    push = custom_run.outputs["pushSubscription"]

    dead = found[f"pubsub.googleapis.com/subscription/num_undelivered_messages {dead_letter}"]
    backlog = found[f"pubsub.googleapis.com/subscription/oldest_unacked_message_age {push}"]
    retry = found["logging.googleapis.com/user/ai_service_events"]
    errors = found["run.googleapis.com/request_count"]
    assert (dead["thresholdValue"], dead["duration"]) == (0, "120s")
    assert (backlog["thresholdValue"], backlog["duration"]) == (900, "600s")
    assert (retry["thresholdValue"], retry["duration"]) == (0.25, "1200s")
    assert (errors["thresholdValue"], errors["duration"]) == (30, "180s")


def test_the_retry_alert_is_the_share_of_retry_events_among_all_events(
    default_run: ProgramRun,
) -> None:
    retry = conditions(default_run)["logging.googleapis.com/user/ai_service_events"]

    assert 'metric.labels.status="retry"' in retry["filter"]
    denominator = retry["denominatorFilter"]
    assert "metric.labels.status" not in denominator
    assert retry["filter"].replace(' AND metric.labels.status="retry"', "") == denominator
    assert retry["aggregations"] == retry["denominatorAggregations"]


def test_the_5xx_alert_counts_only_5xx_answers_of_the_function(default_run: ProgramRun) -> None:
    errors = conditions(default_run)["run.googleapis.com/request_count"]

    assert 'metric.labels.response_code_class="5xx"' in errors["filter"]
    # request_count is DELTA INT64: ALIGN_DELTA over 60 s counts the 5xx answers per minute,
    # the unit alertServerErrorsPerMinute is given in.
    [aggregation] = errors["aggregations"]
    assert (aggregation["perSeriesAligner"], aggregation["alignmentPeriod"]) == (
        "ALIGN_DELTA",
        "60s",
    )
    assert aggregation["crossSeriesReducer"] == "REDUCE_SUM"


def anchor(policy: Registration, runbook_url: str) -> str:
    """The runbook section an alert links to (its documentation's one link)."""
    [link] = policy.inputs["documentation"]["links"]
    url: str = link["url"]
    page, _, section = url.partition("#")
    assert page == runbook_url, policy.urn
    return section


def test_every_alert_says_what_it_means_what_to_do_first_and_links_its_runbook_section(
    default_run: ProgramRun, custom_run: ProgramRun
) -> None:
    for run, url in [
        (default_run, "https://github.com/bike-sharing/ai-service/blob/main/docs/runbook.md"),
        (custom_run, CUSTOM["runbookUrl"]),
    ]:
        policies = run.of_type(POLICY)
        for policy in policies:
            documentation = policy.inputs["documentation"]
            content = documentation["content"]
            assert documentation["mimeType"] == "text/markdown", policy.urn
            assert "What it means" in content, policy.urn
            assert "What to do first" in content, policy.urn
            assert "`gcloud " in content, f"{policy.urn}: no concrete first command"
            assert f"{url}#{anchor(policy, url)}" in content, policy.urn
            assert documentation["subject"], policy.urn
            assert policy.inputs["severity"] in ("ERROR", "WARNING"), policy.urn
            assert len(content) <= 8192, policy.urn
        assert len({anchor(policy, url) for policy in policies}) == len(policies)


def test_every_alert_links_a_section_that_exists_in_the_one_runbook(
    default_run: ProgramRun,
) -> None:
    headings = anchors((REPOSITORY / "docs" / "runbook.md").read_text())
    url = "https://github.com/bike-sharing/ai-service/blob/main/docs/runbook.md"
    for policy in default_run.of_type(POLICY):
        assert anchor(policy, url) in headings, (
            f"{policy.urn} links #{anchor(policy, url)}, which docs/runbook.md has no heading for"
        )


def test_the_dead_letter_runbook_names_the_subscription_to_pull_from(
    default_run: ProgramRun,
) -> None:
    dead_letter = default_run.outputs["deadLetterSubscription"]
    [policy] = [
        item
        for item in default_run.of_type(POLICY)
        if dead_letter in item.inputs["conditions"][0]["conditionThreshold"]["filter"]
    ]

    content = policy.inputs["documentation"]["content"]
    assert f"gcloud pubsub subscriptions pull {dead_letter} --project {PROJECT_ID}" in content


def test_without_alert_emails_the_policies_exist_unrouted(default_run: ProgramRun) -> None:
    assert default_run.of_type(CHANNEL) == []
    policies = default_run.of_type(POLICY)
    assert len(policies) == len(declared_alerts())
    for policy in policies:
        assert not policy.inputs.get("notificationChannels"), policy.urn


def test_each_alert_email_is_a_channel_every_policy_notifies(custom_run: ProgramRun) -> None:
    channels = custom_run.of_type(CHANNEL)

    assert sorted(item.inputs["labels"]["email_address"] for item in channels) == [
        "oncall@example.com",
        "sre@example.org",
    ]
    # Policies route to each channel's id: its full resource name (channel.name is output-only).
    names = {item.resource_id for item in channels} | {CUSTOM["alertNotificationChannels"]}
    assert all(item.resource_id == item.state["name"] for item in channels)
    for channel in channels:
        assert channel.inputs["type"] == "email"
    for policy in custom_run.of_type(POLICY):
        assert set(policy.inputs["notificationChannels"]) == names, policy.urn
        for channel in channels:
            assert custom_run.depends_on(policy, channel), policy.urn


def test_monitoring_waits_for_its_apis_and_the_retry_alert_for_its_metric(
    default_run: ProgramRun,
) -> None:
    monitoring_api = default_run.one(SERVICE, service="monitoring.googleapis.com")
    logging_api = default_run.one(SERVICE, service="logging.googleapis.com")
    for item in default_run.custom():
        if item.type in (POLICY, DASHBOARD, CHANNEL):
            assert default_run.depends_on(item, monitoring_api), item.urn
        if item.type in (METRIC, POLICY, DASHBOARD):
            assert default_run.depends_on(item, logging_api), item.urn
    retry = conditions(default_run)["logging.googleapis.com/user/ai_service_events"]["policy"]
    assert default_run.depends_on(retry, metric(default_run, "ai_service_events"))


def test_the_retry_alert_waits_until_monitoring_knows_the_new_log_based_metric(
    default_run: ProgramRun,
) -> None:
    """A policy naming a log-based metric created seconds earlier gets 404 "Cannot find metric(s)"
    (TPG #11102): the policy waits on a create-only sleep that itself waits on the metrics."""
    [wait] = [item for item in default_run.of_type(SLEEP) if item.name.startswith("monitoring-")]
    assert not wait.inputs.get("triggers"), "a trigger would make later `up`s wait again"
    for name in ("ai_service_events", "ai_service_latency"):
        assert metric(default_run, name).urn in wait.dependencies, f"{wait.urn} ignores {name}"
    retry = conditions(default_run)["logging.googleapis.com/user/ai_service_events"]["policy"]
    assert wait.urn in retry.dependencies, f"{retry.urn} can name its metric before it is known"


# --- Dashboard ------------------------------------------------------------------------------------


def dashboard(run: ProgramRun) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(run.one(DASHBOARD).inputs["dashboardJson"])
    return document


def data_sets(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for tile in document["mosaicLayout"]["tiles"]:
        for data_set in tile["widget"]["xyChart"]["dataSets"]:
            yield tile["widget"]["title"], data_set["timeSeriesQuery"]


def test_every_dashboard_chart_names_a_metric_of_the_stack_or_of_a_resource_it_creates(
    default_run: ProgramRun,
) -> None:
    checked = 0
    for title, query in data_sets(dashboard(default_run)):
        parts = (
            [query["timeSeriesFilter"]]
            if "timeSeriesFilter" in query
            else [
                query["timeSeriesFilterRatio"]["numerator"],
                query["timeSeriesFilterRatio"]["denominator"],
            ]
        )
        for part in parts:
            aggregation = part["aggregation"]
            group_by = aggregation.get("groupByFields", [])
            assert filter_problems(default_run, part["filter"], group_by) == [], title
            assert aggregation["perSeriesAligner"] in ALIGNERS, title
            assert aggregation["crossSeriesReducer"] in REDUCERS, title
            checked += 1
    assert checked >= 10


def test_the_dashboard_shows_what_an_operator_looks_at_first(default_run: ProgramRun) -> None:
    document = dashboard(default_run)
    sets = list(data_sets(document))
    metrics = set(re.findall(r'metric\.type=\\"([^"\\]+)', json.dumps([q for _, q in sets])))
    titles = " | ".join(title for title, _ in sets).lower()

    assert metrics == {
        "logging.googleapis.com/user/ai_service_events",
        "logging.googleapis.com/user/ai_service_latency",
        "pubsub.googleapis.com/subscription/num_undelivered_messages",
        "pubsub.googleapis.com/subscription/oldest_unacked_message_age",
        "run.googleapis.com/request_count",
        "run.googleapis.com/container/instance_count",
    }
    for figure in ("outcome", "matched share", "latency", "backlog", "oldest", "dead letter"):
        assert figure in titles, figure
    reducers = {
        query["timeSeriesFilter"]["aggregation"]["crossSeriesReducer"]
        for title, query in sets
        if title.startswith("Latency")
    }
    assert reducers == {"REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_99"}
    assert document["displayName"].endswith("(dev)")


def test_the_dashboard_tiles_fit_the_grid_without_overlapping(default_run: ProgramRun) -> None:
    layout = dashboard(default_run)["mosaicLayout"]
    cells: set[tuple[int, int]] = set()
    for tile in layout["tiles"]:
        assert tile["xPos"] + tile["width"] <= layout["columns"]
        area = {
            (x, y)
            for x in range(tile["xPos"], tile["xPos"] + tile["width"])
            for y in range(tile["yPos"], tile["yPos"] + tile["height"])
        }
        assert not cells & area, tile["widget"]["title"]
        cells |= area


def test_dashboard_threshold_lines_follow_the_alert_config(custom_run: ProgramRun) -> None:
    tiles = {
        tile["widget"]["title"]: tile["widget"]
        for tile in dashboard(custom_run)["mosaicLayout"]["tiles"]
    }

    age = tiles["Push backlog: oldest unacknowledged message age"]["xyChart"]["thresholds"]
    assert [line["value"] for line in age] == [900]
    responses = tiles["Function responses per minute by class"]["xyChart"]
    assert [line["value"] for line in responses["thresholds"]] == [30]
    # The line is in the chart's unit: the same per-minute aggregation as the 5xx alert.
    [series] = responses["dataSets"]
    aggregation = series["timeSeriesQuery"]["timeSeriesFilter"]["aggregation"]
    alert = conditions(custom_run)["run.googleapis.com/request_count"]["aggregations"][0]
    assert (aggregation["perSeriesAligner"], aggregation["alignmentPeriod"]) == (
        alert["perSeriesAligner"],
        alert["alignmentPeriod"],
    )


# --- Provider schema ------------------------------------------------------------------------------


def test_every_input_of_every_monitoring_resource_is_in_the_pulumi_gcp_schema(
    custom_run: ProgramRun,
) -> None:
    checked = [item for item in custom_run.custom() if item.type in NEW_TYPES]
    assert {item.type for item in checked} == set(NEW_TYPES)
    for item in checked:
        assert provider_schema.problems(item.type, item.inputs) == [], item.urn


def test_the_schema_check_catches_a_misspelt_or_mistyped_input() -> None:
    broken = {
        "displayName": "x",
        "combiner": "OR",
        "conditions": [
            {
                "displayName": "c",
                "conditionThreshold": {"comparison": "COMPARISON_GT", "duration": 60},
                "conditionTreshold": {},
            }
        ],
    }

    found = provider_schema.problems(POLICY, broken)

    assert any("conditionThreshold.duration: expected str" in problem for problem in found)
    assert any("conditionTreshold: not an input" in problem for problem in found)
    assert provider_schema.problems(DASHBOARD, {}) == [
        f"{DASHBOARD}.dashboardJson: required by DashboardArgs, missing"
    ]


def test_the_program_also_runs_in_preview_with_unknown_names() -> None:
    run = run_program(CUSTOM, preview=True)
    assert len(run.of_type(POLICY)) == len(declared_alerts(CUSTOM))
    assert len(run.of_type(DASHBOARD)) == 1
