"""Pub/Sub: the two contract topics, the dead-letter topic, and the pull subscriptions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
from settings import (
    DEAD_LETTER_SUBSCRIPTION,
    DEAD_LETTER_TOPIC,
    LABELED_TOPIC,
    NEW_IMAGE_TOPIC,
    RESULTS_SUBSCRIPTION,
)

# Subscriptions expire after 31 idle days by default; an idle dead-letter or results
# subscription would silently vanish with it, so ours never expire (empty ttl).
NEVER_EXPIRE = gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl="")
SEVEN_DAYS = "604800s"


def topic_path(topic: gcp.pubsub.Topic, project: str) -> pulumi.Output[str]:
    """`projects/{project}/topics/{name}`, from the name we set (`.apply` keeps the dependency).

    pulumi-gcp pubsub.Subscription topic: "of the form projects/{project}/topics/{{name}}";
    dead_letter_policy.dead_letter_topic: "Format is projects/{project}/topics/{topic}".
    """
    return topic.name.apply(lambda name: f"projects/{project}/topics/{name}")


@dataclass(frozen=True)
class MessagingArgs:
    project: str
    labels: Mapping[str, str]
    depends_on: Sequence[pulumi.Resource]


class Messaging(pulumi.ComponentResource):
    """Topics and pull subscriptions (the push subscription lives in delivery.py)."""

    new_image_topic: gcp.pubsub.Topic
    labeled_topic: gcp.pubsub.Topic
    dead_letter_topic: gcp.pubsub.Topic
    dead_letter_subscription: gcp.pubsub.Subscription
    user_service_subscription: gcp.pubsub.Subscription

    def __init__(
        self, name: str, args: MessagingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:Messaging", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        labels = dict(args.labels)
        # Why: the User-Service announces uploaded images here (cross-team contract name).
        self.new_image_topic = gcp.pubsub.Topic(
            f"{name}-new-image",
            project=args.project,
            name=NEW_IMAGE_TOPIC,
            labels={**labels, "component": "intake"},
            opts=child,
        )
        # Why: the function publishes one result per image here (cross-team contract name).
        self.labeled_topic = gcp.pubsub.Topic(
            f"{name}-image-labeled",
            project=args.project,
            name=LABELED_TOPIC,
            labels={**labels, "component": "results"},
            opts=child,
        )
        # Why: messages the function failed on max-delivery-attempts times land here, not lost.
        self.dead_letter_topic = gcp.pubsub.Topic(
            f"{name}-dead-letter",
            project=args.project,
            name=DEAD_LETTER_TOPIC,
            labels={**labels, "component": "dead-letter"},
            opts=child,
        )
        # Why: a topic without a subscription drops what it receives; this one keeps dead letters
        # for a week so an operator can inspect and replay them.
        self.dead_letter_subscription = gcp.pubsub.Subscription(
            f"{name}-dead-letter",
            project=args.project,
            name=DEAD_LETTER_SUBSCRIPTION,
            topic=topic_path(self.dead_letter_topic, args.project),
            ack_deadline_seconds=60,
            message_retention_duration=SEVEN_DAYS,
            expiration_policy=NEVER_EXPIRE,
            labels={**labels, "component": "dead-letter"},
            opts=child,
        )
        # Why: the User-Service (and the smoke test) pull the labeling results from here.
        self.user_service_subscription = gcp.pubsub.Subscription(
            f"{name}-results",
            project=args.project,
            name=RESULTS_SUBSCRIPTION,
            topic=topic_path(self.labeled_topic, args.project),
            ack_deadline_seconds=60,
            message_retention_duration=SEVEN_DAYS,
            expiration_policy=NEVER_EXPIRE,
            labels={**labels, "component": "results"},
            opts=child,
        )
        self.register_outputs(
            {
                "new_image_topic": self.new_image_topic.name,
                "labeled_topic": self.labeled_topic.name,
                "dead_letter_topic": self.dead_letter_topic.name,
                "dead_letter_subscription": self.dead_letter_subscription.name,
                "user_service_subscription": self.user_service_subscription.name,
            }
        )
