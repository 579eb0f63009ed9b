"""The policy pack's rules: pure validators (properties -> violation messages) and the policies.

Validators take the resource's inputs as Pulumi passes them to a policy pack (camelCase wire
names) after `plain_properties` has turned them into plain dicts and lists, with every value that is
unknown during preview replaced by `UNKNOWN`. An unknown value is never judged: the same policies
run again during `pulumi up`, right before the resource is created, when its inputs are known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)

# The sentinels the engine sends for preview-unknown values, and the error pulumi_policy's property
# proxy raises when one is read (pulumi_policy/proxy.py: unknown_checking_proxy).
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
Validator = Callable[[Props], list[str]]


class _Unknown:
    """A value that cannot be known until the resources it depends on exist."""

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Final = _Unknown()

_UNKNOWN_SENTINELS: Final = frozenset(
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

FUNCTION_V2: Final = "gcp:cloudfunctionsv2/function:Function"
FUNCTION_V1: Final = "gcp:cloudfunctions/function:Function"
BUCKET: Final = "gcp:storage/bucket:Bucket"
SERVICE_ACCOUNT: Final = "gcp:serviceaccount/account:Account"
SERVICE_ACCOUNT_KEY: Final = "gcp:serviceaccount/key:Key"
HMAC_KEY: Final = "gcp:storage/hmacKey:HmacKey"
SUBSCRIPTION: Final = "gcp:pubsub/subscription:Subscription"
CLOUD_RUN_V2_SERVICE: Final = "gcp:cloudrunv2/service:Service"
CLOUD_RUN_V1_SERVICE: Final = "gcp:cloudrun/service:Service"
ALERT_POLICY: Final = "gcp:monitoring/alertPolicy:AlertPolicy"
# Access granted beside a bucket's IAM policy (issue 18): legacy bucket/object ACLs, which a uniform
# bucket refuses and which would make data public as surely as IAM, and managed folders' IAM, which
# grants on a prefix of a bucket past the grants the contract rules judge on the bucket itself.
STORAGE_ACL_TYPES: Final = frozenset(
    {
        "gcp:storage/bucketAccessControl:BucketAccessControl",
        "gcp:storage/objectAccessControl:ObjectAccessControl",
        "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
        "gcp:storage/bucketACL:BucketACL",
        "gcp:storage/objectACL:ObjectACL",
        "gcp:storage/defaultObjectACL:DefaultObjectACL",
    }
)
MANAGED_FOLDER_IAM_TYPES: Final = frozenset(
    {
        f"gcp:storage/managedFolderIam{kind}:ManagedFolderIam{kind}"
        for kind in ("Member", "Binding", "Policy")
    }
)

INTERNAL_ONLY: Final = "ALLOW_INTERNAL_ONLY"
# Cloud Run ingress that is not open to the internet: internal sources only, or those plus an
# external Application Load Balancer (where Cloud Armor or IAP can stand). Unset means all traffic.
CLOUD_RUN_V2_RESTRICTED_INGRESS: Final = frozenset(
    {"INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"}
)
CLOUD_RUN_V1_INGRESS_ANNOTATION: Final = "run.googleapis.com/ingress"
CLOUD_RUN_V1_RESTRICTED_INGRESS: Final = frozenset(
    {"internal", "internal-and-cloud-load-balancing"}
)
PRIMITIVE_ROLES: Final = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
PUBLIC_MEMBERS: Final = frozenset({"allusers", "allauthenticatedusers"})
_IAM_TYPE_SUFFIXES: Final = ("iammember", "iambinding", "iampolicy")

# IAM on the whole project: every grant there reaches every resource of the project, so only these
# roles may be granted there, each because its permission exists on no narrower resource:
# - logging.logWriter: logging.logEntries.create is granted on projects, folders or organizations only;
# - storage.objectViewer, to the build account only, conditioned exactly to Cloud Functions'
#   gcf-v2-sources bucket, which does not exist before the first deploy (infra/access.py).
# Everything else (admin roles, serviceAccountUser, serviceAccountTokenCreator, ...) goes on the
# resource that needs it. A stack that must grant another project role says so here, with its reason.
PROJECT_IAM_TYPES: Final = frozenset(
    {
        "gcp:projects/iAMMember:IAMMember",
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:projects/iAMPolicy:IAMPolicy",
    }
)
PROJECT_ROLES: Final = frozenset({"roles/logging.logWriter"})
BUILD_ACCOUNT_ID: Final = "ai-service-builder"  # infra/settings.py BUILD_ACCOUNT_ID
PROJECT_SOURCES_READER: Final = "roles/storage.objectViewer"
PROJECT_ROLES_TEXT: Final = (
    f"{', '.join(sorted(PROJECT_ROLES))}, and {PROJECT_SOURCES_READER} to {BUILD_ACCOUNT_ID} "
    "conditioned to the gcf-v2-sources bucket"
)
# The one condition a project storage grant may carry: the gcf-v2-sources bucket and its objects,
# exactly as infra/access.py one_bucket_condition writes it. Cloud Storage names them
# projects/_/buckets/BUCKET and projects/_/buckets/BUCKET/objects/OBJECT in conditions (IAM
# "conditions resource attributes"). A prefix that stops at the bucket's name,
# startsWith(".../gcf-v2-sources-N-europe-west1"), also admits every bucket whose name starts with it
# (europe-west10's), so it is refused (issue 17 finding 6); so is any other bucket (issue 18).
_GCF_SOURCES_BUCKET: Final = r"gcf-v2-sources-[0-9]+-[a-z]+-[a-z]+[0-9]+"
_GCF_SOURCES_CONDITION: Final = re.compile(
    rf'resource\.name == "projects/_/buckets/(?P<bucket>{_GCF_SOURCES_BUCKET})" \|\| '
    r'resource\.name\.startsWith\("projects/_/buckets/(?P=bucket)/objects/"\)'
)
BUCKET_CONDITION_FORM: Final = (
    'resource.name == "projects/_/buckets/gcf-v2-sources-NUMBER-REGION" || '
    'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-NUMBER-REGION/objects/")'
)
# Audit configs exist on the project (and above) only. The project may hold exactly one: Cloud
# Storage's Data Access logs (reads and writes of objects), for everyone (an exempted member's
# access would go unlogged). An IAMAuditConfig is authoritative for its service, so one for
# another service would replace what the project's owners configured for it.
PROJECT_AUDIT_CONFIG: Final = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
AUDITED_SERVICE: Final = "storage.googleapis.com"
AUDITED_LOG_TYPES: Final = frozenset({"DATA_READ", "DATA_WRITE"})
# Above the project: the stack grants nothing on folders or the organization.
ABOVE_PROJECT_IAM_TYPES: Final = frozenset(
    {
        f"gcp:{level}/{kind}"
        for level in ("folder", "organizations")
        for kind in (
            "iAMMember:IAMMember",
            "iAMBinding:IAMBinding",
            "iAMPolicy:IAMPolicy",
            "iAMAuditConfig:IAMAuditConfig",
        )
    }
)


# The contract between the two teams (issue 18; docs/user-service.md): fixed names on both sides.
# On these resources the stack grants the contract's roles only, each to service accounts only:
# - user-service-new-image: roles/pubsub.publisher, to the User-Service (never this stack's runtime,
#   which would then choose what the function reads);
# - ai-service-image-labeled: roles/pubsub.publisher, to this stack's runtime ai-service-sa only
#   (anyone else could publish a forged verdict);
# - user-service-image-labeled (the results subscription): roles/pubsub.subscriber;
# - the images bucket (the one a function reads, its BUCKET_NAME): roles/storage.legacyObjectReader
#   to ai-service-sa (Vision reads as it), and roles/storage.objectUser conditioned exactly to the
#   objects under uploads/ (the User-Service's uploads), to another service account.
NEW_IMAGE_TOPIC: Final = "user-service-new-image"
LABELED_TOPIC: Final = "ai-service-image-labeled"
RESULTS_SUBSCRIPTION: Final = "user-service-image-labeled"
AI_RUNTIME_ACCOUNT_ID: Final = "ai-service-sa"
UPLOADS_PREFIX: Final = "uploads/"
PUBLISHER: Final = "roles/pubsub.publisher"
SUBSCRIBER: Final = "roles/pubsub.subscriber"
IMAGE_READER: Final = "roles/storage.legacyObjectReader"
UPLOADS_WRITER: Final = "roles/storage.objectUser"
TOPIC_IAM_TYPES: Final = frozenset(
    {f"gcp:pubsub/topicIAM{kind}:TopicIAM{kind}" for kind in ("Member", "Binding", "Policy")}
)
SUBSCRIPTION_IAM_TYPES: Final = frozenset(
    {
        f"gcp:pubsub/subscriptionIAM{kind}:SubscriptionIAM{kind}"
        for kind in ("Member", "Binding", "Policy")
    }
)
BUCKET_IAM_TYPES: Final = frozenset(
    {f"gcp:storage/bucketIAM{kind}:BucketIAM{kind}" for kind in ("Member", "Binding", "Policy")}
)
_SERVICE_ACCOUNT_MEMBER: Final = re.compile(r"serviceAccount:[^@\s]+@[^@\s]+")
_AI_RUNTIME_MEMBER: Final = re.compile(
    rf"serviceAccount:{AI_RUNTIME_ACCOUNT_ID}@[a-z0-9-]+\.iam\.gserviceaccount\.com"
)


# --- Property access -----------------------------------------------------------------------------


def plain_properties(props: Any) -> Any:
    """Copy (possibly proxied) properties into plain dicts/lists, preview-unknowns as `UNKNOWN`."""
    if isinstance(props, Secret):
        return plain_properties(props.value)
    if isinstance(props, str):
        return UNKNOWN if props in _UNKNOWN_SENTINELS else props
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
    """The value at `path`, None when any step is missing, `UNKNOWN` when any step is unknown."""
    value = props
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _is_set(value: Any) -> bool:
    """True when a value is present (an unknown counts: something will fill it)."""
    return value is UNKNOWN or (value is not None and value not in ("", {}))


def _strings(value: Any) -> list[str]:
    """The known strings of a string-or-list property; unknown or missing entries are skipped."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _type_name(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def is_iam_resource_type(resource_type: str) -> bool:
    """Any IAM member/binding/policy type, e.g. gcp:storage/bucketIAMMember:BucketIAMMember."""
    return _type_name(resource_type).lower().endswith(_IAM_TYPE_SUFFIXES)


