"""The User-Service's settings, read from the environment once when an instance starts.

A missing or invalid variable raises `ConfigError` naming it, so a misconfigured revision never serves.
The stack (user_service/stack) sets every variable below except the two local-only ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# What the upload screen may send, with the object name's extension the service gives each type
# (all five are among Cloud Vision's "Supported image types", and the Vision emulator decodes them).
CONTENT_TYPES: Mapping[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
}
# Vision takes up to 20 MB per image; a phone photo is 2-6 MB.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
DEFAULT_UPLOAD_URL_SECONDS = 600
DEFAULT_VERDICT_DEADLINE_SECONDS = 60
DEFAULT_PUBLISH_TIMEOUT_SECONDS = 10.0
DEFAULT_COLLECTION = "uploads"
# A signed URL lives at most 7 days (V4 signing); Cloud Run answers a request within 60 min at most.
MAX_UPLOAD_URL_SECONDS = 7 * 24 * 3600

# Local runs only: Pub/Sub's emulator sends no OIDC token, so its push endpoint carries this shared
# secret instead. Accepted only together with PUBSUB_EMULATOR_HOST (docs/user-service.md, "Trust").
LOCAL_PUSH_TOKEN = "LOCAL_PUSH_TOKEN"
PUBSUB_EMULATOR_HOST = "PUBSUB_EMULATOR_HOST"
STORAGE_EMULATOR_HOST = "STORAGE_EMULATOR_HOST"

_NAME = re.compile(r"[^/\s]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class ConfigError(ValueError):
    """A variable is missing or invalid; the message names it and what was expected."""


@dataclass(frozen=True)
class PushCheck:
    """Who may deliver results: Pub/Sub's OIDC token for `account`, audience `audience`."""

    audience: str
    account: str


@dataclass(frozen=True)
class Settings:
    project_id: str
    bucket_name: str
    new_image_topic: str
    # The project that owns the topic: the AI-Service's (PROJECT_ID when the two share one).
    new_image_topic_project: str
    collection: str
    # Cloud: the account whose key (through IAM signBlob) signs upload URLs: the service's own.
    signer_email: str | None
    push: PushCheck | None
    local_push_token: str | None
    max_upload_bytes: int
    upload_url_seconds: int
    verdict_deadline_seconds: int
    publish_timeout_seconds: float
    pubsub_emulator_host: str | None
    storage_emulator_host: str | None

    @property
    def announce_lease_seconds(self) -> float:
        """How long a claim to announce an upload holds before another "done" may announce it: a
        publish, retried, takes at most publish_timeout_seconds; the rest is margin."""
        return 3 * self.publish_timeout_seconds

    @property
    def topic_path(self) -> str:
        return f"projects/{self.new_image_topic_project}/topics/{self.new_image_topic}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [
            name
            for name in ("PROJECT_ID", "BUCKET_NAME", "NEW_IMAGE_TOPIC")
            if not env.get(name, "").strip()
        ]
        if missing:
            raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")
        pubsub_emulator = _optional(env, PUBSUB_EMULATOR_HOST)
        storage_emulator = _optional(env, STORAGE_EMULATOR_HOST)
        local_token = _optional(env, LOCAL_PUSH_TOKEN)
        if local_token is not None and pubsub_emulator is None:
            # The shared secret exists for the emulator, which cannot send a token; with real
            # Pub/Sub it would be a second, weaker way in.
            raise ConfigError(
                f"{LOCAL_PUSH_TOKEN} is set but {PUBSUB_EMULATOR_HOST} is not: the shared push "
                "token is for local runs on the Pub/Sub emulator only; deployed, results are "
                "authenticated by Pub/Sub's OIDC token (PUSH_AUDIENCE, PUSH_ACCOUNT)"
            )
        if local_token is not None and len(local_token) < 16:
            raise ConfigError(f"{LOCAL_PUSH_TOKEN} must be at least 16 characters")
        push = None
        if local_token is None:
            audience = _optional(env, "PUSH_AUDIENCE")
            account = _optional(env, "PUSH_ACCOUNT")
            if audience is None or account is None:
                raise ConfigError(
                    "PUSH_AUDIENCE and PUSH_ACCOUNT are required: results are accepted only with "
                    "Pub/Sub's OIDC token for PUSH_ACCOUNT and that audience"
                )
            if not audience.startswith("https://"):
                raise ConfigError(
                    f"PUSH_AUDIENCE={audience!r}: expected the https:// URL pushed to"
                )
            push = PushCheck(audience=audience, account=_email(account, "PUSH_ACCOUNT"))
        signer = _optional(env, "SIGNER_EMAIL")
        if signer is None and storage_emulator is None:
            raise ConfigError(
                "SIGNER_EMAIL is required: the service account that signs upload URLs through "
                "IAM signBlob (the service's own, with token creator on itself)"
            )
        project_id = _name(env, "PROJECT_ID")
        return cls(
            project_id=project_id,
            bucket_name=_name(env, "BUCKET_NAME"),
            new_image_topic=_name(env, "NEW_IMAGE_TOPIC"),
            new_image_topic_project=_name(env, "NEW_IMAGE_TOPIC_PROJECT", project_id),
            collection=_name(env, "COLLECTION", DEFAULT_COLLECTION),
            signer_email=None if signer is None else _email(signer, "SIGNER_EMAIL"),
            push=push,
            local_push_token=local_token,
            max_upload_bytes=_integer(
                env, "MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES, 1, MAX_UPLOAD_BYTES
            ),
            upload_url_seconds=_integer(
                env, "UPLOAD_URL_SECONDS", DEFAULT_UPLOAD_URL_SECONDS, 1, MAX_UPLOAD_URL_SECONDS
            ),
            verdict_deadline_seconds=_integer(
                env, "VERDICT_DEADLINE_SECONDS", DEFAULT_VERDICT_DEADLINE_SECONDS, 1, 86400
            ),
            publish_timeout_seconds=float(
                _integer(
                    env, "PUBLISH_TIMEOUT_SECONDS", int(DEFAULT_PUBLISH_TIMEOUT_SECONDS), 1, 60
                )
            ),
            pubsub_emulator_host=pubsub_emulator,
            storage_emulator_host=storage_emulator,
        )


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _name(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = _optional(env, name) or default or ""
    if not _NAME.fullmatch(value):
        raise ConfigError(f"{name}={value!r} is not valid: expected a name, not a path or URI")
    return value


def _email(value: str, name: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ConfigError(f"{name}={value!r} is not valid: expected a service account's email")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = _optional(env, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not valid: expected a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is not valid: expected {low} to {high}")
    return value
