"""Cloud Audit Logs: who read and who wrote which object, in every bucket of the project."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

STORAGE_API = "storage.googleapis.com"
# Data Access logs: DATA_READ (object data, metadata and listings), DATA_WRITE (objects created,
# changed, deleted). ADMIN_READ (bucket metadata and IAM reads) is left off: it says nothing about
# the images (Cloud Storage "Cloud Audit Logs with Cloud Storage").
DATA_ACCESS_LOG_TYPES = ("DATA_READ", "DATA_WRITE")


@dataclass(frozen=True)
class StorageAuditLogsArgs:
    project: str
    depends_on: Sequence[pulumi.Resource]


class StorageAuditLogs(pulumi.ComponentResource):
    """Cloud Storage Data Access audit logs for the project (docs/security.md "Audit logs")."""

    config: gcp.projects.IAMAuditConfig

    def __init__(
        self, name: str, args: StorageAuditLogsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:StorageAuditLogs", name, None, opts)
        # Why: Admin Activity logs are always written, Data Access logs for Cloud Storage are not
        # ("not recorded by default"); without them nobody can tell who read an uploaded image.
        # Audit configs exist only on the project (or above): the policy pack admits exactly this
        # one. IAMAuditConfig is authoritative for its service: it replaces any storage audit
        # config made by hand (pulumi-gcp projects.IAMAuditConfig), other services keep theirs.
        # A project-level resource: created and changed by a human's `make deploy`, never by CI.
        self.config = gcp.projects.IAMAuditConfig(
            f"{name}-storage-data-access",
            project=args.project,
            service=STORAGE_API,
            audit_log_configs=[
                gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=log_type)
                for log_type in DATA_ACCESS_LOG_TYPES
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"service": STORAGE_API})
