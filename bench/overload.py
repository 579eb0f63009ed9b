"""Overload, simulated: a burst far above the Cloud Vision quota, and what reaches the dead-letter topic.

    python -m bench.overload                       # today's defaults and the recommended ones
    python -m bench.overload --burst-minutes 10 --max-delivery-attempts 20 --json out.json

A burst of minutes cannot run in real time in a test, so this is a deterministic discrete-event
simulation on a virtual clock (seeded RNG) of the pieces that decide whether a message is
dead-lettered (docs/overload.md describes the model, its sources and its assumptions):

- arrivals: `burst_rate` messages/s for `burst_minutes` (10x the quota by default);
- Cloud Vision: a token bucket at the quota (1,800 requests/min = 30/s); a request without a token
  answers RESOURCE_EXHAUSTED at once and consumes nothing;
- the function: the Vision call with the function's own in-call retry (labeling/vision.py: api_core
  exponential sleeps, initial 0.1 s, x2, max 1 s, full jitter, for IN_CALL_RETRY_SECONDS), then
  HTTP 500; at most maxInstances x functionConcurrency requests in flight, the next one gets 429;
- Pub/Sub push: a message that failed waits min(minimumBackoff x 2^(n-1), maximumBackoff) before
  delivery n+1 (retry_policy, "exponential"), and goes to the dead-letter topic after
  maxDeliveryAttempts failed deliveries; optionally the push window (slow start: grows on success,
  shrinks on failure) that Pub/Sub uses to slow delivery to a failing endpoint.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from infra.settings import DEFAULTS
from labeling.config import IN_CALL_RETRY_SECONDS

VISION_QUOTA_PER_MINUTE = 1800  # Cloud Vision's default requests per minute per project
# Vision's own answer time for an image (a gs:// label detection) and for a refused request.
VISION_LATENCY_SECONDS = 0.3
REJECT_LATENCY_SECONDS = 0.02
# The function's in-call retry (labeling/vision.py vision_retry).
RETRY_INITIAL, RETRY_MAXIMUM, RETRY_MULTIPLIER = 0.1, 1.0, 2.0
# Push flow control (slow start): https://cloud.google.com/pubsub/docs/push ("Delivery rate": a push
# window that "increases on any successful delivery and decreases on any failure", starting at "a
# small single-digit window size"; "Push backoff": pauses of 100 ms to 60 s after too many nacks).
# Google documents the behaviour, not the constants: these are ours.
WINDOW_INITIAL = 3.0
WINDOW_MAXIMUM = 10_000.0
WINDOW_DECREASE_INTERVAL = 1.0  # halve at most once per this many seconds (once per round trip)
FLOW_MODELS = ("none", "slow-start")
# "fixed": exactly `window` requests outstanding, as K client threads calling back to back do (the
# real-time check in bench/overload_check.py).
ALL_FLOW_MODELS = (*FLOW_MODELS, "fixed")


@dataclass(frozen=True)
class Scenario:
    burst_rate: float = 10 * VISION_QUOTA_PER_MINUTE / 60
    burst_minutes: float = 5.0
    quota_per_second: float = VISION_QUOTA_PER_MINUTE / 60
    bucket_seconds: float = 1.0  # token bucket capacity, in seconds of quota
    max_instances: int = int(DEFAULTS["maxInstances"])
    concurrency: int = int(DEFAULTS["functionConcurrency"])
    max_delivery_attempts: int = int(DEFAULTS["maxDeliveryAttempts"])
    minimum_backoff: float = float(DEFAULTS["minimumBackoffSeconds"])
    maximum_backoff: float = float(DEFAULTS["maximumBackoffSeconds"])
    in_call_retry_seconds: float = IN_CALL_RETRY_SECONDS
    vision_latency: float = VISION_LATENCY_SECONDS
    reject_latency: float = REJECT_LATENCY_SECONDS
    flow: str = "none"
    window: int = 0  # the fixed window, for flow "fixed"
    horizon_hours: float = 48.0  # stop the clock here (retention is 7 days; nothing runs this long)
    seed: int = 1


@dataclass
class Outcome:
    scenario: Scenario
    messages: int = 0
    processed: int = 0
    dead_lettered: int = 0
    pending: int = 0  # still undelivered when the horizon passed
    deliveries: int = 0
    deliveries_failed: int = 0
    rejected_by_instances: int = 0  # 429: every instance at its concurrency
    vision_requests: int = 0
    vision_rejected: int = 0
    max_in_flight: int = 0
    last_success_seconds: float = 0.0
    first_dead_letter_seconds: float | None = None
    attempts_histogram: dict[int, int] = field(default_factory=dict)  # deliveries per processed msg

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TokenBucket:
    """`rate` tokens per second, at most `capacity` banked (below 1: nothing ever passes, a quota of
    zero); time is passed in, virtual or real."""

    def __init__(self, rate: float, capacity: float, now: float = 0.0) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = self.capacity
        self.updated = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def backoff(scenario: Scenario, failed_deliveries: int) -> float:
    """The retry policy's wait after the n-th failed delivery (doubling from the minimum).

    RetryPolicy: "Retry delay will be exponential based on provided minimum and maximum backoffs"
    (https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.subscriptions#retrypolicy);
    the factor 2 and the absence of jitter are our assumptions (Google documents neither)."""
    exponent = min(failed_deliveries - 1, 60)
    return min(scenario.minimum_backoff * 2.0**exponent, scenario.maximum_backoff)


def retry_sleeps(rng: random.Random) -> Iterator[float]:
    """api_core.retry.exponential_sleep_generator with the function's settings."""
    delay = min(RETRY_INITIAL, RETRY_MAXIMUM)
    while True:
        yield rng.uniform(0.0, delay)
        delay = min(delay * RETRY_MULTIPLIER, RETRY_MAXIMUM)


# Event kinds, ordered so simultaneous events resolve deterministically.
ARRIVE, READY, ATTEMPT, DONE = 0, 1, 2, 3


@dataclass
class _Message:
    index: int
    failures: int = 0


@dataclass
class _Call:
    """One push delivery being handled by the function."""

    message: _Message
    started: float
    sleeps: Iterator[float]


class Simulation:
    def __init__(self, scenario: Scenario) -> None:
        if scenario.flow not in ALL_FLOW_MODELS:
            raise ValueError(f"flow must be one of {ALL_FLOW_MODELS}, got {scenario.flow!r}")
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.bucket = TokenBucket(
            scenario.quota_per_second, scenario.quota_per_second * scenario.bucket_seconds
        )
        self.capacity = scenario.max_instances * scenario.concurrency
        self.events: list[tuple[float, int, int, Any]] = []
        self.sequence = 0
        self.ready: deque[_Message] = deque()  # deliverable now, in the order they became so
        self.in_flight = 0  # requests inside the function
        self.outstanding = 0  # push requests Pub/Sub has open (counts 429s while they answer)
        self.window = {"slow-start": WINDOW_INITIAL, "fixed": float(scenario.window)}.get(
            scenario.flow, math.inf
        )
        self.last_decrease = -math.inf
        self.outcome = Outcome(scenario)

    def _schedule(self, time: float, kind: int, payload: Any = None) -> None:
        self.sequence += 1
        heapq.heappush(self.events, (time, kind, self.sequence, payload))

    def run(self) -> Outcome:
        scenario = self.scenario
        total = round(scenario.burst_rate * scenario.burst_minutes * 60)
        self.outcome.messages = total
        for index in range(total):
            self._schedule(index / scenario.burst_rate, ARRIVE, _Message(index))
        horizon = scenario.horizon_hours * 3600
        while self.events:
            now, kind, _, payload = heapq.heappop(self.events)
            if now > horizon:
                break
            if kind in (ARRIVE, READY):
                self.ready.append(payload)
            elif kind == ATTEMPT:
                self._attempt(now, payload)
            else:
                self._finish(now, *payload)
            self._dispatch(now)
        self.outcome.pending = total - self.outcome.processed - self.outcome.dead_lettered
        return self.outcome

    def _dispatch(self, now: float) -> None:
        """Pub/Sub pushes ready messages while its window allows."""
        while self.ready and self.outstanding < self.window:
            message = self.ready.popleft()
            self.outstanding += 1
            self.outcome.deliveries += 1
            if self.in_flight >= self.capacity:
                # Every instance is at its concurrency and none may be added: Cloud Run answers 429.
                self.outcome.rejected_by_instances += 1
                self._schedule(now + self.scenario.reject_latency, DONE, (message, False))
                continue
            self.in_flight += 1
            self.outcome.max_in_flight = max(self.outcome.max_in_flight, self.in_flight)
            self._attempt(now, _Call(message, now, retry_sleeps(self.rng)))

    def _attempt(self, now: float, call: _Call) -> None:
        """One Vision request of a call: a token answers; none answers RESOURCE_EXHAUSTED."""
        scenario = self.scenario
        self.outcome.vision_requests += 1
        if self.bucket.take(now):
            self._schedule(now + scenario.vision_latency, DONE, (call, True))
            return
        self.outcome.vision_rejected += 1
        answered = now + scenario.reject_latency
        sleep = next(call.sleeps)
        # api_core gives up when the next sleep would pass the retry deadline (retry_base.py).
        if answered + sleep > call.started + scenario.in_call_retry_seconds:
            self._schedule(answered, DONE, (call, False))
        else:
            self._schedule(answered + sleep, ATTEMPT, call)

    def _finish(self, now: float, handled: _Call | _Message, succeeded: bool) -> None:
        outcome = self.outcome
        self.outstanding -= 1
        if isinstance(handled, _Call):
            self.in_flight -= 1
            message = handled.message
        else:
            message = handled
        if succeeded:
            outcome.processed += 1
            outcome.last_success_seconds = now
            attempts = message.failures + 1
            outcome.attempts_histogram[attempts] = outcome.attempts_histogram.get(attempts, 0) + 1
            if self.scenario.flow == "slow-start":
                self.window = min(self.window + 1.0, WINDOW_MAXIMUM)
            return
        outcome.deliveries_failed += 1
        if (
            self.scenario.flow == "slow-start"
            and now - self.last_decrease >= WINDOW_DECREASE_INTERVAL
        ):
            self.window = max(1.0, self.window / 2.0)
            self.last_decrease = now
        message.failures += 1
        if message.failures >= self.scenario.max_delivery_attempts:
            outcome.dead_lettered += 1
            if outcome.first_dead_letter_seconds is None:
                outcome.first_dead_letter_seconds = now
            return
        self._schedule(now + backoff(self.scenario, message.failures), READY, message)


def simulate(scenario: Scenario) -> Outcome:
    return Simulation(scenario).run()


# -- the report --------------------------------------------------------------------------------


# What `python -m bench.overload` compares: the stack's defaults, the old default of 5 attempts, and
# the other levers an operator has, each applied to the old default.
OLD_MAX_DELIVERY_ATTEMPTS = 5


def variants(base: Scenario) -> list[tuple[str, Scenario]]:
    old = replace(base, max_delivery_attempts=OLD_MAX_DELIVERY_ATTEMPTS)
    return [
        (f"stack defaults (maxDeliveryAttempts {base.max_delivery_attempts})", base),
        ("maxDeliveryAttempts 5 (before)", old),
        ("maxDeliveryAttempts 10", replace(base, max_delivery_attempts=10)),
        ("maxDeliveryAttempts 15", replace(base, max_delivery_attempts=15)),
        ("maxDeliveryAttempts 20", replace(base, max_delivery_attempts=20)),
        ("5 attempts, maxInstances 1", replace(old, max_instances=1)),
        ("5 attempts, maximumBackoff 60 s", replace(old, maximum_backoff=60)),
        ("5 attempts, quota x10", replace(old, quota_per_second=base.quota_per_second * 10)),
    ]


def render(rows: Sequence[tuple[str, Outcome]]) -> str:
    header = (
        "variant",
        "flow",
        "messages",
        "dead-lettered",
        "processed",
        "last result",
        "deliveries",
        "429s",
        "Vision requests",
    )
    lines = [
        (
            name,
            outcome.scenario.flow,
            f"{outcome.messages:,}",
            f"{outcome.dead_lettered:,} ({outcome.dead_lettered / max(outcome.messages, 1):.0%})",
            f"{outcome.processed:,}",
            f"{outcome.last_success_seconds / 60:.0f} min",
            f"{outcome.deliveries:,}",
            f"{outcome.rejected_by_instances:,}",
            f"{outcome.vision_requests:,}",
        )
        for name, outcome in rows
    ]
    widths = [max(len(row[column]) for row in [header, *lines]) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *lines]
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    defaults = Scenario()
    parser = argparse.ArgumentParser(
        prog="python -m bench.overload", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--burst-rate", type=float, default=defaults.burst_rate, help="messages/s")
    parser.add_argument("--burst-minutes", type=float, default=defaults.burst_minutes)
    parser.add_argument("--quota-per-minute", type=float, default=VISION_QUOTA_PER_MINUTE)
    parser.add_argument("--max-instances", type=int, default=defaults.max_instances)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--max-delivery-attempts", type=int, default=defaults.max_delivery_attempts)
    parser.add_argument("--minimum-backoff", type=float, default=defaults.minimum_backoff)
    parser.add_argument("--maximum-backoff", type=float, default=defaults.maximum_backoff)
    parser.add_argument("--vision-latency", type=float, default=defaults.vision_latency)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--only", action="store_true", help="simulate just the given settings, not the variants"
    )
    parser.add_argument("--json", type=Path, help="write every outcome here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    base = Scenario(
        burst_rate=arguments.burst_rate,
        burst_minutes=arguments.burst_minutes,
        quota_per_second=arguments.quota_per_minute / 60,
        max_instances=arguments.max_instances,
        concurrency=arguments.concurrency,
        max_delivery_attempts=arguments.max_delivery_attempts,
        minimum_backoff=arguments.minimum_backoff,
        maximum_backoff=arguments.maximum_backoff,
        vision_latency=arguments.vision_latency,
        seed=arguments.seed,
    )
    chosen = [("given settings", base)] if arguments.only else variants(base)
    rows = [
        (name, simulate(replace(scenario, flow=flow)))
        for flow in FLOW_MODELS
        for name, scenario in chosen
    ]
    print(
        f"burst: {base.burst_rate:g} messages/s for {base.burst_minutes:g} min "
        f"({base.burst_rate / base.quota_per_second:.0f}x the Vision quota of "
        f"{base.quota_per_second * 60:,.0f}/min); push backoff {base.minimum_backoff:g}-"
        f"{base.maximum_backoff:g} s; {base.max_instances} instances x {base.concurrency}"
    )
    print(render(rows))
    if arguments.json:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(
            json.dumps([{"variant": name, **outcome.as_dict()} for name, outcome in rows], indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
