"""Cloud Storage Data Access audit logs (issue 17 finding 12): who read or wrote which image."""

from __future__ import annotations

from tests.infra.harness import PROJECT_ID, ProgramRun

AUDIT_CONFIG = "gcp:projects/iAMAuditConfig:IAMAuditConfig"


def test_storage_data_reads_and_writes_are_audit_logged(default_run: ProgramRun) -> None:
    [config] = default_run.of_type(AUDIT_CONFIG)
    assert config.inputs["project"] == PROJECT_ID
    assert config.inputs["service"] == "storage.googleapis.com"
    assert config.inputs["auditLogConfigs"] == [{"logType": "DATA_READ"}, {"logType": "DATA_WRITE"}]


def test_nobody_is_exempted_from_the_audit_logs(default_run: ProgramRun) -> None:
    """An exempted member's reads would go unlogged: the runtime account's included."""
    for config in default_run.of_type(AUDIT_CONFIG):
        for log in config.inputs["auditLogConfigs"]:
            assert not log.get("exemptedMembers"), config.urn


def test_the_audit_config_is_the_only_one_and_only_for_storage(default_run: ProgramRun) -> None:
    """IAMAuditConfig is authoritative for its service: one per service, and only the one the
    stack needs, so it replaces no audit config of another service someone made by hand."""
    services = [config.inputs["service"] for config in default_run.of_type(AUDIT_CONFIG)]
    assert services == ["storage.googleapis.com"]
