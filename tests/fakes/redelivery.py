"""Redeliver events the way a Pub/Sub push subscription does, to prove nothing is lost or loops.

Pub/Sub acknowledges a push on HTTP 102, 200, 201, 202 or 204; any other answer (or none: a connection
error or timeout) is a nack, and the message is pushed again, with backoff, until it is acknowledged or
`max_delivery_attempts` is reached, when it goes to the dead-letter topic.
https://cloud.google.com/pubsub/docs/push#receive_push
https://cloud.google.com/pubsub/docs/handling-failures#dead_letter_topic
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

E = TypeVar("E")

ACK_STATUSES = frozenset({102, 200, 201, 202, 204})
DEFAULT_MAX_DELIVERY_ATTEMPTS = 5  # the subscription's maxDeliveryAttempts when none is set


@dataclass
class DeliveryRecord(Generic[E]):
    """Every attempt at delivering one event: the HTTP status, or 0 when no answer came."""

    event: E
    statuses: list[int] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.statuses)

    @property
    def acknowledged(self) -> bool:
        return bool(self.statuses) and self.statuses[-1] in ACK_STATUSES


@dataclass
class RedeliveryReport(Generic[E]):
    records: list[DeliveryRecord[E]]
    seconds: float

    @property
    def dead_lettered(self) -> list[DeliveryRecord[E]]:
        return [record for record in self.records if not record.acknowledged]

    @property
    def max_attempts(self) -> int:
        return max((record.attempts for record in self.records), default=0)

    @property
    def mean_attempts(self) -> float:
        return statistics.fmean(record.attempts for record in self.records) if self.records else 0.0

    @property
    def status_counts(self) -> Counter[int]:
        return Counter(status for record in self.records for status in record.statuses)

    @property
    def deliveries(self) -> int:
        return sum(record.attempts for record in self.records)

    def summary(self) -> str:
        return (
            f"{len(self.records)} events, {self.deliveries} deliveries in {self.seconds:.1f} s: "
            f"max {self.max_attempts}, mean {self.mean_attempts:.2f} deliveries per event; "
            f"statuses {dict(sorted(self.status_counts.items()))}; "
            f"dead-lettered {len(self.dead_lettered)}"
        )


class Redeliverer(Generic[E]):
    """Pushes each event with `send` (which returns the HTTP status) until acknowledged or out of
    attempts; `concurrency` events are in flight at once, like a push subscription's parallel pushes."""

    def __init__(
        self,
        send: Callable[[E], int],
        max_delivery_attempts: int = 10,
        concurrency: int = 16,
        backoff_seconds: Callable[[int], float] = lambda attempt: 0.0,
        connection_errors: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._send = send
        self._max_attempts = max_delivery_attempts
        self._concurrency = concurrency
        self._backoff = backoff_seconds
        self._connection_errors = connection_errors

    def run(self, events: Sequence[E]) -> RedeliveryReport[E]:
        records = [DeliveryRecord(event) for event in events]
        started = time.monotonic()
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="redeliver") as pool:
            # list() re-raises the first unexpected exception of a delivery, if any.
            list(pool.map(self._deliver, records))
        return RedeliveryReport(records, time.monotonic() - started)

    def _deliver(self, record: DeliveryRecord[E]) -> None:
        for attempt in range(1, self._max_attempts + 1):
            try:
                status = self._send(record.event)
            except self._connection_errors:
                status = 0  # no answer is a nack too
            record.statuses.append(status)
            if status in ACK_STATUSES:
                return
            if attempt < self._max_attempts:
                time.sleep(self._backoff(attempt))
