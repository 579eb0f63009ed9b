"""The real ResourceValidationPolicy objects of POLICIES, judged on good and bad resources.

Properties are written as Pulumi passes them to a policy pack (camelCase wire names); see
policy_harness.py for how they reach each policy.
"""

import json
from pathlib import Path
from typing import Any

import pytest
import rules
import yaml
from policy_harness import (
    RESOURCE_POLICIES,
    STACK_POLICIES,
    judge,
    judge_stack,
    run_policy,
    violations,
)
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    unknown_checking_proxy,
)
from rules import POLICIES

PROJECT = "ai-service-dev"
RUNTIME_SA = f"serviceAccount:ai-service-sa@{PROJECT}.iam.gserviceaccount.com"
INVOKER_EMAIL = f"ai-service-invoker@{PROJECT}.iam.gserviceaccount.com"
PUBSUB_AGENT = "serviceAccount:service-123@gcp-sa-pubsub.iam.gserviceaccount.com"
BUILD_SA = f"serviceAccount:ai-service-builder@{PROJECT}.iam.gserviceaccount.com"
FUNCTION_URI = "https://ai-service-image-labeling-abc-ew.a.run.app"
# The stack's one conditioned project grant: the build reads the bucket Cloud Functions creates.
GCF_SOURCES = "projects/_/buckets/gcf-v2-sources-123-europe-west1"
GCF_SOURCES_CONDITION = {
    "title": "gcf-v2-sources-only",
    "expression": f'resource.name == "{GCF_SOURCES}" || '
    f'resource.name.startsWith("{GCF_SOURCES}/objects/")',
}

FUNCTION_V2 = "gcp:cloudfunctionsv2/function:Function"
FUNCTION_V1 = "gcp:cloudfunctions/function:Function"
BUCKET = "gcp:storage/bucket:Bucket"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
SERVICE_ACCOUNT_KEY = "gcp:serviceaccount/key:Key"

# IAM member/binding/policy types of several services and spellings (IAM vs Iam).
IAM_MEMBER_TYPES = [
    "gcp:projects/iAMMember:IAMMember",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:pubsub/topicIAMMember:TopicIAMMember",
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:organizations/iAMMember:IAMMember",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
]
IAM_BINDING_TYPES = [
    "gcp:projects/iAMBinding:IAMBinding",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding",
    "gcp:cloudfunctionsv2/functionIamBinding:FunctionIamBinding",
    "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding",
]
IAM_POLICY_TYPES = [
    "gcp:projects/iAMPolicy:IAMPolicy",
    "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
    "gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy",
]
PROJECT_IAM_TYPES = sorted(rules.PROJECT_IAM_TYPES)
ABOVE_PROJECT_IAM_TYPES = sorted(rules.ABOVE_PROJECT_IAM_TYPES)
# Grants on one resource (a topic, a bucket, a service, an account): no project-scope rule applies.
RESOURCE_IAM_TYPES = [
    resource_type
    for resource_type in IAM_MEMBER_TYPES + IAM_BINDING_TYPES + IAM_POLICY_TYPES
    if resource_type not in rules.PROJECT_IAM_TYPES | rules.ABOVE_PROJECT_IAM_TYPES
]


def scope_policies(resource_type: str) -> set[str]:
    """The policies that judge where a grant is made, besides what it grants."""
    if resource_type in rules.PROJECT_IAM_TYPES:
        return {"iam-project-roles-allow-list"}
    if resource_type in rules.ABOVE_PROJECT_IAM_TYPES:
        return {"iam-nothing-above-the-project"}
    return set()


# --- Good resources, as our stack declares them --------------------------------------------------


def good_function_v2() -> dict[str, Any]:
    return {
        "name": "ai-service-image-labeling",
        "location": "europe-west1",
        "buildConfig": {"runtime": "python312", "entryPoint": "label_image"},
        "serviceConfig": {
            "ingressSettings": "ALLOW_INTERNAL_ONLY",
            "serviceAccountEmail": RUNTIME_SA.removeprefix("serviceAccount:"),
            "availableCpu": "1",
            "maxInstanceRequestConcurrency": 8,
        },
    }


def good_bucket() -> dict[str, Any]:
    return {
        "location": "EUROPE-WEST1",
        "uniformBucketLevelAccess": True,
        "publicAccessPrevention": "enforced",
        "forceDestroy": False,
    }


def good_push_subscription() -> dict[str, Any]:
    return {
        "topic": "user-service-new-image",
        "ackDeadlineSeconds": 60,
        "pushConfig": {
            "pushEndpoint": FUNCTION_URI,
            "oidcToken": {"serviceAccountEmail": INVOKER_EMAIL, "audience": FUNCTION_URI},
        },
        "deadLetterPolicy": {
            "deadLetterTopic": f"projects/{PROJECT}/topics/ai-service-dead-letter",
            "maxDeliveryAttempts": 5,
        },
        "retryPolicy": {"minimumBackoff": "10s", "maximumBackoff": "600s"},
    }


def good_stack() -> list[tuple[str, dict[str, Any]]]:
    """One resource of each kind our stack declares, with resource-scoped IAM."""
    return [
        ("gcp:projects/service:Service", {"service": "vision.googleapis.com"}),
        ("gcp:serviceaccount/account:Account", {"accountId": "ai-service-sa"}),
        ("gcp:pubsub/topic:Topic", {"name": "user-service-new-image"}),
        ("gcp:pubsub/topic:Topic", {"name": "ai-service-image-labeled"}),
        (BUCKET, good_bucket()),
        (BUCKET, good_bucket() | {"forceDestroy": True}),
        ("gcp:storage/bucketObject:BucketObject", {"name": "source-0123abcd.zip"}),
        (FUNCTION_V2, good_function_v2()),
        (SUBSCRIPTION, good_push_subscription()),
        (
            SUBSCRIPTION,
            {"topic": "ai-service-image-labeled"},
        ),  # the User-Service's pull subscription
        (SUBSCRIPTION, {"topic": "ai-service-dead-letter"}),
        (
            "gcp:pubsub/topicIAMMember:TopicIAMMember",
            {
                "topic": "ai-service-image-labeled",
                "role": "roles/pubsub.publisher",
                "member": RUNTIME_SA,
            },
        ),
        (
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            {"bucket": "images", "role": "roles/storage.objectViewer", "member": RUNTIME_SA},
        ),
        (
            "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
            {
                "name": "ai-service-image-labeling",
                "role": "roles/run.invoker",
                "member": f"serviceAccount:{INVOKER_EMAIL}",
            },
        ),
        (
            "gcp:serviceaccount/iAMMember:IAMMember",
            {"role": "roles/iam.serviceAccountTokenCreator", "member": PUBSUB_AGENT},
        ),
        (
            "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
            {"role": "roles/pubsub.subscriber", "member": PUBSUB_AGENT},
        ),
        (
            "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
            {"role": "roles/artifactregistry.writer", "member": RUNTIME_SA},
        ),
        (
            "gcp:projects/iAMMember:IAMMember",
            {"role": "roles/logging.logWriter", "member": BUILD_SA},
        ),
        (
            "gcp:projects/iAMMember:IAMMember",
            {
                "project": PROJECT,
                "role": "roles/storage.objectViewer",
                "member": BUILD_SA,
                "condition": GCF_SOURCES_CONDITION,
            },
        ),
        ("pulumi:providers:gcp", {"project": PROJECT}),
    ]


