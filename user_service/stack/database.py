"""Firestore in native mode: the uploads collection lives in the project's (default) database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from user_service.stack.settings import FIRESTORE_DATABASE


@dataclass(frozen=True)
class DatabaseArgs:
    project: str
    region: str
    depends_on: Sequence[pulumi.Resource]


class UploadsDatabase(pulumi.ComponentResource):
    database: gcp.firestore.Database

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("user-service:stack:UploadsDatabase", name, None, opts)
        # Why: one entry per upload (owner, object, state, verdict). Native mode for transactions
        # and the client libraries' default database. Its location cannot change once created.
        # Destroying the stack leaves it (pulumi-gcp's default deletion_policy ABANDON): the
        # verdicts are the service's records.
        self.database = gcp.firestore.Database(
            f"{name}-firestore",
            project=args.project,
            name=FIRESTORE_DATABASE,
            location_id=args.region,
            type="FIRESTORE_NATIVE",
            concurrency_mode="PESSIMISTIC",  # server-client transactions lock what they read
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"database": self.database.name})