def _policy_data_bindings(props: Props) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The bindings in an *IamPolicy's policyData JSON, and a violation if it cannot be read."""
    policy_data = props.get("policyData")
    if policy_data is None or policy_data is UNKNOWN:
        return [], []
    if not isinstance(policy_data, str):
        return [], ["policyData is not a JSON string; expected the JSON of an IAM policy"]
    try:
        document = json.loads(policy_data)
    except json.JSONDecodeError:
        return [], ["policyData is not valid JSON; expected the JSON of an IAM policy"]
    bindings = document.get("bindings", []) if isinstance(document, Mapping) else []
    if not isinstance(bindings, list):
        return [], ["policyData.bindings is not a list; expected a list of {role, members}"]
    return [binding for binding in bindings if isinstance(binding, Mapping)], []


# --- Validators: properties -> violation messages ------------------------------------------------


def function_v2_ingress_violations(props: Props) -> list[str]:
    """A gen2 function must accept internal traffic only (missing ingress means ALLOW_ALL)."""
    ingress = _lookup(props, "serviceConfig", "ingressSettings")
    if ingress is UNKNOWN or ingress == INTERNAL_ONLY:
        return []
    found = "missing (Cloud Functions defaults to ALLOW_ALL)" if ingress is None else repr(ingress)
    return [
        f"serviceConfig.ingressSettings is {found}; expected {INTERNAL_ONLY!r} so that only "
        "Pub/Sub push and other in-project callers can reach the function"
    ]


