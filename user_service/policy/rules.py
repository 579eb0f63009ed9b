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
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
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
# (type, urn, properties) of every resource of the stack, as stack policies see them.
Resources = Sequence[tuple[str, str, Props]]
StackValidator = Callable[[Resources], list[tuple[str, str]]]  # -> (urn, message)

SERVICE_NAME: Final = "user-service"  # user_service/stack/settings.py FUNCTION_NAME
FUNCTION_V2: Final = "gcp:cloudfunctionsv2/function:Function"
FUNCTION_V1: Final = "gcp:cloudfunctions/function:Function"
CLOUD_RUN_V2_SERVICE: Final = "gcp:cloudrunv2/service:Service"
CLOUD_RUN_V1_SERVICE: Final = "gcp:cloudrun/service:Service"
CLOUD_RUN_INVOKER: Final = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
BUCKET: Final = "gcp:storage/bucket:Bucket"
TOPIC: Final = "gcp:pubsub/topic:Topic"
SUBSCRIPTION: Final = "gcp:pubsub/subscription:Subscription"
# Access to a bucket beside its IAM policy: legacy ACLs (entities such as allUsers) and managed
# folders' IAM (grants on a prefix of the bucket).
STORAGE_ACL: Final = frozenset(
    {
        "gcp:storage/bucketAccessControl:BucketAccessControl",
        "gcp:storage/objectAccessControl:ObjectAccessControl",
        "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
        "gcp:storage/bucketACL:BucketACL",
        "gcp:storage/objectACL:ObjectACL",
        "gcp:storage/defaultObjectACL:DefaultObjectACL",
    }
)
PUBLIC_PREDEFINED_ACLS: Final = frozenset({"publicread", "publicreadwrite", "authenticatedread"})
# The AI-Service's resources (infra/settings.py, docs/user-service.md). The grants the contract needs
# on them are the AI-Service stack's to make (its ai-service:userServiceAccount names this service's
# account): the contract lives as code on the AI side, and this stack grants nothing there.
AI_TOPICS: Final = frozenset(
    {"user-service-new-image", "ai-service-image-labeled", "ai-service-image-labeling-dead-letter"}
)
AI_SUBSCRIPTIONS: Final = frozenset(
    {
        "user-service-image-labeled",
        "ai-service-image-labeling-push",
        "ai-service-image-labeling-dead-letter",
    }
)
AI_NAME_PREFIX: Final = "ai-service-"  # its function, repository and accounts
AI_BUCKET_SUFFIXES: Final = ("-ai-service-images", "-ai-service-source")  # <project>-ai-service-*
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


_SERVICE_PATH: Final = re.compile(r"projects/([^/]+)/locations/([^/]+)/services/([^/]+)")


def service_path(props: Props) -> tuple[Any, Any, Any] | None:
    """(project, location, service) a Cloud Run IAM grant is on: from its full name, or its bare name
    with its `project` and `location`; None when they disagree. Unknown parts stay UNKNOWN."""
    name = props.get("name")
    project, location = props.get("project"), props.get("location")
    if name is UNKNOWN:
        return UNKNOWN, UNKNOWN, UNKNOWN
    if not isinstance(name, str):
        return None
    match = _SERVICE_PATH.fullmatch(name)
    if match is None:
        return project, location, name
    for given, named in ((project, match[1]), (location, match[2])):
        if isinstance(given, str) and given != named:
            return None
    return match[1], match[2], match[3]


def _short(value: Any) -> Any:
    """`name` from `name`, `projects/P/<kind>/name` or a bucket's `b/name`."""
    if isinstance(value, str):
        return value.rsplit("/", 1)[-1]
    return value


def ai_resource(props: Props) -> str | None:
    """What of the AI-Service's a grant or ACL is on, by the names infra/settings.py gives them."""
    targets = [
        ("topic", _short(props.get("topic")), lambda name: name in AI_TOPICS),
        ("subscription", _short(props.get("subscription")), lambda name: name in AI_SUBSCRIPTIONS),
        ("bucket", _short(props.get("bucket")), lambda name: name.endswith(AI_BUCKET_SUFFIXES)),
        ("service account", _short(props.get("serviceAccountId")), lambda _name: False),
        ("service", _short(props.get("name")), lambda _name: False),
        ("function", _short(props.get("cloudFunction")), lambda _name: False),
        ("repository", _short(props.get("repository")), lambda _name: False),
    ]
    for kind, name, is_ai in targets:
        if isinstance(name, str) and (is_ai(name) or name.startswith(AI_NAME_PREFIX)):
            return f"{kind} {name}"
    return None