# --- The pack's shape ----------------------------------------------------------------------------


def test_policies_are_resource_validation_policies_with_unique_names() -> None:
    assert POLICIES, "POLICIES is empty"
    # Three rules need several resources at once (a grant and the function naming its bucket, the
    # contract's grants together, a grant and the runtime account it must name).
    assert [policy.name for policy in STACK_POLICIES] == [
        "contract-images-bucket-grants",
        "contract-grants-one-user-service-account",
        "runtime-account-is-this-projects",
    ]
    assert all(isinstance(policy, ResourceValidationPolicy) for policy in RESOURCE_POLICIES)
    assert len(RESOURCE_POLICIES) + len(STACK_POLICIES) == len(POLICIES)
    names = [policy.name for policy in POLICIES]
    assert len(names) == len(set(names)), f"duplicate policy names: {names}"


def test_every_policy_is_mandatory_by_default() -> None:
    levels = {policy.name: policy.enforcement_level for policy in POLICIES}
    assert all(level == EnforcementLevel.MANDATORY for level in levels.values()), levels


def test_policy_pack_project_file_runs_python_in_the_packs_own_virtualenv() -> None:
    project = yaml.safe_load((rules_dir() / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": ".venv"}}


def rules_dir() -> Path:
    return Path(rules.__file__).resolve().parent


# --- Our stack passes every policy ---------------------------------------------------------------


def test_stack_equivalent_resources_pass_every_policy() -> None:
    for resource_type, props in good_stack():
        assert judge(resource_type, props) == {}, f"{resource_type} {props}"


# --- Cloud Functions: internal-only ingress ------------------------------------------------------


def test_function_v2_internal_only_passes() -> None:
    assert judge(FUNCTION_V2, good_function_v2()) == {}


@pytest.mark.parametrize("ingress", ["ALLOW_ALL", "ALLOW_INTERNAL_AND_GCLB"])
def test_function_v2_with_wider_ingress_is_a_violation(ingress: str) -> None:
    props = good_function_v2()
    props["serviceConfig"]["ingressSettings"] = ingress
    [message] = violations("functions-internal-ingress-only", FUNCTION_V2, props)
    assert ingress in message
    assert "ALLOW_INTERNAL_ONLY" in message


def test_function_v2_without_ingress_setting_is_a_violation_because_it_means_allow_all() -> None:
    props = good_function_v2()
    del props["serviceConfig"]["ingressSettings"]
    [message] = violations("functions-internal-ingress-only", FUNCTION_V2, props)
    assert "missing" in message
    assert "ALLOW_ALL" in message


def test_function_v2_without_service_config_is_a_violation() -> None:
    props = good_function_v2()
    del props["serviceConfig"]
    assert judge(FUNCTION_V2, props).keys() == {"functions-internal-ingress-only"}


def test_function_v1_internal_only_passes() -> None:
    assert (
        judge(FUNCTION_V1, {"runtime": "python312", "ingressSettings": "ALLOW_INTERNAL_ONLY"}) == {}
    )


@pytest.mark.parametrize("props", [{"runtime": "python312"}, {"ingressSettings": "ALLOW_ALL"}])
def test_function_v1_without_internal_only_ingress_is_a_violation(props: dict[str, Any]) -> None:
    [message] = violations("functions-v1-internal-ingress-only", FUNCTION_V1, props)
    assert "ALLOW_INTERNAL_ONLY" in message


# --- Buckets: uniform access, public access prevention -------------------------------------------


def test_hardened_bucket_passes() -> None:
    assert judge(BUCKET, good_bucket()) == {}


@pytest.mark.parametrize("uniform", [False, None])
def test_bucket_without_uniform_bucket_level_access_is_a_violation(uniform: bool | None) -> None:
    props = good_bucket()
    if uniform is None:
        del props["uniformBucketLevelAccess"]
    else:
        props["uniformBucketLevelAccess"] = uniform
    [message] = violations("buckets-uniform-access-and-public-access-prevention", BUCKET, props)
    assert "uniformBucketLevelAccess" in message
    assert "expected true" in message


@pytest.mark.parametrize("prevention", ["inherited", None])
def test_bucket_without_enforced_public_access_prevention_is_a_violation(
    prevention: str | None,
) -> None:
    props = good_bucket()
    if prevention is None:
        del props["publicAccessPrevention"]
    else:
        props["publicAccessPrevention"] = prevention
    [message] = violations("buckets-uniform-access-and-public-access-prevention", BUCKET, props)
    assert "publicAccessPrevention" in message
    assert "'enforced'" in message


def test_bare_bucket_reports_both_missing_settings() -> None:
    messages = violations("buckets-uniform-access-and-public-access-prevention", BUCKET, {})
    assert len(messages) == 2, messages


# --- IAM: no primitive roles ---------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", IAM_MEMBER_TYPES)
@pytest.mark.parametrize("role", sorted(rules.PRIMITIVE_ROLES))
def test_iam_member_with_primitive_role_is_a_violation(resource_type: str, role: str) -> None:
    [message] = violations(
        "iam-no-primitive-roles", resource_type, {"role": role, "member": RUNTIME_SA}
    )
    assert role in message


@pytest.mark.parametrize("resource_type", IAM_BINDING_TYPES)
def test_iam_binding_with_primitive_role_is_a_violation(resource_type: str) -> None:
    props = {"role": "roles/editor", "members": [RUNTIME_SA]}
    assert judge(resource_type, props).keys() == {"iam-no-primitive-roles"} | scope_policies(
        resource_type
    )


@pytest.mark.parametrize("resource_type", IAM_POLICY_TYPES)
def test_iam_policy_data_with_primitive_role_is_a_violation(resource_type: str) -> None:
    policy_data = {
        "bindings": [
            {"role": "roles/storage.objectViewer", "members": [RUNTIME_SA]},
            {"role": "roles/owner", "members": ["user:admin@example.com"]},
        ]
    }
    props = {"policyData": json.dumps(policy_data)}
    [message] = violations("iam-no-primitive-roles", resource_type, props)
    assert "roles/owner" in message


@pytest.mark.parametrize("resource_type", RESOURCE_IAM_TYPES)
def test_iam_grant_of_a_predefined_role_on_a_resource_passes(resource_type: str) -> None:
    props = {"role": "roles/pubsub.publisher", "member": RUNTIME_SA, "members": [RUNTIME_SA]}
    assert judge(resource_type, props) == {}


def test_iam_policy_data_that_is_not_json_is_a_violation() -> None:
    props = {"policyData": "{not json"}
    assert violations("iam-no-primitive-roles", "gcp:projects/iAMPolicy:IAMPolicy", props)


def test_primitive_role_rule_ignores_non_iam_resources() -> None:
    custom_role = {"roleId": "labeler", "permissions": ["pubsub.topics.publish"]}
    assert judge("gcp:projects/iAMCustomRole:IAMCustomRole", custom_role) == {}


# --- IAM: no allUsers / allAuthenticatedUsers ----------------------------------------------------


@pytest.mark.parametrize("member", ["allUsers", "allAuthenticatedUsers"])
@pytest.mark.parametrize("resource_type", IAM_MEMBER_TYPES)
def test_iam_member_granting_to_the_public_is_a_violation(member: str, resource_type: str) -> None:
    props = {"role": "roles/run.invoker", "member": member}
    [message] = violations("iam-no-public-members", resource_type, props)
    assert member in message


@pytest.mark.parametrize("resource_type", IAM_BINDING_TYPES)
def test_iam_binding_with_a_public_member_is_a_violation(resource_type: str) -> None:
    props = {"role": "roles/storage.objectViewer", "members": [RUNTIME_SA, "allAuthenticatedUsers"]}
    assert judge(resource_type, props).keys() == {"iam-no-public-members"} | scope_policies(
        resource_type
    )


@pytest.mark.parametrize("resource_type", IAM_POLICY_TYPES)
def test_iam_policy_data_with_a_public_member_is_a_violation(resource_type: str) -> None:
    policy_data = {"bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}
    [message] = violations(
        "iam-no-public-members", resource_type, {"policyData": json.dumps(policy_data)}
    )
    assert "allUsers" in message


def test_iam_policy_data_with_named_members_passes() -> None:
    policy_data = {"bindings": [{"role": "roles/run.invoker", "members": [RUNTIME_SA]}]}
    props = {"policyData": json.dumps(policy_data)}
    assert judge("gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy", props) == {}


STORAGE_BESIDE_IAM = "storage-iam-only-no-acls-or-managed-folders"
IMAGES_BUCKET = f"{PROJECT}-ai-service-images"


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        ("gcp:storage/bucketAccessControl:BucketAccessControl", {"entity": "allUsers"}),
        (
            "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
            {"entity": "allUsers"},
        ),
        ("gcp:storage/bucketACL:BucketACL", {"roleEntities": ["READER:allAuthenticatedUsers"]}),
        ("gcp:storage/objectACL:ObjectACL", {"roleEntities": ["READER:allUsers"]}),
    ],
)
def test_storage_acl_granting_to_the_public_is_a_violation(
    resource_type: str, props: dict[str, Any]
) -> None:
    [message] = judge(resource_type, props)[STORAGE_BESIDE_IAM]
    assert "makes objects public" in message


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        # Issue 18: a reader of the images bucket beside its IAM, past the contract rules.
        (
            "gcp:storage/bucketAccessControl:BucketAccessControl",
            {"bucket": IMAGES_BUCKET, "role": "READER", "entity": "user-evil@example.com"},
        ),
        (
            "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
            {"bucket": IMAGES_BUCKET, "role": "READER", "entity": "user-evil@example.com"},
        ),
        (
            "gcp:storage/objectAccessControl:ObjectAccessControl",
            {"bucket": IMAGES_BUCKET, "object": "uploads/a.jpg", "role": "READER", "entity": "x"},
        ),
        (
            "gcp:storage/bucketACL:BucketACL",
            {"bucket": IMAGES_BUCKET, "roleEntities": [f"READER:user-{INVOKER_EMAIL}"]},
        ),
        ("gcp:storage/defaultObjectACL:DefaultObjectACL", {"bucket": IMAGES_BUCKET}),
        ("gcp:storage/objectACL:ObjectACL", {"bucket": IMAGES_BUCKET, "object": "a.jpg"}),
        (
            "gcp:storage/managedFolderIamMember:ManagedFolderIamMember",
            {
                "bucket": IMAGES_BUCKET,
                "managedFolder": "uploads/",
                "role": "roles/storage.objectViewer",
                "member": "user:evil@example.com",
            },
        ),
        (
            "gcp:storage/managedFolderIamBinding:ManagedFolderIamBinding",
            {
                "bucket": IMAGES_BUCKET,
                "managedFolder": "uploads/",
                "role": "roles/storage.objectViewer",
                "members": [RUNTIME_SA],
            },
        ),
        (
            "gcp:storage/managedFolderIamPolicy:ManagedFolderIamPolicy",
            {"bucket": IMAGES_BUCKET, "managedFolder": "uploads/", "policyData": "{}"},
        ),
    ],
)
def test_acls_and_managed_folder_iam_are_refused_even_for_a_named_entity(
    resource_type: str, props: dict[str, Any]
) -> None:
    [message] = judge(resource_type, props)[STORAGE_BESIDE_IAM]
    assert "uniform bucket-level access" in message
    assert "bucketIAMMember" in message