def function_v1_ingress_violations(props: Props) -> list[str]:
    """A gen1 function must accept internal traffic only (missing ingress means ALLOW_ALL)."""
    ingress = _lookup(props, "ingressSettings")
    if ingress is UNKNOWN or ingress == INTERNAL_ONLY:
        return []
    found = "missing (Cloud Functions defaults to ALLOW_ALL)" if ingress is None else repr(ingress)
    return [f"ingressSettings is {found}; expected {INTERNAL_ONLY!r}"]


def bucket_violations(props: Props) -> list[str]:
    """Buckets use uniform bucket-level access and enforce public access prevention."""
    violations = []
    uniform = _lookup(props, "uniformBucketLevelAccess")
    if uniform is not UNKNOWN and uniform is not True:
        found = "missing (defaults to false)" if uniform is None else repr(uniform)
        violations.append(
            f"uniformBucketLevelAccess is {found}; expected true so that access is granted by IAM "
            "only, never by per-object ACLs"
        )
    prevention = _lookup(props, "publicAccessPrevention")
    if prevention is not UNKNOWN and prevention != "enforced":
        found = "missing (defaults to 'inherited')" if prevention is None else repr(prevention)
        violations.append(
            f"publicAccessPrevention is {found}; expected 'enforced' so that the bucket can never "
            "be made public"
        )
    return violations


def primitive_role_violations(props: Props) -> list[str]:
    """IAM grants (member, binding, policyData) use predefined or custom roles, never basic ones."""
    roles = [(_lookup(props, "role"), "role")]
    bindings, violations = _policy_data_bindings(props)
    roles += [(binding.get("role"), "policyData binding role") for binding in bindings]
    for role, where in roles:
        if isinstance(role, str) and role in PRIMITIVE_ROLES:
            violations.append(
                f"{where} is the basic role {role!r}; expected a predefined or custom role that "
                "grants only what is needed, on the resource that needs it"
            )
    return violations


def _is_gcf_sources_condition(condition: Any) -> bool | None:
    """Whether an IAM condition is exactly the gcf-v2-sources one; None while it is unknown."""
    expression = _lookup(condition, "expression")
    if condition is UNKNOWN or expression is UNKNOWN:
        return None
    return isinstance(expression, str) and _GCF_SOURCES_CONDITION.fullmatch(expression) is not None


def service_account_member(account_id: str, project: str) -> str:
    return f"serviceAccount:{account_id}@{project}.iam.gserviceaccount.com"


def _sources_reader_violations(
    props: Props, members: list[Any], condition: Any, where: str
) -> list[str]:
    role = PROJECT_SOURCES_READER
    violations = []
    if _is_gcf_sources_condition(condition) is False:
        violations.append(
            f"{where} {role!r} is granted on the whole project without the gcf-v2-sources "
            f"condition; expected it on the bucket, or, for the gcf-v2-sources bucket that does "
            f"not exist before the first deploy, conditioned exactly as {BUCKET_CONDITION_FORM} "
            "(a bare prefix of projects/_/buckets/BUCKET also admits every bucket whose name "
            "starts with it)"
        )
    project = _lookup(props, "project")
    if project is UNKNOWN:
        return violations
    if not isinstance(project, str) or not project:
        violations.append(
            f"{where} {role!r} on a project grant that names no project; expected the project "
            f"set, so the grant can be pinned to its build account {BUILD_ACCOUNT_ID}"
        )
        return violations
    builder = service_account_member(BUILD_ACCOUNT_ID, project)
    violations += [
        f"{where} {role!r} on the whole project is granted to {member!r}; only this stack's "
        f"build account {builder} reads function sources there"
        for member in members
        if isinstance(member, str) and member.strip() != builder
    ]
    return violations


def project_role_violations(props: Props) -> list[str]:
    """Project-level IAM grants only PROJECT_ROLES, and the build account's read of gcf-v2-sources."""
    grants, violations = _role_grants(props)
    for role, members, condition, where in grants:
        if not isinstance(role, str) or role in PROJECT_ROLES:
            continue  # unknown in preview (judged at `pulumi up`), or allowed as it is
        if role == PROJECT_SOURCES_READER:
            violations += _sources_reader_violations(props, members, condition, where)
            continue
        violations.append(
            f"{where} {role!r} is granted on the whole project, which reaches every resource in "
            f"it; expected it on the resource that needs it (the project allows only {PROJECT_ROLES_TEXT})"
        )
    return violations


