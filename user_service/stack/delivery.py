"""How results reach the service: a push subscription of its own on ai-service-image-labeled, with an
OIDC token of the push account, retries, and a dead-letter topic of its own (with a subscription, or
dead letters would be dropped too)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

from user_service.stack.identity import account_path
from user_service.stack.settings import (
    ACK_DEADLINE_SECONDS,
    DEAD_LETTER_SUBSCRIPTION,
    DEAD_LETTER_TOPIC,
    RESULTS_PATH,
    RESULTS_SUBSCRIPTION,
    Settings,
)

SEVEN_DAYS = f"{7 * 24 * 3600}s"
# An idle subscription expires after 31 days by default; these must not.
NEVER_EXPIRE = gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl="")


@dataclass(frozen=True)
class DeliveryArgs:
    settings: Settings
    labeled_topic: pulumi.Input[str]  # projects/<AI project>/topics/ai-service-image-labeled
    push_account: gcp.serviceaccount.Account
    function_uri: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource]


class ResultsDelivery(pulumi.ComponentResource):
    pubsub_agent: gcp.projects.ServiceIdentity
    dead_letter_topic: gcp.pubsub.Topic
    dead_letter_subscription: gcp.pubsub.Subscription
    push_subscription: gcp.pubsub.Subscription
    grants: list[pulumi.CustomResource]

    def __init__(
        self, name: str, args: DeliveryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("user-service:stack:ResultsDelivery", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        # Why: the Pub/Sub service agent mints the push tokens and dead-letters; it is created
        # lazily by Google, so it is made to exist (and its member read) here.
        self.pubsub_agent = gcp.projects.ServiceIdentity(
            f"{name}-pubsub-agent",
            project=settings.project,
            service="pubsub.googleapis.com",
            opts=child,
        )
        agent = self.pubsub_agent.member
        # Why: results the service keeps refusing (malformed ones: HTTP 400) end here, kept.
        self.dead_letter_topic = gcp.pubsub.Topic(
            f"{name}-dead-letter",
            project=settings.project,
            name=DEAD_LETTER_TOPIC,
            labels={"component": "user-service-results"},
            opts=child,
        )
        # Why: a topic without a subscription drops what it gets; a week to inspect and replay.
        self.dead_letter_subscription = gcp.pubsub.Subscription(
            f"{name}-dead-letter",
            project=settings.project,
            name=DEAD_LETTER_SUBSCRIPTION,
            topic=self.dead_letter_topic.id,
            ack_deadline_seconds=ACK_DEADLINE_SECONDS,
            message_retention_duration=SEVEN_DAYS,
            expiration_policy=NEVER_EXPIRE,
            labels={"component": "user-service-results"},
            opts=child,
        )
        self.grants = [
            # Why: the agent signs the push OIDC tokens as the push account (required for Pub/Sub
            # enabled before 2021-04-08; harmless after), on that one account only.
            gcp.serviceaccount.IAMMember(
                f"{name}-pubsub-agent-signs-as-push",
                service_account_id=account_path(args.push_account, settings.project),
                role="roles/iam.serviceAccountTokenCreator",
                member=agent,
                opts=child,
            ),
            # Why: dead-lettering is a publish by the agent to our dead-letter topic.
            gcp.pubsub.TopicIAMMember(
                f"{name}-pubsub-agent-publishes-dead-letters",
                project=settings.project,
                topic=self.dead_letter_topic.name,
                role="roles/pubsub.publisher",
                member=agent,
                opts=child,
            ),
        ]
        # Why: pushes start the moment the subscription exists; grants take minutes to apply.
        ready = time.Sleep(
            f"{name}-propagation",
            create_duration=f"{settings.iam_propagation_seconds}s",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.grants)),
        )
        endpoint = pulumi.Output.from_input(args.function_uri).apply(
            lambda uri: f"{uri.rstrip('/')}{RESULTS_PATH}"
        )
        # Why: how every result reaches the service (7a), authenticated by the push account's
        # token for settings.push_audience, which the service checks (PUSH_AUDIENCE/ACCOUNT).
        self.push_subscription = gcp.pubsub.Subscription(
            f"{name}-push",
            project=settings.project,
            name=RESULTS_SUBSCRIPTION,
            topic=args.labeled_topic,
            ack_deadline_seconds=ACK_DEADLINE_SECONDS,
            message_retention_duration=SEVEN_DAYS,
            expiration_policy=NEVER_EXPIRE,
            push_config=gcp.pubsub.SubscriptionPushConfigArgs(
                push_endpoint=endpoint,
                oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
                    service_account_email=args.push_account.email,
                    audience=settings.push_audience,
                ),
            ),
            retry_policy=gcp.pubsub.SubscriptionRetryPolicyArgs(
                minimum_backoff=f"{settings.minimum_backoff_seconds}s",
                maximum_backoff=f"{settings.maximum_backoff_seconds}s",
            ),
            dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                dead_letter_topic=self.dead_letter_topic.id,
                max_delivery_attempts=settings.max_delivery_attempts,
            ),
            labels={"component": "user-service-results"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, ready]),
        )
        # Why: to dead-letter a message the agent must acknowledge it on this subscription.
        self.grants.append(
            gcp.pubsub.SubscriptionIAMMember(
                f"{name}-pubsub-agent-acks-dead-letters",
                project=settings.project,
                subscription=self.push_subscription.name,
                role="roles/pubsub.subscriber",
                member=agent,
                opts=child,
            )
        )
        self.register_outputs({"push_subscription": self.push_subscription.name})