# --- IAM: project-level roles from an allow-list -------------------------------------------------

# Broad or escalating roles the CI deployer or a stack must never hold on the whole project (issue
# 17), and narrow ones that still belong on their resource.
REFUSED_PROJECT_ROLES = [
    "roles/iam.serviceAccountAdmin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/iam.securityAdmin",
    "roles/storage.admin",
    "roles/pubsub.admin",
    "roles/run.admin",
    "roles/cloudfunctions.admin",
    "roles/artifactregistry.admin",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
    "roles/storage.objectAdmin",
    "roles/pubsub.publisher",
    "roles/run.invoker",
    "roles/datastore.user",
    f"projects/{PROJECT}/roles/deployer",
]


def project_grants(
    role: str, condition: dict[str, Any] | None = None, member: str = BUILD_SA
) -> list[tuple[str, dict]]:
    """The same grant as a project IAMMember, IAMBinding and IAMPolicy (policyData)."""
    conditioned = {"condition": condition} if condition is not None else {}
    binding = {"role": role, "members": [member], **conditioned}
    return [
        (
            "gcp:projects/iAMMember:IAMMember",
            {"project": PROJECT, "role": role, "member": member, **conditioned},
        ),
        ("gcp:projects/iAMBinding:IAMBinding", {"project": PROJECT, **binding}),
        (
            "gcp:projects/iAMPolicy:IAMPolicy",
            {"project": PROJECT, "policyData": json.dumps({"bindings": [binding]})},
        ),
    ]


@pytest.mark.parametrize("role", REFUSED_PROJECT_ROLES)
def test_a_role_outside_the_allow_list_on_the_whole_project_is_a_violation(role: str) -> None:
    for resource_type, props in project_grants(role):
        [message] = violations("iam-project-roles-allow-list", resource_type, props)
        assert role in message, resource_type
        assert "on the resource that needs it" in message


@pytest.mark.parametrize("role", ["roles/iam.serviceAccountAdmin", "roles/storage.admin"])
def test_a_bucket_condition_does_not_admit_a_role_outside_the_allow_list(role: str) -> None:
    for resource_type, props in project_grants(role, GCF_SOURCES_CONDITION):
        assert violations("iam-project-roles-allow-list", resource_type, props), resource_type


def test_log_writing_may_be_granted_on_the_project() -> None:
    for resource_type, props in project_grants("roles/logging.logWriter"):
        assert judge(resource_type, props) == {}, resource_type


def test_object_reading_conditioned_to_a_bucket_may_be_granted_on_the_project() -> None:
    for resource_type, props in project_grants("roles/storage.objectViewer", GCF_SOURCES_CONDITION):
        assert judge(resource_type, props) == {}, resource_type


@pytest.mark.parametrize(
    "condition",
    [
        None,
        {"title": "until-2027", "expression": 'request.time < timestamp("2027-01-01T00:00:00Z")'},
        {"title": "empty", "expression": ""},
    ],
)
def test_object_reading_on_the_whole_project_without_a_bucket_condition_is_a_violation(
    condition: dict[str, Any] | None,
) -> None:
    for resource_type, props in project_grants("roles/storage.objectViewer", condition):
        [message] = violations("iam-project-roles-allow-list", resource_type, props)
        assert "resource.name" in message, resource_type


