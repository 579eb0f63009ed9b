"""The User-Service stack's policy rules: pure validators (properties -> violations) and the policies.

A public service is this stack's purpose, so its pack allows exactly that and nothing more: ingress
from anywhere and `allUsers` as invoker, for the service named SERVICE_NAME only. The AI-Service's pack
(policy/) is untouched: it still refuses any public function or grant in the AI-Service stack.

Properties are the resource's inputs as the engine passes them (camelCase), copied to plain values by
`plain_properties`, with values unknown during preview replaced by UNKNOWN, which is never judged
(the same policies run again at `pulumi up`, when the values are known).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

Props = Mapping[str, Any]
Validator = Callable[[str, Props], list[str]]

SERVICE_NAME: Final = "user-service"  # user_service/stack/settings.py FUNCTION_NAME
FUNCTION_V2: Final = "gcp:cloudfunctionsv2/function:Function"
CLOUD_RUN_INVOKER: Final = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
BUCKET: Final = "gcp:storage/bucket:Bucket"
SUBSCRIPTION: Final = "gcp:pubsub/subscription:Subscription"
PROJECT_IAM: Final = frozenset(
    {
        "gcp:projects/iAMMember:IAMMember",
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:projects/iAMPolicy:IAMPolicy",
    }
)
KEYS: Final = frozenset({"gcp:serviceaccount/key:Key", "gcp:storage/hmacKey:HmacKey"})
INTERNAL_ONLY: Final = "ALLOW_INTERNAL_ONLY"
PRIMITIVE_ROLES: Final = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
PUBLIC_MEMBERS: Final = frozenset({"allusers", "allauthenticatedusers"})
# Project-wide only what has no narrower resource: Firestore (no per-database IAM resource), build
# logs (logEntries.create), and the gcf-v2-sources bucket, which exists only after the first build
# (so only with an IAM condition).
PROJECT_ROLES: Final = {
    "roles/datastore.user": False,
    "roles/logging.logWriter": False,
    "roles/storage.objectViewer": True,  # True: only with a condition
}
# A condition names whole buckets when each `||` term is one of these two forms (the same rule as the
# AI-Service's pack, policy/rules.py _scopes_to_buckets): the bucket itself, or the prefix that ends
# with the separator after its name. startsWith(".../gcf-v2-sources-N-europe-west1") alone also
# admits every bucket whose name starts with it (europe-west10's).
_BUCKET_NAME: Final = r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]"
_WHOLE_BUCKET_TERMS: Final = (
    re.compile(rf"""resource\.name\s*==\s*(["'])projects/_/buckets/{_BUCKET_NAME}\1"""),
    re.compile(
        rf"""resource\.name\.startsWith\(\s*(["'])projects/_/buckets/{_BUCKET_NAME}/(objects/)?\1\s*\)"""
    ),
)
BUCKET_CONDITION_FORM: Final = (
    'resource.name == "projects/_/buckets/BUCKET" || '
    'resource.name.startsWith("projects/_/buckets/BUCKET/objects/")'
)
# What a deployed service must never be given: the local-only ways in (user_uploads.config).
LOCAL_ONLY_VARIABLES: Final = frozenset(
    {"LOCAL_PUSH_TOKEN", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"}
)


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Final = _Unknown()
_SENTINELS: Final = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


def plain_properties(props: Any) -> Any:
    if isinstance(props, Secret):
        return plain_properties(props.value)
    if isinstance(props, str):
        return UNKNOWN if props in _SENTINELS else props
    if isinstance(props, Mapping):
        return {str(key): plain_properties(_read(props, key)) for key in props}
    if isinstance(props, Sequence) and not isinstance(props, bytes | bytearray):
        return [plain_properties(_read(props, index)) for index in range(len(props))]
    return props


def _read(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except UnknownValueError:
        return UNKNOWN


def _lookup(props: Any, *path: str) -> Any:
    value = props
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _members(props: Props) -> list[str]:
    found: list[str] = []
    for key in ("member", "members"):
        value = props.get(key)
        found += (
            [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
        )
    return found


def _is_iam(resource_type: str) -> bool:
    return (
        resource_type.rsplit(":", 1)[-1].lower().endswith(("iammember", "iambinding", "iampolicy"))
    )


def _is_the_service(name: object) -> bool:
    """The service's Cloud Run name: `user-service` or projects/.../services/user-service."""
    return isinstance(name, str) and (
        name == SERVICE_NAME or name.endswith(f"/services/{SERVICE_NAME}")
    )


# --- Validators ----------------------------------------------------------------------------------


def function_ingress_violations(_type: str, props: Props) -> list[str]:
    """Public ingress for the User-Service only; any other function accepts internal traffic only."""
    ingress = _lookup(props, "serviceConfig", "ingressSettings")
    name = props.get("name")
    if ingress is UNKNOWN or ingress == INTERNAL_ONLY or name is UNKNOWN or _is_the_service(name):
        return []
    found = "missing (ALLOW_ALL)" if ingress is None else repr(ingress)
    return [
        f"function {name!r} has ingress {found}; only {SERVICE_NAME!r} may be public, every other "
        f"function must be {INTERNAL_ONLY!r}"
    ]


def public_member_violations(resource_type: str, props: Props) -> list[str]:
    """allUsers only as run.invoker of the User-Service's Cloud Run service; allAuthenticatedUsers never."""
    violations = []
    policy_data = props.get("policyData")
    if isinstance(policy_data, str) and any(kind in policy_data.lower() for kind in PUBLIC_MEMBERS):
        violations.append("policyData grants to the public; only the ServiceIamMember may")
    for member in _members(props):
        kind = member.strip().lower()
        if kind not in PUBLIC_MEMBERS:
            continue
        allowed = (
            kind == "allusers"
            and resource_type == CLOUD_RUN_INVOKER
            and props.get("role") == "roles/run.invoker"
            and (props.get("name") is UNKNOWN or _is_the_service(props.get("name")))
        )
        if not allowed:
            violations.append(
                f"{member!r} is granted {props.get('role')!r} on {props.get('name') or 'a resource'}; "
                f"the only public grant allowed is allUsers as roles/run.invoker of {SERVICE_NAME!r}"
            )
    return violations


def primitive_role_violations(_type: str, props: Props) -> list[str]:
    role = props.get("role")
    if isinstance(role, str) and role in PRIMITIVE_ROLES:
        return [f"role is the basic role {role!r}; expected a predefined role on the resource"]
    return []


def names_whole_buckets(condition: Any) -> bool | None:
    """Whether a condition limits a grant to whole named buckets; None while it is unknown."""
    expression = _lookup(condition, "expression")
    if condition is UNKNOWN or expression is UNKNOWN:
        return None
    if not isinstance(expression, str) or not expression.strip():
        return False
    terms = [term.strip() for term in expression.split("||")]
    return all(any(form.fullmatch(term) for form in _WHOLE_BUCKET_TERMS) for term in terms)


def project_role_violations(_type: str, props: Props) -> list[str]:
    """Project-wide only what has no narrower resource (PROJECT_ROLES)."""
    role = props.get("role")
    if role is UNKNOWN:
        return []
    if role not in PROJECT_ROLES:
        return [
            f"project-wide grant of {role!r}; grant it on the resource that needs it (only "
            f"{', '.join(sorted(PROJECT_ROLES))} have no narrower resource here)"
        ]
    if PROJECT_ROLES[role] and names_whole_buckets(props.get("condition")) is False:
        return [
            f"project-wide {role!r} needs an IAM condition naming the one bucket it is for, "
            f"exactly {BUCKET_CONDITION_FORM} (a bare prefix of projects/_/buckets/BUCKET also "
            "admits every bucket whose name starts with it)"
        ]
    return []


def bucket_violations(_type: str, props: Props) -> list[str]:
    violations = []
    if props.get("uniformBucketLevelAccess") not in (True, UNKNOWN):
        violations.append("uniformBucketLevelAccess must be true (IAM only, no object ACLs)")
    if props.get("publicAccessPrevention") not in ("enforced", UNKNOWN):
        violations.append("publicAccessPrevention must be 'enforced'")
    return violations


def key_violations(resource_type: str, _props: Props) -> list[str]:
    return [f"{resource_type}: no long-lived keys; the service signs through IAM signBlob"]


def push_subscription_violations(_type: str, props: Props) -> list[str]:
    push = props.get("pushConfig")
    if push is UNKNOWN or not push:
        return []
    violations = []
    if not _lookup(push, "oidcToken", "serviceAccountEmail"):
        violations.append("a push subscription must send an OIDC token of a push account")
    if not _lookup(props, "deadLetterPolicy", "deadLetterTopic"):
        violations.append("a push subscription must dead-letter what it cannot deliver")
    return violations


def local_environment_violations(_type: str, props: Props) -> list[str]:
    environment = _lookup(props, "serviceConfig", "environmentVariables")
    if not isinstance(environment, Mapping):
        return []
    return [
        f"environment variable {name} is for local runs on the emulators only; deployed, results "
        "are authenticated by Pub/Sub's OIDC token"
        for name in sorted(LOCAL_ONLY_VARIABLES & set(environment))
    ]


# --- Policies ------------------------------------------------------------------------------------


def _policy(
    name: str, description: str, applies: Callable[[str], bool], validator: Validator
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not applies(args.resource_type):
            return
        props = plain_properties(args.props)
        if isinstance(props, Mapping):
            for message in validator(args.resource_type, props):
                report_violation(f"{args.resource_type} {args.name!r}: {message}")

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


POLICIES: list[ResourceValidationPolicy] = [
    _policy(
        "public-ingress-only-for-the-user-service",
        "Only the User-Service's function accepts traffic from anywhere.",
        lambda kind: kind == FUNCTION_V2,
        function_ingress_violations,
    ),
    _policy(
        "public-invoker-only-for-the-user-service",
        "allUsers only as run.invoker of the User-Service; allAuthenticatedUsers never.",
        _is_iam,
        public_member_violations,
    ),
    _policy(
        "iam-no-primitive-roles", "No owner/editor/viewer.", _is_iam, primitive_role_violations
    ),
    _policy(
        "project-iam-only-without-narrower-resource",
        "Project-wide grants only for what has no narrower resource.",
        lambda kind: kind in PROJECT_IAM,
        project_role_violations,
    ),
    _policy(
        "buckets-private-and-uniform",
        "Uniform access and enforced public access prevention.",
        lambda kind: kind == BUCKET,
        bucket_violations,
    ),
    _policy(
        "no-keys", "No service-account or HMAC keys.", lambda kind: kind in KEYS, key_violations
    ),
    _policy(
        "push-subscriptions-oidc-and-dead-letter",
        "Push subscriptions send an OIDC token and have a dead-letter topic.",
        lambda kind: kind == SUBSCRIPTION,
        push_subscription_violations,
    ),
    _policy(
        "no-local-only-settings-deployed",
        "The deployed service never gets the local push token or an emulator host.",
        lambda kind: kind == FUNCTION_V2,
        local_environment_violations,
    ),
]
