"""Artifact Registry: our own repository for the function's images, with a cleanup policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.settings import ARTIFACT_REPOSITORY

KEEP_IMAGE_VERSIONS = 5
DELETE_AFTER = "2592000s"  # 30 days


def repository_path(
    repository: gcp.artifactregistry.Repository, project: str, region: str
) -> pulumi.Output[str]:
    """`projects/{project}/locations/{region}/repositories/{id}`, from the id we set.

    Cloud Functions v2 BuildConfig.docker_repository "must match the pattern
    projects/{project}/locations/{location}/repositories/{repository}"; `.apply` keeps the
    dependency on the repository.
    """
    return repository.repository_id.apply(
        lambda repository_id: f"projects/{project}/locations/{region}/repositories/{repository_id}"
    )


@dataclass(frozen=True)
class FunctionRegistryArgs:
    project: str
    region: str
    labels: Mapping[str, str]
    depends_on: Sequence[pulumi.Resource]


class FunctionRegistry(pulumi.ComponentResource):
    """The Docker repository passed to the function as build_config.docker_repository."""

    repository: gcp.artifactregistry.Repository

    def __init__(
        self, name: str, args: FunctionRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:FunctionRegistry", name, None, opts)
        # Why: with our own repository the build account's writer role is granted on this
        # repository only (not project-wide on gcf-artifacts), and the cleanup policy stops
        # every redeploy's image from accumulating storage cost.
        self.repository = gcp.artifactregistry.Repository(
            f"{name}-repository",
            project=args.project,
            location=args.region,
            repository_id=ARTIFACT_REPOSITORY,
            format="DOCKER",
            description="Container images of the ai-service-image-labeling function.",
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=KEEP_IMAGE_VERSIONS
                    ),
                ),
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-old",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="ANY", older_than=DELETE_AFTER
                    ),
                ),
            ],
            labels={**args.labels, "component": "function-images"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"repository": self.repository.id})