@pytest.mark.parametrize(
    "expression",
    [
        # Issue 17 finding 6: the europe-west10 bucket's name starts with this one.
        f'resource.name.startsWith("{GCF_SOURCES}")',
        f'resource.name == "{GCF_SOURCES}" || resource.name.startsWith("{GCF_SOURCES}")',
        f'resource.name.startsWith("{GCF_SOURCES}/objects")',
        'resource.name.startsWith("projects/_/buckets/")',
        'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")',
        f'resource.name.endsWith("{GCF_SOURCES}")',
        f'resource.name.startsWith("{GCF_SOURCES}/") || request.time < timestamp("2099-01-01T00:00:00Z")',
        f'!resource.name.startsWith("{GCF_SOURCES}/")',
        f'resource.name != "{GCF_SOURCES}"',
        f'resource.name.startsWith("{GCF_SOURCES}/") && resource.type == "storage.googleapis.com/Object"',
        f'"resource.name" == "{GCF_SOURCES}"',
        # Whole buckets, but not exactly the gcf-v2-sources one (issue 18: project grants are the
        # build's read of function sources, nothing else).
        f'resource.name.startsWith("{GCF_SOURCES}/")',
        f"resource.name.startsWith('{GCF_SOURCES}/objects/')",
        f'resource.name == "{GCF_SOURCES}"',
        f'resource.name == "{GCF_SOURCES}" || resource.name.startsWith("{GCF_SOURCES}/objects/") '
        '|| resource.name == "projects/_/buckets/other-bucket"',
        f'resource.name.startsWith("{GCF_SOURCES}/objects/") || resource.name == "{GCF_SOURCES}"',
        'resource.name == "projects/_/buckets/ai-service-dev-ai-service-images" || '
        'resource.name.startsWith("projects/_/buckets/ai-service-dev-ai-service-images/objects/")',
        # Two different buckets in the two terms.
        f'resource.name == "{GCF_SOURCES}" || resource.name.startsWith('
        '"projects/_/buckets/gcf-v2-sources-123-europe-west10/objects/")',
    ],
)
def test_conditions_other_than_exactly_gcf_v2_sources_are_refused(expression: str) -> None:
    condition = {"title": "not exactly gcf-v2-sources", "expression": expression}
    for resource_type, props in project_grants("roles/storage.objectViewer", condition):
        [message] = violations("iam-project-roles-allow-list", resource_type, props)
        assert "without the gcf-v2-sources condition" in message, resource_type
        assert rules.BUCKET_CONDITION_FORM in message


@pytest.mark.parametrize(
    "member",
    [
        "user:evil@example.com",
        "group:readers@example.com",
        RUNTIME_SA,
        f"serviceAccount:user-service@{PROJECT}.iam.gserviceaccount.com",
        # The build account's namesake in another project.
        "serviceAccount:ai-service-builder@attacker-project.iam.gserviceaccount.com",
    ],
)
def test_project_storage_grants_go_to_this_projects_build_account_only(member: str) -> None:
    """Issue 18: reading the images bucket through a project grant conditioned to it, or any
    project storage grant, to anyone but the build account."""
    for resource_type, props in project_grants(
        "roles/storage.objectViewer", GCF_SOURCES_CONDITION, member
    ):
        [message] = violations("iam-project-roles-allow-list", resource_type, props)
        assert f"granted to {member!r}" in message, resource_type
        assert f"build account {BUILD_SA}" in message


def test_a_project_storage_grant_must_name_its_project() -> None:
    props = {"role": "roles/storage.objectViewer", "member": BUILD_SA}
    props["condition"] = GCF_SOURCES_CONDITION
    [message] = violations(
        "iam-project-roles-allow-list", "gcp:projects/iAMMember:IAMMember", props
    )
    assert "names no project" in message


def test_project_grants_unknown_during_preview_are_judged_at_up() -> None:
    member = "gcp:projects/iAMMember:IAMMember"
    assert judge(member, {"role": UNKNOWN_STRING_VALUE, "member": BUILD_SA}) == {}
    conditioned = {"project": PROJECT, "role": "roles/storage.objectViewer", "member": BUILD_SA}
    assert judge(member, conditioned | {"condition": UNKNOWN_OBJECT_VALUE}) == {}
    unknown_expression = {"title": "gcf-v2-sources-only", "expression": UNKNOWN_STRING_VALUE}
    assert judge(member, conditioned | {"condition": unknown_expression}) == {}
    unknown_project = conditioned | {"condition": GCF_SOURCES_CONDITION}
    assert judge(member, unknown_project | {"project": UNKNOWN_STRING_VALUE}) == {}


@pytest.mark.parametrize("resource_type", ABOVE_PROJECT_IAM_TYPES)
def test_any_grant_on_a_folder_or_the_organization_is_a_violation(resource_type: str) -> None:
    props = {"role": "roles/logging.logWriter", "member": BUILD_SA, "members": [BUILD_SA]}
    assert judge(resource_type, props).keys() == {"iam-nothing-above-the-project"}


@pytest.mark.parametrize("role", ["roles/iam.serviceAccountTokenCreator", "roles/storage.admin"])
def test_the_allow_list_leaves_grants_on_one_resource_alone(role: str) -> None:
    for resource_type in RESOURCE_IAM_TYPES:
        props = {"role": role, "member": PUBSUB_AGENT, "members": [PUBSUB_AGENT]}
        assert "iam-project-roles-allow-list" not in judge(resource_type, props), resource_type


# --- No service-account keys ---------------------------------------------------------------------


def test_service_account_key_is_a_violation() -> None:
    props = {"serviceAccountId": f"projects/{PROJECT}/serviceAccounts/{INVOKER_EMAIL}"}
    assert judge(SERVICE_ACCOUNT_KEY, props).keys() == {"no-service-account-keys"}


def test_service_account_hmac_key_is_a_violation() -> None:
    props = {"serviceAccountEmail": INVOKER_EMAIL}
    assert judge("gcp:storage/hmacKey:HmacKey", props).keys() == {"no-service-account-hmac-keys"}


def test_service_account_without_a_key_passes() -> None:
    assert judge("gcp:serviceaccount/account:Account", {"accountId": "ai-service-sa"}) == {}


# --- Push subscriptions: OIDC token and dead-letter topic ----------------------------------------


def test_push_subscription_with_oidc_and_dead_letter_topic_passes() -> None:
    assert judge(SUBSCRIPTION, good_push_subscription()) == {}


def test_push_subscription_without_oidc_token_is_a_violation() -> None:
    props = good_push_subscription()
    del props["pushConfig"]["oidcToken"]
    [message] = violations("push-subscriptions-oidc-and-dead-letter", SUBSCRIPTION, props)
    assert "oidcToken" in message


def test_push_subscription_oidc_token_without_service_account_is_a_violation() -> None:
    props = good_push_subscription()
    props["pushConfig"]["oidcToken"] = {"audience": FUNCTION_URI}
    [message] = violations("push-subscriptions-oidc-and-dead-letter", SUBSCRIPTION, props)
    assert "serviceAccountEmail" in message


def test_push_subscription_oidc_token_without_audience_is_a_violation() -> None:
    props = good_push_subscription()
    del props["pushConfig"]["oidcToken"]["audience"]
    [message] = violations("push-subscriptions-oidc-and-dead-letter", SUBSCRIPTION, props)
    assert "oidcToken.audience" in message