def _ai_grant_message(what: str) -> str:
    return (
        f"grants on the AI-Service's {what}; that grant is the AI-Service stack's to make (its "
        "ai-service:userServiceAccount names this service's account; docs/user-service.md), never "
        "this stack's"
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


def _public_acl_entities(props: Props) -> list[str]:
    entities = [props.get("entity")] + [
        entry.split(":", 1)[-1]
        for entry in props.get("roleEntities") or []
        if isinstance(entry, str)
    ]
    predefined = props.get("predefinedAcl")
    if isinstance(predefined, str) and predefined.lower() in PUBLIC_PREDEFINED_ACLS:
        entities.append(f"predefinedAcl {predefined}")
    return [
        entity
        for entity in entities
        if isinstance(entity, str)
        and (entity.strip().lower() in PUBLIC_MEMBERS or entity.startswith("predefinedAcl"))
    ]


def public_member_violations(resource_type: str, props: Props) -> list[str]:
    """allUsers only as run.invoker of the User-Service's Cloud Run service, named with its project
    and location; allAuthenticatedUsers never; no public ACL."""
    if resource_type in STORAGE_ACL:
        return [
            f"ACL {entity!r} makes objects public; the only public grant allowed is allUsers as "
            f"roles/run.invoker of {SERVICE_NAME!r}"
            for entity in _public_acl_entities(props)
        ]
    violations = []
    policy_data = props.get("policyData")
    if isinstance(policy_data, str) and any(kind in policy_data.lower() for kind in PUBLIC_MEMBERS):
        violations.append("policyData grants to the public; only the ServiceIamMember may")
    path = service_path(props)
    for member in _members(props):
        kind = member.strip().lower()
        if kind not in PUBLIC_MEMBERS:
            continue
        # Pinned: project, location and name all given (or unknown until `pulumi up`).
        pinned = path is not None and all(part is UNKNOWN or part for part in path)
        allowed = (
            kind == "allusers"
            and resource_type == CLOUD_RUN_INVOKER
            and props.get("role") == "roles/run.invoker"
            and pinned
            and path is not None
            and path[2] in (SERVICE_NAME, UNKNOWN)
        )
        if not allowed:
            violations.append(
                f"{member!r} is granted {props.get('role')!r} on {props.get('name') or 'a resource'}"
                f" (project {props.get('project')!r}, location {props.get('location')!r}); the only "
                f"public grant allowed is allUsers as roles/run.invoker of {SERVICE_NAME!r}, named "
                "with its project and location (projects/P/locations/L/services/"
                f"{SERVICE_NAME}, or the name with project and location set, in agreement)"
            )
    return violations


def ai_resource_grant_violations(_type: str, props: Props) -> list[str]:
    """Nothing on the AI-Service's topics, subscriptions, buckets, function or accounts."""
    what = ai_resource(props)
    return [_ai_grant_message(what)] if what else []


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


def _names(mapping: Any) -> list[str]:
    return [str(key) for key in mapping] if isinstance(mapping, Mapping) else []


def _listed(items: Any, key: str) -> list[str]:
    """The string `key` of each mapping in a list, e.g. each env's name."""
    values = [_lookup(item, key) for item in items] if isinstance(items, list) else []
    return [value for value in values if isinstance(value, str)]


def _container_env_names(containers: Any) -> list[str]:
    found: list[str] = []
    for container in containers if isinstance(containers, list) else []:
        found += _listed(_lookup(container, "envs"), "name")
    return found


def deployed_environment(resource_type: str, props: Props) -> list[str]:
    """The names of the environment a deployed service or function (or its build) is given."""
    if resource_type == FUNCTION_V2:
        return [
            *_names(_lookup(props, "serviceConfig", "environmentVariables")),
            *_listed(_lookup(props, "serviceConfig", "secretEnvironmentVariables"), "key"),
            *_names(_lookup(props, "buildConfig", "environmentVariables")),
        ]
    if resource_type == FUNCTION_V1:
        return [
            *_names(props.get("environmentVariables")),
            *_listed(props.get("secretEnvironmentVariables"), "key"),
            *_names(props.get("buildEnvironmentVariables")),
        ]
    if resource_type == CLOUD_RUN_V2_SERVICE:
        return _container_env_names(_lookup(props, "template", "containers"))
    if resource_type == CLOUD_RUN_V1_SERVICE:
        return _container_env_names(_lookup(props, "template", "spec", "containers"))
    return []


def local_environment_violations(resource_type: str, props: Props) -> list[str]:
    names = set(deployed_environment(resource_type, props))
    return [
        f"environment variable {name} is for local runs on the emulators only (make local); "
        "deployed, results are authenticated by Pub/Sub's OIDC token and the clients reach Google"
        for name in sorted(LOCAL_ONLY_VARIABLES & names)
    ]


# --- Stack validators: (type, urn, properties) of every resource -> (urn, message) ---------------


def _the_function(resources: Resources) -> Props | None:
    return next(
        (
            props
            for kind, _urn, props in resources
            if kind == FUNCTION_V2 and props.get("name") == SERVICE_NAME
        ),
        None,
    )


def public_invoker_pin_violations(resources: Resources) -> list[tuple[str, str]]:
    """allUsers may invoke the Cloud Run service of this stack's own function: its project and
    location, not a service of that name elsewhere."""
    function = _the_function(resources)
    found = []
    for kind, urn, props in resources:
        if kind != CLOUD_RUN_INVOKER or "allusers" not in [
            m.strip().lower() for m in _members(props)
        ]:
            continue
        path = service_path(props)
        if function is None:
            found.append(
                (urn, f"allUsers may invoke a service, but this stack deploys no {SERVICE_NAME!r}")
            )
            continue
        expected = (function.get("project"), function.get("location"), SERVICE_NAME)
        if path is None or None in path or UNKNOWN in (*path, *expected):
            continue  # unpinned names are refused per resource; unknowns are judged at up
        if path != expected:
            found.append(
                (
                    urn,
                    f"allUsers invokes projects/{path[0]}/locations/{path[1]}/services/{path[2]}; "
                    f"the only public service is this stack's own, projects/{expected[0]}/"
                    f"locations/{expected[1]}/services/{SERVICE_NAME}",
                )
            )
    return found


def ai_resources_in_use(resources: Resources) -> set[tuple[str, str]]:
    """(kind, name) of the AI-Service's resources this stack uses, whatever they are named: the
    bucket and topic its function is configured with, and the topics it subscribes to without
    creating them."""
    used: set[tuple[str, str]] = set()
    function = _the_function(resources)
    environment = _lookup(function, "serviceConfig", "environmentVariables")
    if isinstance(environment, Mapping):
        for key, kind in (("BUCKET_NAME", "bucket"), ("NEW_IMAGE_TOPIC", "topic")):
            if isinstance(environment.get(key), str):
                used.add((kind, _short(environment[key])))
    created = {_short(props.get("name")) for kind, _urn, props in resources if kind == TOPIC}
    for kind, _urn, props in resources:
        topic = _short(props.get("topic")) if kind == SUBSCRIPTION else None
        if isinstance(topic, str) and topic not in created:
            used.add(("topic", topic))
    return used


def ai_resource_in_use_violations(resources: Resources) -> list[tuple[str, str]]:
    used = ai_resources_in_use(resources)
    found = []
    for kind, urn, props in resources:
        if not (_is_iam(kind) or kind in STORAGE_ACL):
            continue
        for what in ("bucket", "topic"):
            name = _short(props.get(what))
            if (what, name) in used:
                found.append((urn, f"{kind}: {_ai_grant_message(f'{what} {name}')}"))
    return found


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


def _stack_policy(name: str, description: str, validator: StackValidator) -> StackValidationPolicy:
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


POLICIES: list[Policy] = [
    _policy(
        "public-ingress-only-for-the-user-service",
        "Only the User-Service's function accepts traffic from anywhere.",
        lambda kind: kind == FUNCTION_V2,
        function_ingress_violations,
    ),
    _policy(
        "public-invoker-only-for-the-user-service",
        "allUsers only as run.invoker of the User-Service, named with its project and location; "
        "allAuthenticatedUsers never; no public ACL.",
        lambda kind: _is_iam(kind) or kind in STORAGE_ACL,
        public_member_violations,
    ),
    _stack_policy(
        "public-invoker-is-this-stacks-service",
        "allUsers invokes this stack's own user-service (its function's project and location).",
        public_invoker_pin_violations,
    ),
    _policy(
        "no-grants-on-the-ai-service-resources",
        "No grant or ACL on the AI-Service's topics, subscriptions, buckets, function or accounts: "
        "the AI stack makes the contract's grants.",
        lambda kind: _is_iam(kind) or kind in STORAGE_ACL,
        ai_resource_grant_violations,
    ),
    _stack_policy(
        "no-grants-on-the-ai-service-resources-in-use",
        "No grant or ACL on the bucket and topics this stack uses from the AI-Service (its "
        "function's BUCKET_NAME and NEW_IMAGE_TOPIC, the topics it subscribes to).",
        ai_resource_in_use_violations,
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
        "The deployed service never gets the local push token or an emulator host (Cloud Run "
        "containers' envs; functions' service, secret and build environment).",
        lambda kind: kind in {FUNCTION_V2, FUNCTION_V1, CLOUD_RUN_V2_SERVICE, CLOUD_RUN_V1_SERVICE},
        local_environment_violations,
    ),
]