def project_audit_config_violations(props: Props) -> list[str]:
    """The project's one audit config: Cloud Storage DATA_READ and DATA_WRITE, nobody exempted."""
    service = _lookup(props, "service")
    configs = _lookup(props, "auditLogConfigs")
    if service is UNKNOWN or configs is UNKNOWN:
        return []
    expected = (
        f"expected exactly {AUDITED_SERVICE} with {' and '.join(sorted(AUDITED_LOG_TYPES))} "
        "for everyone"
    )
    if service != AUDITED_SERVICE:
        return [
            f"an audit config for {service!r} replaces whatever the project has for that service "
            f"(IAMAuditConfig is authoritative per service); {expected}"
        ]
    entries = configs if isinstance(configs, list) else []
    log_types = {_lookup(entry, "logType") for entry in entries}
    if UNKNOWN in log_types:
        return []
    violations = []
    if log_types != AUDITED_LOG_TYPES or len(entries) != len(AUDITED_LOG_TYPES):
        found = sorted(str(log_type) for log_type in log_types)
        violations.append(f"auditLogConfigs log {found}; {expected}")
    exempted = [
        member for entry in entries for member in _strings(_lookup(entry, "exemptedMembers"))
    ]
    if exempted:
        violations.append(
            f"auditLogConfigs exempt {exempted}, whose reads and writes would go unlogged; {expected}"
        )
    return violations


def above_project_iam_violations(_props: Props) -> list[str]:
    """The stack grants nothing on folders or the organization."""
    return [
        "IAM on a folder or the organization reaches every project beneath it; expected grants "
        "on the stack's own resources"
    ]


def cloud_run_v2_ingress_violations(props: Props) -> list[str]:
    """A Cloud Run service is not open to the internet (missing ingress means INGRESS_TRAFFIC_ALL)."""
    ingress = _lookup(props, "ingress")
    if ingress is UNKNOWN or ingress in CLOUD_RUN_V2_RESTRICTED_INGRESS:
        return []
    found = (
        "missing (Cloud Run defaults to INGRESS_TRAFFIC_ALL)" if ingress is None else repr(ingress)
    )
    return [
        f"ingress is {found}; expected one of {sorted(CLOUD_RUN_V2_RESTRICTED_INGRESS)} so that "
        "the service is not reachable from the whole internet"
    ]


def cloud_run_v1_ingress_violations(props: Props) -> list[str]:
    """The same for a v1 service, whose ingress is an annotation (missing means "all")."""
    annotations = _lookup(props, "metadata", "annotations")
    ingress = _lookup(annotations, CLOUD_RUN_V1_INGRESS_ANNOTATION)
    if ingress is UNKNOWN or ingress in CLOUD_RUN_V1_RESTRICTED_INGRESS:
        return []
    found = "missing (Cloud Run defaults to 'all')" if ingress is None else repr(ingress)
    return [
        f"metadata.annotations[{CLOUD_RUN_V1_INGRESS_ANNOTATION!r}] is {found}; expected one of "
        f"{sorted(CLOUD_RUN_V1_RESTRICTED_INGRESS)}"
    ]


def public_member_violations(props: Props) -> list[str]:
    """IAM grants never name allUsers or allAuthenticatedUsers."""
    members = [(member, "member") for member in _strings(_lookup(props, "member"))] + [
        (member, "members") for member in _strings(_lookup(props, "members"))
    ]
    bindings, violations = _policy_data_bindings(props)
    for binding in bindings:
        members += [(member, "policyData members") for member in _strings(binding.get("members"))]
    violations += [
        f"{where} contains {member!r}, which makes the resource public; expected only named "
        "service accounts, users or groups"
        for member, where in members
        if member.strip().lower() in PUBLIC_MEMBERS
    ]
    return violations


def storage_beside_iam_violations(props: Props) -> list[str]:
    """No ACL and no managed-folder IAM: the stack's buckets grant by bucket IAM only."""
    entities = _strings(_lookup(props, "entity"))
    # roleEntities entries read "ROLE:entity", e.g. "READER:allUsers".
    entities += [entry.split(":", 1)[-1] for entry in _strings(_lookup(props, "roleEntities"))]
    public = [entity for entity in entities if entity.strip().lower() in PUBLIC_MEMBERS]
    found = f" (and {', '.join(map(repr, public))} makes objects public)" if public else ""
    return [
        f"grants access beside the bucket's IAM policy{found}; expected none: the stack's "
        "buckets use uniform bucket-level access, so access is a role on the bucket "
        "(gcp:storage/bucketIAMMember), never an ACL or a managed folder's IAM"
    ]


def service_account_key_violations(_props: Props) -> list[str]:
    """No long-lived service-account keys: CI uses Workload Identity Federation, code uses ADC."""
    return [
        "service-account keys are long-lived credentials that leak; expected none: use Workload "
        "Identity Federation or attached service accounts instead"
    ]


def hmac_key_violations(_props: Props) -> list[str]:
    """No HMAC keys for service accounts: they are long-lived credentials too."""
    return [
        "HMAC keys are long-lived credentials for a service account; expected none: use OAuth "
        "(attached service accounts) with the JSON API instead"
    ]


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _audience_violations(audience: Any, endpoint: Any) -> list[str]:
    """The token names, as its audience, the endpoint (scheme and host) it is pushed to.

    Left unset, Pub/Sub uses the push endpoint; set explicitly, the audience the receiver checks is
    part of the reviewed config. One naming another host would hand that host tokens it could
    replay against the endpoint the audience names.
    """
    if not _is_set(audience):
        return [
            "pushConfig.oidcToken.audience is missing; expected the URL of the endpoint the token "
            "is for (the function's URI), so the audience the endpoint checks is explicit"
        ]
    known = isinstance(audience, str) and isinstance(endpoint, str)  # else judged at `pulumi up`
    if known and _origin(audience) != _origin(endpoint):
        return [
            f"pushConfig.oidcToken.audience {audience!r} names another endpoint than "
            f"pushConfig.pushEndpoint {endpoint!r}; expected the URL the messages are pushed "
            "to, so no other host receives tokens meant for it"
        ]
    return []