@pytest.mark.parametrize(
    "audience",
    ["https://attacker.example", "http://ai-service-image-labeling-abc-ew.a.run.app"],
)
def test_push_subscription_token_for_another_endpoint_is_a_violation(audience: str) -> None:
    props = good_push_subscription()
    props["pushConfig"]["oidcToken"]["audience"] = audience
    [message] = violations("push-subscriptions-oidc-and-dead-letter", SUBSCRIPTION, props)
    assert "names another endpoint" in message


def test_push_subscription_audience_may_name_the_endpoint_without_its_path() -> None:
    props = good_push_subscription()
    props["pushConfig"]["pushEndpoint"] = f"{FUNCTION_URI}/push?source=pubsub"
    assert judge(SUBSCRIPTION, props) == {}


def test_push_subscription_oidc_token_with_empty_audience_is_a_violation() -> None:
    props = good_push_subscription()
    props["pushConfig"]["oidcToken"]["audience"] = ""
    [message] = violations("push-subscriptions-oidc-and-dead-letter", SUBSCRIPTION, props)
    assert "oidcToken.audience" in message


@pytest.mark.parametrize("dead_letter_policy", [None, {}, {"maxDeliveryAttempts": 5}])
def test_push_subscription_without_dead_letter_topic_is_a_violation(
    dead_letter_policy: dict[str, Any] | None,
) -> None:
    props = good_push_subscription()
    if dead_letter_policy is None:
        del props["deadLetterPolicy"]
    else:
        props["deadLetterPolicy"] = dead_letter_policy
    [message] = violations("push-subscriptions-oidc-and-dead-letter", SUBSCRIPTION, props)
    assert "deadLetterTopic" in message


def test_push_subscription_without_either_reports_both() -> None:
    props = {"topic": "t", "pushConfig": {"pushEndpoint": "https://example.run.app"}}
    assert len(violations("push-subscriptions-oidc-and-dead-letter", SUBSCRIPTION, props)) == 2


def test_pull_subscription_needs_neither() -> None:
    assert judge(SUBSCRIPTION, {"topic": "ai-service-image-labeled"}) == {}


# --- Cloud Run services: no unrestricted ingress -------------------------------------------------

CLOUD_RUN_V2 = "gcp:cloudrunv2/service:Service"
CLOUD_RUN_V1 = "gcp:cloudrun/service:Service"
V1_INGRESS = "run.googleapis.com/ingress"


def cloud_run_v2_service(**settings: Any) -> dict[str, Any]:
    return {
        "name": "user-service",
        "location": "europe-west1",
        "template": {"containers": [{"image": "europe-docker.pkg.dev/p/r/user-service:1"}]},
        **settings,
    }


def cloud_run_v1_service(annotations: dict[str, Any] | None) -> dict[str, Any]:
    metadata = {} if annotations is None else {"metadata": {"annotations": annotations}}
    return {
        "name": "user-service",
        "location": "europe-west1",
        "template": {"spec": {"containers": [{"image": "gcr.io/p/user-service:1"}]}},
        **metadata,
    }


@pytest.mark.parametrize(
    "ingress", ["INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"]
)
def test_cloud_run_service_with_restricted_ingress_passes(ingress: str) -> None:
    assert judge(CLOUD_RUN_V2, cloud_run_v2_service(ingress=ingress)) == {}


def test_cloud_run_service_open_to_all_traffic_is_a_violation() -> None:
    props = cloud_run_v2_service(ingress="INGRESS_TRAFFIC_ALL")
    [message] = violations("cloud-run-restricted-ingress", CLOUD_RUN_V2, props)
    assert "INGRESS_TRAFFIC_ALL" in message


def test_cloud_run_service_without_ingress_is_a_violation_because_it_means_all_traffic() -> None:
    [message] = violations("cloud-run-restricted-ingress", CLOUD_RUN_V2, cloud_run_v2_service())
    assert "missing" in message
    assert "INGRESS_TRAFFIC_ALL" in message


@pytest.mark.parametrize("ingress", ["internal", "internal-and-cloud-load-balancing"])
def test_cloud_run_v1_service_with_restricted_ingress_annotation_passes(ingress: str) -> None:
    assert judge(CLOUD_RUN_V1, cloud_run_v1_service({V1_INGRESS: ingress})) == {}


@pytest.mark.parametrize(
    "annotations", [{V1_INGRESS: "all"}, {"run.googleapis.com/description": "x"}, {}, None]
)
def test_cloud_run_v1_service_without_restricted_ingress_is_a_violation(
    annotations: dict[str, Any] | None,
) -> None:
    props = cloud_run_v1_service(annotations)
    [message] = violations("cloud-run-v1-restricted-ingress", CLOUD_RUN_V1, props)
    assert V1_INGRESS in message


def test_cloud_run_ingress_unknown_during_preview_is_judged_at_up() -> None:
    assert judge(CLOUD_RUN_V2, cloud_run_v2_service(ingress=UNKNOWN_STRING_VALUE)) == {}
    assert judge(CLOUD_RUN_V1, cloud_run_v1_service({V1_INGRESS: UNKNOWN_STRING_VALUE})) == {}
    assert judge(CLOUD_RUN_V1, {"metadata": {"annotations": UNKNOWN_OBJECT_VALUE}}) == {}


# --- Alert policies ------------------------------------------------------------------------------

ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
RUNBOOK = "https://github.com/bike-sharing/ai-service/blob/main/docs/runbook.md#dead-letters"


def good_alert_policy() -> dict[str, Any]:
    return {
        "displayName": "AI-Service (dev): dead-lettered messages waiting",
        "combiner": "OR",
        "conditions": [{"displayName": "dead letters", "conditionThreshold": {}}],
        "documentation": {
            "content": f"**What it means.** ... Runbook: {RUNBOOK}",
            "mimeType": "text/markdown",
            "links": [{"displayName": "Runbook", "url": RUNBOOK}],
        },
    }


def test_a_documented_alert_policy_passes() -> None:
    assert judge(ALERT_POLICY, good_alert_policy()) == {}
    only_link = good_alert_policy()
    only_link["documentation"]["content"] = "Dead letters are waiting: pull and replay them."
    assert judge(ALERT_POLICY, only_link) == {}


@pytest.mark.parametrize(
    "documentation",
    [None, {}, {"content": ""}, {"content": "   ", "links": [{"url": RUNBOOK}]}],
)
def test_an_alert_policy_without_documentation_text_is_a_violation(
    documentation: dict[str, Any] | None,
) -> None:
    props = good_alert_policy()
    if documentation is None:
        del props["documentation"]
    else:
        props["documentation"] = documentation
    [message] = violations("alert-policies-documented-with-runbook", ALERT_POLICY, props)
    assert "documentation.content is missing" in message


def test_an_alert_policy_without_a_runbook_link_is_a_violation() -> None:
    props = good_alert_policy()
    props["documentation"] = {"content": "Dead letters are waiting.", "links": []}
    [message] = violations("alert-policies-documented-with-runbook", ALERT_POLICY, props)
    assert "no runbook link" in message


def test_alert_documentation_unknown_in_preview_is_not_judged() -> None:
    assert judge(ALERT_POLICY, {"documentation": UNKNOWN_OBJECT_VALUE}) == {}
    assert judge(ALERT_POLICY, {"documentation": {"content": UNKNOWN_STRING_VALUE}}) == {}


