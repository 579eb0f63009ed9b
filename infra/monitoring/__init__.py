"""Monitoring as code, by job: `metrics` (what the log-based metrics count and the filters that read
them), `alerts` (the alert policies as data), `dashboard` (the operator's charts) and `component` (the
Pulumi resources made from them)."""