def push_subscription_violations(props: Props) -> list[str]:
    """Push subscriptions send an OIDC token for a named audience and dead-letter what fails."""
    push_config = _lookup(props, "pushConfig")
    if push_config is UNKNOWN or not _is_set(push_config):
        return []  # a pull subscription (or not knowable yet)
    violations = []
    oidc_token = _lookup(push_config, "oidcToken")
    if not _is_set(oidc_token):
        violations.append(
            "pushConfig.oidcToken is missing; expected an OIDC token (serviceAccountEmail of a "
            "dedicated invoker account, audience the endpoint) so the endpoint can require "
            "authentication"
        )
    else:
        if not _is_set(_lookup(oidc_token, "serviceAccountEmail")):
            violations.append(
                "pushConfig.oidcToken.serviceAccountEmail is missing; expected an OIDC token for a "
                "dedicated invoker service account so the endpoint can require authentication"
            )
        violations += _audience_violations(
            _lookup(oidc_token, "audience"), _lookup(push_config, "pushEndpoint")
        )
    if not _is_set(_lookup(props, "deadLetterPolicy", "deadLetterTopic")):
        violations.append(
            "deadLetterPolicy.deadLetterTopic is missing; expected a dead-letter topic so that "
            "messages that keep failing are kept instead of discarded"
        )
    return violations


def alert_policy_documentation_violations(props: Props) -> list[str]:
    """An alert policy tells the on-call what it means and links a runbook.

    An alert without documentation pages someone with a metric name and nothing else; Cloud
    Monitoring sends documentation.content with every notification.
    """
    documentation = _lookup(props, "documentation")
    content = _lookup(documentation, "content")
    if documentation is UNKNOWN or content is UNKNOWN:
        return []
    if not isinstance(content, str) or not content.strip():
        return [
            "documentation.content is missing; expected a text that says what the alert means "
            "and what to do, with a link to the runbook"
        ]
    links = _lookup(documentation, "links")
    urls = [_lookup(link, "url") for link in links] if isinstance(links, list) else []
    if "https://" in content or "http://" in content or any(_is_set(url) for url in urls):
        return []
    return [
        "documentation has no runbook link; expected an http(s) URL in documentation.content "
        "or documentation.links"
    ]


def secret_paths(props: Any, path: str = "") -> list[str]:
    """Where the (proxied) properties hold a value marked secret."""
    if isinstance(props, Secret):
        return [path or "(the resource)"]
    if isinstance(props, str):
        return []
    if isinstance(props, Mapping):
        return [
            found
            for key in props
            for found in secret_paths(_read(props, key), f"{path}.{key}" if path else str(key))
        ]
    if isinstance(props, Sequence) and not isinstance(props, bytes | bytearray):
        return [
            found
            for index in range(len(props))
            for found in secret_paths(_read(props, index), f"{path}[{index}]")
        ]
    return []


