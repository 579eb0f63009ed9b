"""Stack config of the review band and of the alerts: validated with the key and what was expected,
and handed to the function (REVIEW_MIN_SCORE) or to the monitoring exactly as given."""

from __future__ import annotations

import pytest

from infra.settings import SettingsError, load_settings
from tests.infra.harness import run_program

FUNCTION = "gcp:cloudfunctionsv2/function:Function"


def environment(config: dict[str, str]) -> dict[str, str]:
    variables: dict[str, str] = (
        run_program(config).one(FUNCTION).inputs["serviceConfig"]["environmentVariables"]
    )
    return variables


def test_review_min_score_reaches_the_function_environment_only_when_set() -> None:
    assert "REVIEW_MIN_SCORE" not in environment({})
    banded = environment({"minScore": "0.8", "reviewMinScore": "0.55"})
    assert (banded["MIN_SCORE"], banded["REVIEW_MIN_SCORE"]) == ("0.8", "0.55")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"reviewMinScore": "0.5"}, r"ai-service:reviewMinScore must be a number from 0 to below "),
        ({"reviewMinScore": "0.7", "minScore": "0.6"}, r"reviewMinScore must be .* got 0\.7"),
        ({"reviewMinScore": "-0.1"}, r"ai-service:reviewMinScore must be"),
        ({"reviewMinScore": "half"}, r"ai-service:reviewMinScore must be .*got 'half'"),
        ({"reviewMinScore": "0.0", "minScore": "0"}, r"ai-service:reviewMinScore must be"),
        ({"alertEmails": "oncall"}, r"ai-service:alertEmails must list e-mail addresses"),
        ({"alertEmails": "a@example.com, b@"}, r"got \['b@'\]"),
        ({"alertEmails": '["a@example.com", 3]'}, r"ai-service:alertEmails must be a list"),
        (
            {"alertNotificationChannels": "12345"},
            r"ai-service:alertNotificationChannels must list channel resource names",
        ),
        ({"alertDeadLetterDurationSeconds": "90"}, r"whole number of minutes .* got 90"),
        ({"alertRetryDurationSeconds": "-60"}, r"alertRetryDurationSeconds must be an integer"),
        ({"alertServerErrorDurationSeconds": "90000"}, r"from 0 to 86400"),
        ({"alertBacklogAgeSeconds": "30"}, r"alertBacklogAgeSeconds must be an integer from 60"),
        ({"alertRetryRatio": "0"}, r"ai-service:alertRetryRatio must be a number above 0 and at"),
        ({"alertRetryRatio": "1.5"}, r"ai-service:alertRetryRatio must be"),
        ({"alertServerErrorsPerMinute": "0"}, r"alertServerErrorsPerMinute must be a number above"),
        ({"runbookUrl": "README.md#runbook"}, r"ai-service:runbookUrl must be an http\(s\) URL"),
    ],
)
def test_invalid_review_and_alert_config_is_refused_naming_the_key(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings("bike-share-test", None, values)


def test_a_review_min_score_of_zero_is_a_valid_band() -> None:
    assert load_settings("p", None, {"reviewMinScore": "0"}).review_min_score == 0.0


@pytest.mark.parametrize(
    "raw",
    [
        "a@example.com,b@example.org",
        " a@example.com ; b@example.org ",
        '["a@example.com", "b@example.org"]',
        "['a@example.com', 'b@example.org']",  # str() of a list from a YAML stack file
        "a@example.com, b@example.org, a@example.com",
    ],
)
def test_alert_emails_are_a_list_in_any_spelling_without_duplicates(raw: str) -> None:
    alerting = load_settings("p", None, {"alertEmails": raw}).alerting
    assert alerting.emails == ("a@example.com", "b@example.org")
