"""The Pub/Sub topology as data: every topic and subscription, with its delivery policy. Pure.

One declaration, two readers: infra/messaging.py and infra/delivery.py turn it into Pulumi resources,
and `make local` (ops/local.py) creates exactly the same on Google's Pub/Sub emulator. Nothing here
imports Pulumi, so the local run needs neither the Pulumi CLI nor a cloud project.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.settings import (
    DEAD_LETTER_RETENTION_DAYS,
    DEAD_LETTER_SUBSCRIPTION,
    DEAD_LETTER_TOPIC,
    INVOKER_ACCOUNT_ID,
    LABELED_TOPIC,
    NEW_IMAGE_TOPIC,
    PUSH_SUBSCRIPTION,
    RESULTS_SUBSCRIPTION,
    Settings,
)

# Every subscription keeps unacknowledged messages this long (the dead-letter one for a redrive).
RETENTION_SECONDS = DEAD_LETTER_RETENTION_DAYS * 24 * 3600
# Pull subscriptions: long enough for an operator or the User-Service to handle a message.
PULL_ACK_DEADLINE_SECONDS = 60


@dataclass(frozen=True)
class Topic:
    name: str


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff between redeliveries of a message the function failed on."""

    minimum_backoff_seconds: int
    maximum_backoff_seconds: int


@dataclass(frozen=True)
class DeadLetterPolicy:
    topic: str
    max_delivery_attempts: int


@dataclass(frozen=True)
class PushToFunction:
    """Push to the function's URL (known only once it exists), with an OIDC token of this account.

    The token's audience is the same URL; the emulator accepts the setting but sends no token.
    """

    invoker_account_id: str = INVOKER_ACCOUNT_ID


@dataclass(frozen=True)
class Subscription:
    name: str
    topic: str
    ack_deadline_seconds: int
    retention_seconds: int = RETENTION_SECONDS
    # Subscriptions expire after 31 idle days by default; an idle dead-letter or results
    # subscription would silently vanish with it, so ours never expire.
    never_expire: bool = True
    push: PushToFunction | None = None  # None: a pull subscription
    retry_policy: RetryPolicy | None = None
    dead_letter_policy: DeadLetterPolicy | None = None

    @property
    def retention(self) -> str:
        """As Pub/Sub's Duration text, e.g. "604800s"."""
        return f"{self.retention_seconds}s"


@dataclass(frozen=True)
class Topology:
    new_image_topic: Topic
    labeled_topic: Topic
    dead_letter_topic: Topic
    dead_letter_subscription: Subscription
    results_subscription: Subscription
    push_subscription: Subscription

    @property
    def topics(self) -> tuple[Topic, ...]:
        return (self.new_image_topic, self.labeled_topic, self.dead_letter_topic)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return (self.dead_letter_subscription, self.results_subscription, self.push_subscription)

    def delivery_policies(self) -> tuple[RetryPolicy, DeadLetterPolicy]:
        """The push subscription's retry and dead-letter policies, which topology() always sets."""
        retry, dead_letter = (
            self.push_subscription.retry_policy,
            self.push_subscription.dead_letter_policy,
        )
        if retry is None or dead_letter is None:
            raise ValueError(f"{self.push_subscription.name} must declare retry and dead-lettering")
        return retry, dead_letter


def topology(settings: Settings) -> Topology:
    """The topics and subscriptions the stack declares for these settings."""
    new_image = Topic(NEW_IMAGE_TOPIC)
    labeled = Topic(LABELED_TOPIC)
    dead_letter = Topic(DEAD_LETTER_TOPIC)
    delivery = settings.delivery
    return Topology(
        new_image_topic=new_image,
        labeled_topic=labeled,
        dead_letter_topic=dead_letter,
        dead_letter_subscription=Subscription(
            DEAD_LETTER_SUBSCRIPTION,
            dead_letter.name,
            ack_deadline_seconds=PULL_ACK_DEADLINE_SECONDS,
        ),
        results_subscription=Subscription(
            RESULTS_SUBSCRIPTION,
            labeled.name,
            ack_deadline_seconds=PULL_ACK_DEADLINE_SECONDS,
        ),
        push_subscription=Subscription(
            PUSH_SUBSCRIPTION,
            new_image.name,
            # At least the function timeout, so a slow success is not redelivered meanwhile.
            ack_deadline_seconds=delivery.ack_deadline_seconds,
            push=PushToFunction(),
            retry_policy=RetryPolicy(
                delivery.minimum_backoff_seconds, delivery.maximum_backoff_seconds
            ),
            dead_letter_policy=DeadLetterPolicy(dead_letter.name, delivery.max_attempts),
        ),
    )