# --- Unknown values during preview ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (FUNCTION_V2, {"serviceConfig": UNKNOWN_OBJECT_VALUE}),
        (FUNCTION_V2, {"serviceConfig": {"ingressSettings": UNKNOWN_STRING_VALUE}}),
        (FUNCTION_V1, {"ingressSettings": UNKNOWN_STRING_VALUE}),
        (
            BUCKET,
            {"uniformBucketLevelAccess": True, "publicAccessPrevention": UNKNOWN_STRING_VALUE},
        ),
        (
            "gcp:pubsub/topicIAMMember:TopicIAMMember",
            {"role": "roles/x", "member": UNKNOWN_STRING_VALUE},
        ),
        (
            "gcp:projects/iAMBinding:IAMBinding",
            {"role": UNKNOWN_STRING_VALUE, "members": UNKNOWN_ARRAY_VALUE},
        ),
        (
            "gcp:projects/iAMBinding:IAMBinding",
            {"role": "roles/logging.logWriter", "members": [UNKNOWN_STRING_VALUE]},
        ),
        ("gcp:projects/iAMPolicy:IAMPolicy", {"policyData": UNKNOWN_STRING_VALUE}),
        (SUBSCRIPTION, {"pushConfig": UNKNOWN_OBJECT_VALUE}),
        (
            SUBSCRIPTION,
            good_push_subscription()
            | {
                "pushConfig": {
                    "oidcToken": {
                        "serviceAccountEmail": UNKNOWN_STRING_VALUE,
                        "audience": UNKNOWN_STRING_VALUE,
                    }
                },
                "deadLetterPolicy": {"deadLetterTopic": UNKNOWN_STRING_VALUE},
            },
        ),
    ],
)
def test_values_unknown_during_preview_neither_crash_nor_count_as_violations(
    resource_type: str, props: dict[str, Any]
) -> None:
    assert judge(resource_type, props) == {}


def test_known_violations_are_still_reported_next_to_unknown_values() -> None:
    props = {
        "uniformBucketLevelAccess": UNKNOWN_STRING_VALUE,
        "publicAccessPrevention": "inherited",
    }
    [message] = violations("buckets-uniform-access-and-public-access-prevention", BUCKET, props)
    assert "publicAccessPrevention" in message


def test_plain_properties_replaces_unknowns_and_unwraps_the_proxy() -> None:
    proxied = unknown_checking_proxy(
        {"a": {"b": [UNKNOWN_STRING_VALUE, "x"]}, "c": UNKNOWN_OBJECT_VALUE}
    )
    assert rules.plain_properties(proxied) == {"a": {"b": [rules.UNKNOWN, "x"]}, "c": rules.UNKNOWN}


# --- Policies stay on their own resource types ---------------------------------------------------


@pytest.mark.parametrize("policy", RESOURCE_POLICIES, ids=lambda policy: policy.name)
def test_policies_ignore_unrelated_resource_types(policy: ResourceValidationPolicy) -> None:
    bad_everything = {
        "role": "roles/owner",
        "member": "allUsers",
        "ingressSettings": "ALLOW_ALL",
        "ingress": "INGRESS_TRAFFIC_ALL",
        "metadata": {"annotations": {"run.googleapis.com/ingress": "all"}},
        "pushConfig": {"pushEndpoint": "https://x"},
    }
    assert run_policy(policy, "gcp:pubsub/topic:Topic", bad_everything) == []


def test_violation_messages_name_the_resource() -> None:
    [message] = violations("no-service-account-keys", SERVICE_ACCOUNT_KEY, {})
    assert SERVICE_ACCOUNT_KEY in message
    assert "'subject'" in message


# --- The project's audit config ------------------------------------------------------------------

AUDIT_CONFIG = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
STORAGE_DATA_ACCESS = {
    "project": PROJECT,
    "service": "storage.googleapis.com",
    "auditLogConfigs": [{"logType": "DATA_READ"}, {"logType": "DATA_WRITE"}],
}


def test_storage_data_access_logs_are_the_admitted_audit_config() -> None:
    assert judge(AUDIT_CONFIG, STORAGE_DATA_ACCESS) == {}


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ({"service": "allServices"}, "'allServices' replaces"),
        ({"service": "pubsub.googleapis.com"}, "'pubsub.googleapis.com' replaces"),
        ({"auditLogConfigs": [{"logType": "DATA_WRITE"}]}, "log ['DATA_WRITE']"),
        ({"auditLogConfigs": []}, "log []"),
        (
            {
                "auditLogConfigs": [
                    {"logType": "DATA_READ", "exemptedMembers": [RUNTIME_SA]},
                    {"logType": "DATA_WRITE"},
                ]
            },
            "would go unlogged",
        ),
    ],
)
def test_any_other_audit_config_is_refused(change: dict[str, Any], found: str) -> None:
    [message] = violations(
        "iam-project-audit-config-storage-data-access", AUDIT_CONFIG, STORAGE_DATA_ACCESS | change
    )
    assert found in message
    assert "storage.googleapis.com with DATA_READ and DATA_WRITE" in message


def test_an_audit_config_unknown_during_preview_is_judged_at_up() -> None:
    assert judge(AUDIT_CONFIG, STORAGE_DATA_ACCESS | {"auditLogConfigs": UNKNOWN_ARRAY_VALUE}) == {}


@pytest.mark.parametrize(
    "resource_type",
    ["gcp:folder/iAMAuditConfig:IAMAuditConfig", "gcp:organizations/iAMAuditConfig:IAMAuditConfig"],
)
def test_audit_configs_above_the_project_are_refused(resource_type: str) -> None:
    assert "iam-nothing-above-the-project" in judge(resource_type, STORAGE_DATA_ACCESS)


# --- No secrets in the stack ---------------------------------------------------------------------


def test_a_secret_input_is_refused_naming_where_it_is() -> None:
    props = {
        "type": "slack",
        "sensitiveLabels": {"authToken": rules.Secret("xoxb-...")},
    }
    [message] = violations(
        "stack-holds-no-secrets", "gcp:monitoring/notificationChannel:NotificationChannel", props
    )
    assert "sensitiveLabels.authToken is a secret" in message


def test_inputs_without_secrets_pass() -> None:
    for resource_type, props in good_stack():
        assert violations("stack-holds-no-secrets", resource_type, props) == [], resource_type


# --- The contract between the two teams (issue 18) ------------------------------------------------

TOPIC_IAM = "gcp:pubsub/topicIAMMember:TopicIAMMember"
SUBSCRIPTION_IAM = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
USER_SERVICE = "serviceAccount:user-service@user-project-1.iam.gserviceaccount.com"
IMAGES = f"{PROJECT}-ai-service-images"
UPLOADS_ONLY = {
    "title": "user-service-uploads-only",
    "expression": f'resource.name.startsWith("projects/_/buckets/{IMAGES}/objects/uploads/")',
}
CONTRACT_TOPICS = "contract-topics-publishers-only"
CONTRACT_SUBSCRIPTION = "contract-results-subscription-subscribers-only"
CONTRACT_BUCKET = "contract-images-bucket-grants"


def topic_grant(topic: str, member: str, role: str = "roles/pubsub.publisher") -> dict[str, Any]:
    return {"project": PROJECT, "topic": topic, "role": role, "member": member}