def _no_secrets(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for path in secret_paths(args.props):
        report_violation(
            f"{args.resource_type} {args.name!r}: {path} is a secret; expected none in this stack: "
            "pull request previews can decrypt it (docs/security.md); keep a secret in Secret "
            "Manager, read at run time by the account that needs it"
        )


def _role_grants(props: Props) -> tuple[list[tuple[Any, list[Any], Any, str]], list[str]]:
    """(role, members, condition, where) of a member/binding's own grant and of each policyData
    binding; a member unknown in preview is kept as UNKNOWN."""
    own_members = [_lookup(props, "member")] if "member" in props else []
    listed = _lookup(props, "members")
    own_members += listed if isinstance(listed, list) else ([listed] if listed else [])
    grants = [(_lookup(props, "role"), own_members, _lookup(props, "condition"), "role")]
    bindings, violations = _policy_data_bindings(props)
    grants += [
        (
            binding.get("role"),
            _strings(binding.get("members")),
            binding.get("condition"),
            "policyData binding role",
        )
        for binding in bindings
    ]
    return [grant for grant in grants if grant[0] is not None], violations


def _short_name(value: Any, kind: str) -> Any:
    """`name` from `name` or `projects/P/<kind>/name`; UNKNOWN and non-strings as they are."""
    if isinstance(value, str) and f"/{kind}/" in value:
        return value.rsplit("/", 1)[-1]
    return value


def _member_violations(
    members: Sequence[Any], who: str, wanted: Callable[[str], bool]
) -> list[str]:
    found = []
    for member in members:
        if not isinstance(member, str):
            continue  # unknown in preview: judged at `pulumi up`
        if not _SERVICE_ACCOUNT_MEMBER.fullmatch(member.strip()):
            found.append(
                f"grants to {member!r}; on a contract resource only service accounts may hold a "
                f"role (expected {who})"
            )
        elif not wanted(member.strip()):
            found.append(f"grants to {member!r}; expected {who}")
    return found


def _is_ai_runtime(member: str) -> bool:
    return _AI_RUNTIME_MEMBER.fullmatch(member) is not None


def _project_of(props: Props, key: str, kind: str) -> str | None:
    """The project a grant's resource is in: its `project`, or the one its projects/P/<kind>/name
    path names; None when neither is known."""
    project = _lookup(props, "project")
    if isinstance(project, str) and project:
        return project
    path = _lookup(props, key)
    if isinstance(path, str) and path.startswith("projects/") and f"/{kind}/" in path:
        return path.split("/")[1]
    return None


def _ai_runtime_in(project: str | None) -> Callable[[str], bool]:
    """ai-service-sa of `project` when it is known (issue 18: not a namesake in another project)."""
    if project is None:
        return _is_ai_runtime
    runtime = service_account_member(AI_RUNTIME_ACCOUNT_ID, project)
    return lambda member: member == runtime


def _contract_grant_violations(
    props: Props, resource: str, role_wanted: str, who: str, wanted: Callable[[str], bool]
) -> list[str]:
    grants, violations = _role_grants(props)
    for role, members, _condition, where in grants:
        if role is UNKNOWN:
            continue
        if role != role_wanted:
            violations.append(
                f"{where} {role!r} on {resource}, a contract resource; the contract grants "
                f"{role_wanted!r} there and nothing else (docs/user-service.md)"
            )
            continue
        violations += [
            f"{role!r} on {resource} {message}"
            for message in _member_violations(members, who, wanted)
        ]
    return violations


def contract_topic_violations(props: Props) -> list[str]:
    """On the contract topics: publisher only, to the User-Service (new images) or to this
    stack's runtime (results)."""
    topic = _short_name(_lookup(props, "topic"), "topics")
    if topic == NEW_IMAGE_TOPIC:
        return _contract_grant_violations(
            props,
            f"topic {topic}",
            PUBLISHER,
            f"the User-Service's service account, never {AI_RUNTIME_ACCOUNT_ID} (the function "
            "would choose what it reads)",
            lambda member: not _is_ai_runtime(member),
        )
    if topic == LABELED_TOPIC:
        return _contract_grant_violations(
            props,
            f"topic {topic}",
            PUBLISHER,
            f"this stack's runtime account {AI_RUNTIME_ACCOUNT_ID} only, of the topic's project "
            "(anyone else could publish a forged verdict)",
            _ai_runtime_in(_project_of(props, "topic", "topics")),
        )
    return []


def contract_subscription_violations(props: Props) -> list[str]:
    """On the results subscription: subscriber only, to service accounts."""
    subscription = _short_name(_lookup(props, "subscription"), "subscriptions")
    if subscription != RESULTS_SUBSCRIPTION:
        return []
    return _contract_grant_violations(
        props,
        f"subscription {subscription}",
        SUBSCRIBER,
        "the User-Service's service account",
        lambda _member: True,
    )


def uploads_condition(bucket: str) -> str:
    """The one condition the User-Service's grant on the images bucket may carry."""
    return f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{UPLOADS_PREFIX}")'


def images_bucket_grant_violations(bucket: str, props: Props) -> list[str]:
    """On the images bucket: legacyObjectReader to this stack's runtime, objectUser conditioned to
    the User-Service's uploads to another service account, nothing else."""
    grants, violations = _role_grants(props)
    for role, members, condition, where in grants:
        if role is UNKNOWN:
            continue
        resource = f"the images bucket {bucket}"
        if role == IMAGE_READER:
            violations += [
                f"{role!r} on {resource} {message}"
                for message in _member_violations(
                    members,
                    f"this stack's runtime account {AI_RUNTIME_ACCOUNT_ID} (Vision reads as it)",
                    _is_ai_runtime,
                )
            ]
        elif role == UPLOADS_WRITER:
            expression = _lookup(condition, "expression")
            known = condition is not UNKNOWN and expression is not UNKNOWN
            if known and expression != uploads_condition(bucket):
                violations.append(
                    f"{where} {role!r} on {resource} must be conditioned exactly to "
                    f"{uploads_condition(bucket)} (the User-Service's uploads; no listing), "
                    f"got {expression!r}"
                )
            violations += [
                f"{role!r} on {resource} {message}"
                for message in _member_violations(
                    members,
                    f"the User-Service's service account, not {AI_RUNTIME_ACCOUNT_ID}",
                    lambda member: not _is_ai_runtime(member),
                )
            ]
        else:
            violations.append(
                f"{where} {role!r} on {resource}, a contract resource; the contract grants "
                f"{IMAGE_READER!r} to {AI_RUNTIME_ACCOUNT_ID} and {UPLOADS_WRITER!r} conditioned "
                f"to {UPLOADS_PREFIX} there, nothing else (docs/user-service.md)"
            )
    return violations


def images_buckets(resources: Sequence[tuple[str, Props]]) -> set[str]:
    """The buckets a function reads images from: its BUCKET_NAME (labeling.config)."""
    found = set()
    for resource_type, props in resources:
        if resource_type == FUNCTION_V2:
            bucket = _lookup(props, "serviceConfig", "environmentVariables", "BUCKET_NAME")
        elif resource_type == FUNCTION_V1:
            bucket = _lookup(props, "environmentVariables", "BUCKET_NAME")
        else:
            continue
        if isinstance(bucket, str):
            found.add(bucket)
    return found


def stack_contract_bucket_violations(
    resources: Sequence[tuple[str, str, Props]],
) -> list[tuple[str, str]]:
    """(urn, message) for each grant on an images bucket that the contract does not make."""
    images = images_buckets([(kind, props) for kind, _, props in resources])
    found = []
    for resource_type, urn, props in resources:
        if resource_type not in BUCKET_IAM_TYPES:
            continue
        bucket = _lookup(props, "bucket")
        bucket = bucket.removeprefix("b/") if isinstance(bucket, str) else bucket
        if bucket in images:
            found += [
                (urn, f"{resource_type}: {message}")
                for message in images_bucket_grant_violations(bucket, props)
            ]
    return found


def runtime_account_violations(
    resources: Sequence[tuple[str, str, Props]],
) -> list[tuple[str, str]]:
    """(urn, message) for each grant to an account named ai-service-sa other than this stack's own.

    The stack's runtime is the serviceaccount Account with accountId ai-service-sa; its email is
    ai-service-sa@PROJECT.iam.gserviceaccount.com. A namesake in another project (anyone can create
    one) must hold nothing here: not the images bucket's reader, not the results' publisher.
    """
    projects = {
        _lookup(props, "project")
        for resource_type, _, props in resources
        if resource_type == SERVICE_ACCOUNT and _lookup(props, "accountId") == AI_RUNTIME_ACCOUNT_ID
    }
    if len(projects) != 1 or not isinstance(project := next(iter(projects)), str):
        return []  # no runtime account here, or its project unknown in preview: nothing to pin to
    runtime = service_account_member(AI_RUNTIME_ACCOUNT_ID, project)
    found = []
    for resource_type, urn, props in resources:
        if not is_iam_resource_type(resource_type):
            continue
        grants, _ = _role_grants(props)
        for role, members, _condition, _where in grants:
            found += [
                (
                    urn,
                    f"{resource_type}: grants {role!r} to {member!r}, an account named "
                    f"{AI_RUNTIME_ACCOUNT_ID} that is not this stack's runtime; expected "
                    f"{runtime} (the account the function runs as, in project {project!r})",
                )
                for member in members
                if isinstance(member, str)
                and member.strip().startswith(f"serviceAccount:{AI_RUNTIME_ACCOUNT_ID}@")
                and member.strip() != runtime
            ]
    return found


def contract_account_violations(
    resources: Sequence[tuple[str, str, Props]],
) -> list[tuple[str, str]]:
    """(urn, message) unless the contract's grants all name one account.

    With ai-service:userServiceAccount set, the stack grants that one account publisher on
    user-service-new-image, objectUser (uploads/) on the images bucket and subscriber on the results
    subscription; a contract grant to a second account is not the configured contract.
    """
    images = images_buckets([(kind, props) for kind, _, props in resources])
    contract: dict[str, set[str]] = {}
    urns: dict[str, list[str]] = {}
    for resource_type, urn, props in resources:
        if resource_type in TOPIC_IAM_TYPES:
            wanted = _short_name(_lookup(props, "topic"), "topics") == NEW_IMAGE_TOPIC
            role_wanted, what = PUBLISHER, f"{PUBLISHER} on {NEW_IMAGE_TOPIC}"
        elif resource_type in SUBSCRIPTION_IAM_TYPES:
            wanted = (
                _short_name(_lookup(props, "subscription"), "subscriptions") == RESULTS_SUBSCRIPTION
            )
            role_wanted, what = SUBSCRIBER, f"{SUBSCRIBER} on {RESULTS_SUBSCRIPTION}"
        elif resource_type in BUCKET_IAM_TYPES:
            bucket = _lookup(props, "bucket")
            bucket = bucket.removeprefix("b/") if isinstance(bucket, str) else bucket
            wanted = bucket in images
            role_wanted, what = UPLOADS_WRITER, f"{UPLOADS_WRITER} on the images bucket"
        else:
            continue
        if not wanted:
            continue
        grants, _ = _role_grants(props)
        for role, members, _condition, _where in grants:
            if role != role_wanted:
                continue
            for member in members:
                if isinstance(member, str):
                    contract.setdefault(member.strip(), set()).add(what)
                    urns.setdefault(member.strip(), []).append(urn)
    if len(contract) <= 1:
        return []
    accounts = ", ".join(sorted(contract))
    return [
        (
            urn,
            f"the contract's grants ({', '.join(sorted(contract[member]))} to {member}) name "
            f"{len(contract)} accounts ({accounts}); expected one, the configured "
            "ai-service:userServiceAccount, for all of them",
        )
        for member in sorted(contract)
        for urn in urns[member]
    ]


def _stack_policy(
    name: str,
    description: str,
    validator: Callable[[Sequence[tuple[str, str, Props]]], list[tuple[str, str]]],
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = []
        for resource in args.resources:
            props = plain_properties(resource.props)
            if isinstance(props, Mapping):
                resources.append((resource.resource_type, resource.urn, props))
        for urn, message in validator(resources):
            report_violation(message, urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


# --- Policies ------------------------------------------------------------------------------------


def _resource_policy(
    name: str,
    description: str,
    applies_to: Callable[[str], bool],
    validator: Validator,
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not applies_to(args.resource_type):
            return
        props = plain_properties(args.props)
        if not isinstance(props, Mapping):
            return
        for message in validator(props):
            # One argument: the engine fills in the URN of the resource being validated.
            report_violation(f"{args.resource_type} {args.name!r}: {message}")

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _one_of(*resource_types: str) -> Callable[[str], bool]:
    wanted = frozenset(resource_types)
    return lambda resource_type: resource_type in wanted


POLICIES: list[Policy] = [
    _resource_policy(
        "functions-internal-ingress-only",
        "Gen2 Cloud Functions accept internal traffic only (serviceConfig.ingressSettings).",
        _one_of(FUNCTION_V2),
        function_v2_ingress_violations,
    ),
    _resource_policy(
        "functions-v1-internal-ingress-only",
        "Gen1 Cloud Functions accept internal traffic only (ALLOW_INTERNAL_ONLY).",
        _one_of(FUNCTION_V1),
        function_v1_ingress_violations,
    ),
    _resource_policy(
        "cloud-run-restricted-ingress",
        "Cloud Run services are not open to all traffic (ingress; unset means INGRESS_TRAFFIC_ALL).",
        _one_of(CLOUD_RUN_V2_SERVICE),
        cloud_run_v2_ingress_violations,
    ),
    _resource_policy(
        "cloud-run-v1-restricted-ingress",
        "Cloud Run v1 services carry a restricted run.googleapis.com/ingress annotation (unset: all).",
        _one_of(CLOUD_RUN_V1_SERVICE),
        cloud_run_v1_ingress_violations,
    ),
    _resource_policy(
        "buckets-uniform-access-and-public-access-prevention",
        "Buckets use uniform bucket-level access and enforced public access prevention.",
        _one_of(BUCKET),
        bucket_violations,
    ),
    _resource_policy(
        "iam-no-primitive-roles",
        "IAM members, bindings and policies never grant roles/owner, roles/editor or roles/viewer.",
        is_iam_resource_type,
        primitive_role_violations,
    ),
    _resource_policy(
        "iam-project-roles-allow-list",
        f"Project-level IAM grants only {PROJECT_ROLES_TEXT}; everything else goes on the "
        "resource that needs it.",
        lambda resource_type: resource_type in PROJECT_IAM_TYPES,
        project_role_violations,
    ),
    _resource_policy(
        "iam-project-audit-config-storage-data-access",
        f"The project's only audit config is {AUDITED_SERVICE}'s "
        f"{' and '.join(sorted(AUDITED_LOG_TYPES))}, with no exempted members.",
        _one_of(PROJECT_AUDIT_CONFIG),
        project_audit_config_violations,
    ),
    _resource_policy(
        "iam-nothing-above-the-project",
        "No IAM grants or audit configs on folders or the organization.",
        lambda resource_type: resource_type in ABOVE_PROJECT_IAM_TYPES,
        above_project_iam_violations,
    ),
    _resource_policy(
        "iam-no-public-members",
        "IAM members, bindings and policies never grant to allUsers or allAuthenticatedUsers.",
        is_iam_resource_type,
        public_member_violations,
    ),
    _resource_policy(
        "storage-iam-only-no-acls-or-managed-folders",
        "No bucket or object ACLs and no managed-folder IAM: buckets grant by bucket IAM only.",
        lambda resource_type: resource_type in STORAGE_ACL_TYPES | MANAGED_FOLDER_IAM_TYPES,
        storage_beside_iam_violations,
    ),
    _resource_policy(
        "no-service-account-keys",
        "No service-account keys (gcp:serviceaccount/key:Key).",
        _one_of(SERVICE_ACCOUNT_KEY),
        service_account_key_violations,
    ),
    _resource_policy(
        "no-service-account-hmac-keys",
        "No HMAC keys for service accounts (gcp:storage/hmacKey:HmacKey).",
        _one_of(HMAC_KEY),
        hmac_key_violations,
    ),
    _resource_policy(
        "push-subscriptions-oidc-and-dead-letter",
        "Push subscriptions send an OIDC token (invoker account and audience) and have a "
        "dead-letter topic.",
        _one_of(SUBSCRIPTION),
        push_subscription_violations,
    ),
    ResourceValidationPolicy(
        name="stack-holds-no-secrets",
        description="No resource input is a secret: pull request previews can decrypt the stack.",
        validate=_no_secrets,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    _resource_policy(
        "contract-topics-publishers-only",
        f"On {NEW_IMAGE_TOPIC} and {LABELED_TOPIC}: roles/pubsub.publisher only, to service "
        f"accounts; on {LABELED_TOPIC} to {AI_RUNTIME_ACCOUNT_ID} only, on {NEW_IMAGE_TOPIC} never "
        "to it.",
        lambda resource_type: resource_type in TOPIC_IAM_TYPES,
        contract_topic_violations,
    ),
    _resource_policy(
        "contract-results-subscription-subscribers-only",
        f"On {RESULTS_SUBSCRIPTION}: roles/pubsub.subscriber only, to service accounts.",
        lambda resource_type: resource_type in SUBSCRIPTION_IAM_TYPES,
        contract_subscription_violations,
    ),
    _stack_policy(
        "contract-images-bucket-grants",
        f"On the images bucket (a function's BUCKET_NAME): {IMAGE_READER} to "
        f"{AI_RUNTIME_ACCOUNT_ID}, {UPLOADS_WRITER} conditioned to {UPLOADS_PREFIX} to another "
        "service account, nothing else.",
        stack_contract_bucket_violations,
    ),
    _stack_policy(
        "contract-grants-one-user-service-account",
        f"{PUBLISHER} on {NEW_IMAGE_TOPIC}, {UPLOADS_WRITER} on the images bucket and "
        f"{SUBSCRIBER} on {RESULTS_SUBSCRIPTION} all go to one account, the configured "
        "userServiceAccount.",
        contract_account_violations,
    ),
    _stack_policy(
        "runtime-account-is-this-projects",
        f"Grants to an account named {AI_RUNTIME_ACCOUNT_ID} go to this stack's own (its "
        "project's email), never to a namesake in another project.",
        runtime_account_violations,
    ),
    _resource_policy(
        "alert-policies-documented-with-runbook",
        "Alert policies carry documentation text and a runbook link for the on-call.",
        _one_of(ALERT_POLICY),
        alert_policy_documentation_violations,
    ),
]
