"""Pub/Sub: the two contract topics, the dead-letter topic, and the pull subscriptions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.topology import Subscription, Topology

# Subscriptions expire after 31 idle days by default; an idle dead-letter or results
# subscription would silently vanish with it, so ours never expire (empty ttl).
NEVER_EXPIRE = gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl="")


def expiration_policy(
    subscription: Subscription,
) -> gcp.pubsub.SubscriptionExpirationPolicyArgs | None:
    return NEVER_EXPIRE if subscription.never_expire else None


def topic_path(topic: gcp.pubsub.Topic, project: str) -> pulumi.Output[str]:
    """`projects/{project}/topics/{name}`, from the name we set (`.apply` keeps the dependency).

    pulumi-gcp pubsub.Subscription topic: "of the form projects/{project}/topics/{{name}}";
    dead_letter_policy.dead_letter_topic: "Format is projects/{project}/topics/{topic}".
    """
    return topic.name.apply(lambda name: f"projects/{project}/topics/{name}")


@dataclass(frozen=True)
class MessagingArgs:
    project: str
    topology: Topology  # names and policies (infra/topology.py; make local reads the same)
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
        declared = args.topology
        # Why: the User-Service announces uploaded images here (cross-team contract name).
        self.new_image_topic = gcp.pubsub.Topic(
            f"{name}-new-image",
            project=args.project,
            name=declared.new_image_topic.name,
            labels={**labels, "component": "intake"},
            opts=child,
        )
        # Why: the function publishes one result per image here (cross-team contract name).
        self.labeled_topic = gcp.pubsub.Topic(
            f"{name}-image-labeled",
            project=args.project,
            name=declared.labeled_topic.name,
            labels={**labels, "component": "results"},
            opts=child,
        )
        # Why: messages the function failed on max-delivery-attempts times land here, not lost.
        self.dead_letter_topic = gcp.pubsub.Topic(
            f"{name}-dead-letter",
            project=args.project,
            name=declared.dead_letter_topic.name,
            labels={**labels, "component": "dead-letter"},
            opts=child,
        )
        # Why: a topic without a subscription drops what it receives; this one keeps dead letters
        # for a week so an operator can inspect and replay them.
        self.dead_letter_subscription = gcp.pubsub.Subscription(
            f"{name}-dead-letter",
            project=args.project,
            name=declared.dead_letter_subscription.name,
            topic=topic_path(self.dead_letter_topic, args.project),
            ack_deadline_seconds=declared.dead_letter_subscription.ack_deadline_seconds,
            message_retention_duration=declared.dead_letter_subscription.retention,
            expiration_policy=expiration_policy(declared.dead_letter_subscription),
            labels={**labels, "component": "dead-letter"},
            opts=child,
        )
        # Why: the User-Service (and the smoke test) pull the labeling results from here.
        self.user_service_subscription = gcp.pubsub.Subscription(
            f"{name}-results",
            project=args.project,
            name=declared.results_subscription.name,
            topic=topic_path(self.labeled_topic, args.project),
            ack_deadline_seconds=declared.results_subscription.ack_deadline_seconds,
            message_retention_duration=declared.results_subscription.retention,
            expiration_policy=expiration_policy(declared.results_subscription),
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
