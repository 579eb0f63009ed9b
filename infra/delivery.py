"""Delivery: the push subscription we own, with retry, dead-lettering and the IAM it needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

from infra.identity import account_path, member
from infra.messaging import expiration_policy, topic_path
from infra.settings import Settings
from infra.topology import topology


@dataclass(frozen=True)
class DeliveryArgs:
    settings: Settings
    new_image_topic: gcp.pubsub.Topic
    dead_letter_topic: gcp.pubsub.Topic
    invoker_account: gcp.serviceaccount.Account
    function_uri: pulumi.Input[str]
    function_service: pulumi.Input[str]
    labels: Mapping[str, str]
    depends_on: Sequence[pulumi.Resource]
    # The first-deploy wait between the grants above and the push subscription.
    propagation_seconds: int = 120


PUBSUB_API = "pubsub.googleapis.com"


class Delivery(pulumi.ComponentResource):
    """user-service-new-image -> push (OIDC) -> function; dead-letter after N attempts."""

    pubsub_agent: gcp.projects.ServiceIdentity
    invoker_grant: gcp.cloudrunv2.ServiceIamMember
    token_creator_grant: gcp.serviceaccount.IAMMember
    dead_letter_publisher_grant: gcp.pubsub.TopicIAMMember
    grants_propagated: time.Sleep
    push_subscription: gcp.pubsub.Subscription
    dead_letter_subscriber_grant: gcp.pubsub.SubscriptionIAMMember

    def __init__(
        self, name: str, args: DeliveryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:Delivery", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        # Why: the Pub/Sub service agent is created lazily by Google, so a grant to it on a fresh
        # project can fail with "does not exist"; ServiceIdentity (serviceusage
        # generateServiceIdentity) creates it now and returns its member (pulumi-gcp
        # projects.ServiceIdentity: "member: The Identity of the Google managed service account
        # in the form 'serviceAccount:{email}'"). Create/read only: destroy leaves the agent.
        self.pubsub_agent = gcp.projects.ServiceIdentity(
            f"{name}-pubsub-agent",
            project=settings.project,
            service=PUBSUB_API,
            opts=child,
        )
        agent = self.pubsub_agent.member
        # Why: the push identity may invoke this one Cloud Run service and nothing else.
        # cloudfunctionsv2.FunctionIamMember rejects run.invoker (TPG #21674), so the grant
        # goes on the function's underlying Cloud Run service.
        self.invoker_grant = gcp.cloudrunv2.ServiceIamMember(
            f"{name}-invoker-runs-function",
            project=settings.project,
            location=settings.region,
            name=args.function_service,
            role="roles/run.invoker",
            member=member(args.invoker_account),
            opts=child,
        )
        # Why: Pub/Sub's service agent mints the push OIDC tokens for the invoker account.
        # Google's push-authentication docs require this grant "if you enabled Pub/Sub on or
        # before April 8, 2021" (later enablements get it through the agent's own role); it is
        # the enablement date that counts, not the project's creation. Granting it on the one
        # invoker account is right for both.
        self.token_creator_grant = gcp.serviceaccount.IAMMember(
            f"{name}-pubsub-agent-signs-as-invoker",
            service_account_id=account_path(args.invoker_account, settings.project),
            role="roles/iam.serviceAccountTokenCreator",
            member=agent,
            opts=child,
        )
        # Why: dead-lettering is done by the Pub/Sub service agent, which must publish there.
        self.dead_letter_publisher_grant = gcp.pubsub.TopicIAMMember(
            f"{name}-pubsub-agent-publishes-dead-letters",
            project=settings.project,
            topic=args.dead_letter_topic.name,
            role="roles/pubsub.publisher",
            member=agent,
            opts=child,
        )
        # Why: the subscription starts pushing the moment it exists, but a new grant takes
        # "typically 2 minutes, potentially 7 minutes or longer" to apply
        # (cloud.google.com/iam/docs/access-change-propagation): without this wait, messages
        # published right after the first deploy (make smoke) can fail OIDC or run.invoker
        # checks max_delivery_attempts times and be dead-lettered. Waits on create only.
        push_grants: list[pulumi.Resource] = [
            self.invoker_grant,
            self.token_creator_grant,
            self.dead_letter_publisher_grant,
        ]
        self.grants_propagated = time.Sleep(
            f"{name}-propagation",
            create_duration=f"{args.propagation_seconds}s",
            opts=pulumi.ResourceOptions(parent=self, depends_on=push_grants),
        )
        # Why: how every new image reaches the function. Owned here (not by Eventarc) so it has
        # a dead-letter policy; it pushes to the run.app URL, which internal-only ingress
        # accepts from Pub/Sub in this project. Created after the grants have propagated.
        # Name, ack deadline, retention, retry and dead-letter policy: infra/topology.py, which
        # `make local` provisions on the emulator too.
        declared_topology = topology(settings)
        declared = declared_topology.push_subscription
        retry, dead_letter = declared_topology.delivery_policies()
        self.push_subscription = gcp.pubsub.Subscription(
            f"{name}-push",
            project=settings.project,
            name=declared.name,
            topic=topic_path(args.new_image_topic, settings.project),
            # At least the function timeout, so a slow success is not redelivered meanwhile.
            ack_deadline_seconds=declared.ack_deadline_seconds,
            message_retention_duration=declared.retention,
            expiration_policy=expiration_policy(declared),
            push_config=gcp.pubsub.SubscriptionPushConfigArgs(
                push_endpoint=args.function_uri,
                oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
                    service_account_email=args.invoker_account.email,
                    audience=args.function_uri,
                ),
            ),
            retry_policy=gcp.pubsub.SubscriptionRetryPolicyArgs(
                minimum_backoff=f"{retry.minimum_backoff_seconds}s",
                maximum_backoff=f"{retry.maximum_backoff_seconds}s",
            ),
            dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                dead_letter_topic=topic_path(args.dead_letter_topic, settings.project),
                max_delivery_attempts=dead_letter.max_delivery_attempts,
            ),
            labels={**args.labels, "component": "delivery"},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*args.depends_on, *push_grants, self.grants_propagated],
            ),
        )
        # Why: to forward a message to the dead-letter topic the service agent must be able to
        # acknowledge it on the source subscription.
        self.dead_letter_subscriber_grant = gcp.pubsub.SubscriptionIAMMember(
            f"{name}-pubsub-agent-acks-dead-letters",
            project=settings.project,
            subscription=self.push_subscription.name,
            role="roles/pubsub.subscriber",
            member=agent,
            opts=child,
        )
        self.register_outputs({"push_subscription": self.push_subscription.name})