@pytest.mark.parametrize(
    "props",
    [
        topic_grant("user-service-new-image", USER_SERVICE),
        topic_grant(f"projects/{PROJECT}/topics/user-service-new-image", USER_SERVICE),
        topic_grant("ai-service-image-labeled", RUNTIME_SA),
        # Not a contract topic: the Pub/Sub agent dead-letters here.
        topic_grant("ai-service-image-labeling-dead-letter", PUBSUB_AGENT),
        {
            "project": PROJECT,
            "topic": "user-service-new-image",
            "policyData": json.dumps(
                {"bindings": [{"role": "roles/pubsub.publisher", "members": [USER_SERVICE]}]}
            ),
        },
    ],
)
def test_the_contract_topics_take_their_publishers(props: dict[str, Any]) -> None:
    assert judge(TOPIC_IAM, props) == {}


@pytest.mark.parametrize(
    ("props", "found"),
    [
        # A forged verdict: someone else may publish results.
        (topic_grant("ai-service-image-labeled", USER_SERVICE), "ai-service-sa only"),
        (
            topic_grant(f"projects/{PROJECT}/topics/ai-service-image-labeled", USER_SERVICE),
            "forged verdict",
        ),
        # The function choosing what it reads.
        (topic_grant("user-service-new-image", RUNTIME_SA), "never ai-service-sa"),
        # People and groups hold nothing on the contract.
        (topic_grant("user-service-new-image", "user:alice@example.com"), "only service accounts"),
        (topic_grant("user-service-new-image", "group:uploaders@example.com"), "only service"),
        (
            topic_grant(
                "user-service-new-image", "principalSet://iam.googleapis.com/projects/1/x/y"
            ),
            "only service accounts",
        ),
        # Other roles: reading results by attaching subscriptions, administering, ...
        (
            topic_grant("ai-service-image-labeled", USER_SERVICE, "roles/pubsub.subscriber"),
            "'roles/pubsub.publisher' there and nothing else",
        ),
        (
            topic_grant("user-service-new-image", USER_SERVICE, "roles/pubsub.editor"),
            "nothing else",
        ),
        (
            {
                "project": PROJECT,
                "topic": "ai-service-image-labeled",
                "role": "roles/pubsub.publisher",
                "members": [RUNTIME_SA, USER_SERVICE],
            },
            "ai-service-sa only",
        ),
        (
            {
                "project": PROJECT,
                "topic": "ai-service-image-labeled",
                "policyData": json.dumps(
                    {"bindings": [{"role": "roles/pubsub.publisher", "members": [USER_SERVICE]}]}
                ),
            },
            "forged verdict",
        ),
    ],
)
def test_any_other_grant_on_a_contract_topic_is_refused(props: dict[str, Any], found: str) -> None:
    resource_type = (
        TOPIC_IAM if "policyData" not in props else TOPIC_IAM.replace("Member", "Policy")
    )
    [message] = judge(resource_type, props)[CONTRACT_TOPICS]
    assert found in message


def test_the_forged_verdict_rule_names_the_real_runtime_not_a_lookalike() -> None:
    lookalike = "serviceAccount:ai-service-sa@evil.example.com"
    assert CONTRACT_TOPICS in judge(TOPIC_IAM, topic_grant("ai-service-image-labeled", lookalike))
    other = f"serviceAccount:ai-service-sa-2@{PROJECT}.iam.gserviceaccount.com"
    assert CONTRACT_TOPICS in judge(TOPIC_IAM, topic_grant("ai-service-image-labeled", other))


def test_contract_grants_unknown_in_preview_are_judged_at_up() -> None:
    unknown_member = topic_grant("ai-service-image-labeled", UNKNOWN_STRING_VALUE)
    assert judge(TOPIC_IAM, unknown_member) == {}
    unknown_topic = topic_grant(UNKNOWN_STRING_VALUE, USER_SERVICE)
    assert judge(TOPIC_IAM, unknown_topic) == {}


def subscription_grant(member: str, role: str = "roles/pubsub.subscriber") -> dict[str, Any]:
    return {
        "project": PROJECT,
        "subscription": "user-service-image-labeled",
        "role": role,
        "member": member,
    }


def test_the_results_subscription_takes_a_service_account_subscriber() -> None:
    assert judge(SUBSCRIPTION_IAM, subscription_grant(USER_SERVICE)) == {}
    # The push subscription is not the contract's: the agent acknowledges dead letters there.
    push = subscription_grant(PUBSUB_AGENT) | {"subscription": "ai-service-image-labeling-push"}
    assert judge(SUBSCRIPTION_IAM, push) == {}


@pytest.mark.parametrize(
    ("props", "found"),
    [
        (subscription_grant("user:bob@example.com"), "only service accounts"),
        (subscription_grant("domain:example.com"), "only service accounts"),
        (subscription_grant(USER_SERVICE, "roles/pubsub.editor"), "nothing else"),
        (subscription_grant(USER_SERVICE, "roles/pubsub.admin"), "nothing else"),
    ],
)
def test_any_other_grant_on_the_results_subscription_is_refused(
    props: dict[str, Any], found: str
) -> None:
    [message] = judge(SUBSCRIPTION_IAM, props)[CONTRACT_SUBSCRIPTION]
    assert found in message


def function_reading(bucket: Any) -> tuple[str, str, dict[str, Any]]:
    return (
        FUNCTION_V2,
        "urn:pulumi:dev::ai-service::function",
        {
            "serviceConfig": {
                "ingressSettings": "ALLOW_INTERNAL_ONLY",
                "environmentVariables": {"BUCKET_NAME": bucket},
            }
        },
    )


def bucket_grant(
    role: str, member: str, condition: Any = None, bucket: str = IMAGES
) -> tuple[str, str, dict[str, Any]]:
    props: dict[str, Any] = {"bucket": bucket, "role": role, "member": member}
    if condition is not None:
        props["condition"] = condition
    return BUCKET_IAM, f"urn:pulumi:dev::ai-service::grant-{role}-{member}", props


def test_the_images_bucket_takes_the_runtime_reader_and_the_uploads_writer() -> None:
    stack = [
        function_reading(IMAGES),
        bucket_grant("roles/storage.legacyObjectReader", RUNTIME_SA),
        bucket_grant("roles/storage.objectUser", USER_SERVICE, UPLOADS_ONLY),
        # The source bucket is not the contract's: the build reads it.
        bucket_grant("roles/storage.objectViewer", BUILD_SA, bucket=f"{PROJECT}-ai-service-source"),
    ]
    assert judge_stack(stack) == {}


@pytest.mark.parametrize(
    ("grant", "found"),
    [
        # Listing every upload, reading any image, writing anywhere in the bucket.
        (bucket_grant("roles/storage.objectViewer", USER_SERVICE), "nothing else"),
        (bucket_grant("roles/storage.objectAdmin", USER_SERVICE, UPLOADS_ONLY), "nothing else"),
        (bucket_grant("roles/storage.legacyObjectReader", USER_SERVICE), "Vision reads as it"),
        (bucket_grant("roles/storage.objectUser", USER_SERVICE), "conditioned exactly"),
        (
            bucket_grant(
                "roles/storage.objectUser",
                USER_SERVICE,
                {"expression": f'resource.name.startsWith("projects/_/buckets/{IMAGES}/")'},
            ),
            "conditioned exactly",
        ),
        (
            bucket_grant(
                "roles/storage.objectUser",
                USER_SERVICE,
                {
                    "expression": UPLOADS_ONLY["expression"]
                    + f' || resource.name == "projects/_/buckets/{IMAGES}"'
                },
            ),
            "conditioned exactly",
        ),
        (
            bucket_grant("roles/storage.objectUser", RUNTIME_SA, UPLOADS_ONLY),
            "not ai-service-sa",
        ),
        (
            bucket_grant("roles/storage.objectUser", "user:alice@example.com", UPLOADS_ONLY),
            "only service accounts",
        ),
    ],
)
def test_any_other_grant_on_the_images_bucket_is_refused(
    grant: tuple[str, str, dict[str, Any]], found: str
) -> None:
    verdicts = judge_stack([function_reading(IMAGES), grant])
    [(urn, message)] = verdicts[CONTRACT_BUCKET]
    assert urn == grant[1], "the violation names the grant"
    assert found in message
    assert IMAGES in message


