"""The overload simulator (bench/overload.py): its building blocks, its bookkeeping, and the figures
docs/overload.md quotes at a scale small enough for a test (the full run is `python -m bench.overload`)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bench import overload
from bench.overload import Scenario, TokenBucket, backoff, simulate
from bench.overload_check import measure, simulated
from infra.settings import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]

# A tenth of the real scale: quota 3/s, the burst 10x that for 2 minutes; same backoffs and caps.
SMALL = Scenario(burst_rate=30.0, burst_minutes=2.0, quota_per_second=3.0, max_instances=1)


def test_token_bucket_lets_through_its_capacity_then_its_rate() -> None:
    bucket = TokenBucket(rate=10.0, capacity=5.0)
    assert sum(bucket.take(0.0) for _ in range(20)) == 5
    assert sum(bucket.take(1.0) for _ in range(20)) == 5  # refilled to capacity, not 10
    assert bucket.take(1.05) is False  # half a token
    assert bucket.take(1.1) is True


def test_retry_backoff_doubles_from_the_minimum_up_to_the_maximum() -> None:
    scenario = Scenario(minimum_backoff=10, maximum_backoff=600)
    assert [backoff(scenario, n) for n in range(1, 9)] == [10, 20, 40, 80, 160, 320, 600, 600]


@pytest.mark.parametrize("flow", overload.FLOW_MODELS)
def test_below_the_quota_nothing_fails(flow: str) -> None:
    outcome = simulate(replace(SMALL, burst_rate=2.5, flow=flow))
    assert outcome.processed == outcome.messages == 300
    assert outcome.dead_lettered == outcome.deliveries_failed == outcome.vision_rejected == 0
    assert outcome.attempts_histogram == {1: 300}


def test_a_message_vision_never_answers_is_dead_lettered_after_max_attempts() -> None:
    scenario = replace(
        SMALL,
        burst_rate=1.0,
        burst_minutes=1 / 60,
        quota_per_second=1e-9,
        bucket_seconds=0.0,
        max_delivery_attempts=5,
    )
    outcome = simulate(scenario)
    assert outcome.messages == 1
    assert outcome.deliveries == outcome.deliveries_failed == scenario.max_delivery_attempts == 5
    assert outcome.dead_lettered == 1
    # Five in-call retry windows of at most 2 s, and the backoffs between them: 10+20+40+80 s.
    assert outcome.first_dead_letter_seconds is not None
    assert 150 <= outcome.first_dead_letter_seconds <= 150 + 5 * 2.1
    # The function's in-call retry asks Vision several times per delivery (0.1 s doubling to 1 s).
    assert 5 * 4 <= outcome.vision_requests <= 5 * 12


@pytest.mark.parametrize("flow", overload.FLOW_MODELS)
def test_every_message_is_accounted_for_and_in_flight_stays_under_the_cap(flow: str) -> None:
    outcome = simulate(replace(SMALL, concurrency=20, flow=flow))
    assert outcome.processed + outcome.dead_lettered + outcome.pending == outcome.messages
    assert outcome.max_in_flight <= 20
    assert sum(outcome.attempts_histogram.values()) == outcome.processed
    # Only requests with a token succeed: never more than the bucket allows over the run.
    assert outcome.processed <= 3.0 * (outcome.last_success_seconds + 1.0)


def test_the_simulation_is_deterministic() -> None:
    assert simulate(SMALL).as_dict() == simulate(SMALL).as_dict()
    assert simulate(SMALL).as_dict() != simulate(replace(SMALL, seed=2)).as_dict()


def test_a_10x_burst_dead_letters_with_five_attempts_and_nothing_with_the_chosen_defaults() -> None:
    """docs/overload.md's finding at a tenth of the scale: with 5 attempts a burst of 10x the quota
    dead-letters much of itself when Pub/Sub pushes without slowing down; the stack's defaults
    (maxDeliveryAttempts from infra/settings.py) dead-letter nothing in either push model."""
    five = simulate(replace(SMALL, max_delivery_attempts=5))
    assert five.dead_lettered > five.messages / 4
    for flow in overload.FLOW_MODELS:
        chosen = simulate(replace(SMALL, flow=flow))
        assert chosen.dead_lettered == 0, (flow, chosen)
        assert chosen.processed == chosen.messages


def test_the_report_runs(tmp_path: Path) -> None:
    report = tmp_path / "overload.json"
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.overload",
            "--burst-rate",
            "30",
            "--burst-minutes",
            "1",
            "--quota-per-minute",
            "180",
            "--json",
            str(report),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert (
        f"stack defaults (maxDeliveryAttempts {DEFAULTS['maxDeliveryAttempts']})" in process.stdout
    )
    assert report.read_text().count('"variant"') == 2 * len(overload.variants(SMALL))


# -- the building blocks against real time ------------------------------------------------------


def test_real_time_callers_get_what_the_simulator_says_the_quota_allows() -> None:
    """The function's real Vision call (in-call retry included) against the rate-limited fake, and
    the same closed loop simulated. Only the bucket's bound is asserted exactly; the comparison is
    loose because this machine is shared (the figures are in docs/overload.md)."""
    rate, seconds = 20.0, 2.0
    real = measure(seconds, threads=24, rate=rate, burst_seconds=1.0)
    model = simulated(real.seconds, threads=24, rate=rate, burst_seconds=1.0)
    assert real.succeeded <= rate * real.seconds + rate + 2  # bucket capacity + refill (+ warm-up)
    assert real.failed > 0  # 24 callers against 20/s: some calls exhaust the 2 s retry window
    assert model.processed <= rate * real.seconds + rate
    assert model.deliveries_failed > 0
    assert 0.5 <= real.succeeded / model.processed <= 1.5