def test_the_images_bucket_is_the_one_the_function_reads() -> None:
    grant = bucket_grant("roles/storage.objectViewer", USER_SERVICE)
    assert judge_stack([function_reading(IMAGES), grant]) != {}
    assert judge_stack([function_reading("another-bucket"), grant]) == {}
    assert judge_stack([function_reading(UNKNOWN_STRING_VALUE), grant]) == {}


# --- The runtime account is this project's (issue 18) --------------------------------------------

RUNTIME_CHECK = "runtime-account-is-this-projects"
PUBLISHER = "roles/pubsub.publisher"
NAMESAKE = "serviceAccount:ai-service-sa@attacker-project.iam.gserviceaccount.com"
LOOKALIKE = "serviceAccount:ai-service-sa@evil.example.com"


def runtime_account(project: Any = PROJECT) -> tuple[str, str, dict[str, Any]]:
    return (
        "gcp:serviceaccount/account:Account",
        "urn:pulumi:dev::ai-service::identity-runtime",
        {"project": project, "accountId": "ai-service-sa"},
    )


def test_grants_to_this_projects_runtime_pass() -> None:
    stack = [
        runtime_account(),
        function_reading(IMAGES),
        bucket_grant("roles/storage.legacyObjectReader", RUNTIME_SA),
        (TOPIC_IAM, "urn:results", topic_grant("ai-service-image-labeled", RUNTIME_SA)),
    ]
    assert judge_stack(stack) == {}


@pytest.mark.parametrize(
    "grant",
    [
        # The images bucket's reader and the results' publisher, to a namesake elsewhere.
        bucket_grant("roles/storage.legacyObjectReader", NAMESAKE),
        (TOPIC_IAM, "urn:namesake", topic_grant("ai-service-image-labeled", NAMESAKE)),
        (
            "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
            "urn:namesake",
            subscription_grant(NAMESAKE),
        ),
        (
            "gcp:pubsub/topicIAMBinding:TopicIAMBinding",
            "urn:namesake",
            {"topic": "ai-service-image-labeled", "role": PUBLISHER, "members": [NAMESAKE]},
        ),
        (
            "gcp:pubsub/topicIAMPolicy:TopicIAMPolicy",
            "urn:namesake",
            {
                "topic": "ai-service-image-labeled",
                "policyData": json.dumps(
                    {"bindings": [{"role": PUBLISHER, "members": [NAMESAKE]}]}
                ),
            },
        ),
    ],
)
def test_grants_to_an_ai_service_sa_of_another_project_are_refused(
    grant: tuple[str, str, dict[str, Any]],
) -> None:
    verdicts = judge_stack([runtime_account(), function_reading(IMAGES), grant])
    [(urn, message)] = verdicts[RUNTIME_CHECK]
    assert urn == grant[1]
    assert NAMESAKE in message
    assert f"expected {RUNTIME_SA} " in message


def test_a_lookalike_outside_service_accounts_is_refused_too() -> None:
    grant = bucket_grant("roles/storage.legacyObjectReader", LOOKALIKE)
    [(urn, message)] = judge_stack([runtime_account(), grant])[RUNTIME_CHECK]
    assert urn == grant[1]
    assert LOOKALIKE in message


def test_the_runtime_account_unknown_in_preview_is_judged_at_up() -> None:
    grant = bucket_grant("roles/storage.legacyObjectReader", NAMESAKE)
    stack = [runtime_account(UNKNOWN_STRING_VALUE), function_reading(IMAGES), grant]
    assert RUNTIME_CHECK not in judge_stack(stack)


def test_the_results_publisher_is_the_runtime_of_the_topics_project() -> None:
    """The resource rule already knows the project when the grant names it."""
    grant = topic_grant("ai-service-image-labeled", NAMESAKE)
    [message] = judge(TOPIC_IAM, grant)[CONTRACT_TOPICS]
    assert "of the topic's project" in message
    by_path = topic_grant(f"projects/{PROJECT}/topics/ai-service-image-labeled", NAMESAKE)
    del by_path["project"]
    assert CONTRACT_TOPICS in judge(TOPIC_IAM, by_path)


# --- The contract's grants name one account (issue 18) -------------------------------------------

ONE_ACCOUNT = "contract-grants-one-user-service-account"
OTHER_SERVICE = "serviceAccount:x@attacker-project.iam.gserviceaccount.com"


def contract_grants(publisher: str, writer: str, reader: str) -> list[tuple[str, str, dict]]:
    return [
        function_reading(IMAGES),
        (TOPIC_IAM, "urn:publisher", topic_grant("user-service-new-image", publisher)),
        bucket_grant("roles/storage.objectUser", writer, UPLOADS_ONLY),
        (SUBSCRIPTION_IAM, "urn:reader", subscription_grant(reader)),
    ]


def test_the_contract_granted_to_one_account_passes() -> None:
    assert judge_stack(contract_grants(USER_SERVICE, USER_SERVICE, USER_SERVICE)) == {}


@pytest.mark.parametrize(
    "accounts",
    [
        (OTHER_SERVICE, USER_SERVICE, USER_SERVICE),
        (USER_SERVICE, OTHER_SERVICE, USER_SERVICE),
        (USER_SERVICE, USER_SERVICE, OTHER_SERVICE),
    ],
    ids=["publisher", "uploads-writer", "results-reader"],
)
def test_a_contract_grant_to_a_second_account_is_refused(accounts: tuple[str, str, str]) -> None:
    found = judge_stack(contract_grants(*accounts))[ONE_ACCOUNT]
    assert len(found) == 3, "every grant of the contract is named"
    for _urn, message in found:
        assert "name 2 accounts" in message
        assert OTHER_SERVICE in message
        assert USER_SERVICE in message
        assert "ai-service:userServiceAccount" in message


def test_an_extra_contract_grant_beside_the_configured_one_is_refused() -> None:
    extra = bucket_grant("roles/storage.objectUser", OTHER_SERVICE, UPLOADS_ONLY)
    stack = [*contract_grants(USER_SERVICE, USER_SERVICE, USER_SERVICE), extra]
    urns = {urn for urn, _message in judge_stack(stack)[ONE_ACCOUNT]}
    assert extra[1] in urns
    binding = (
        "gcp:pubsub/topicIAMBinding:TopicIAMBinding",
        "urn:two-publishers",
        {
            "topic": "user-service-new-image",
            "role": PUBLISHER,
            "members": [USER_SERVICE, OTHER_SERVICE],
        },
    )
    assert ONE_ACCOUNT in judge_stack([function_reading(IMAGES), binding])


def test_contract_members_unknown_in_preview_are_judged_at_up() -> None:
    stack = contract_grants(USER_SERVICE, UNKNOWN_STRING_VALUE, USER_SERVICE)
    assert ONE_ACCOUNT not in judge_stack(stack)
