"""The images bucket: signed upload URLs for one object each, and the checks after an upload.

Signing needs no key file. Deployed, the V4 signature is made by IAM's signBlob for SIGNER_EMAIL (the
service's own account, which holds token creator on itself) with the instance's access token
(python-docs-samples storage_generate_upload_signed_url_v4; google-cloud-storage `_signing`). On the
storage emulator, which checks no signature, a stand-in signer is used.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.transport.requests
from google.api_core import exceptions as api_exceptions
from google.cloud import storage

# The headers a browser must send with its PUT, all bound into the signature: GCS refuses the PUT
# when the body's size is outside the range (XML API reference-headers, x-goog-content-length-range;
# the same header Cloud Functions' own generateUploadUrl requires), and when an object of that name
# exists already (x-goog-if-generation-match: 0, XML API PUT object), so a checked upload can never be
# replaced afterwards. The images bucket's CORS rule must allow exactly these request headers.
LENGTH_RANGE_HEADER = "x-goog-content-length-range"
CREATE_ONLY_HEADER = "x-goog-if-generation-match"
SIGNED_HEADERS = ("Content-Type", LENGTH_RANGE_HEADER, CREATE_ONLY_HEADER)
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CORS_MAX_AGE_SECONDS = 3600


def bucket_cors_rule(origins: list[str]) -> dict[str, Any]:
    """The CORS rule the images bucket needs for the upload screen at `origins` (its https URLs).

    GCS answers a preflight only when its method and every requested header are in the rule
    (Cloud Storage "Cross-origin resource sharing"): a browser PUT sends exactly SIGNED_HEADERS.
    The bucket is the AI-Service stack's; docs/user-service.md gives this rule in its terms.
    """
    return {
        "origin": list(origins),
        "method": ["PUT"],
        "responseHeader": list(SIGNED_HEADERS),
        "maxAgeSeconds": CORS_MAX_AGE_SECONDS,
    }


@dataclass(frozen=True)
class SignedUpload:
    url: str
    method: str
    headers: Mapping[str, str]
    expires_at: datetime.datetime


@dataclass(frozen=True)
class StoredObject:
    size: int
    content_type: str | None


class EmulatorSigning(google.auth.credentials.Signing):
    """Signs for the storage emulator, which checks no signature: a digest, not a key."""

    @property
    def signer(self) -> None:
        return None

    @property
    def signer_email(self) -> str:
        return "storage-emulator@localhost"

    def sign_bytes(self, message: bytes) -> bytes:
        return hashlib.sha256(message).digest()


class AccessToken:
    """The instance's own access token for signBlob, refreshed when it expires (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: google.auth.credentials.Credentials | None = None

    def get(self) -> str:
        with self._lock:
            if self._credentials is None:
                self._credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
            if not self._credentials.valid:
                self._credentials.refresh(google.auth.transport.requests.Request())
            return str(self._credentials.token)


class ImagesBucket:
    """One bucket, through a thread-safe google.cloud.storage.Client."""

    def __init__(self, client: storage.Client, bucket_name: str, signer_email: str | None) -> None:
        self._bucket = client.bucket(bucket_name)
        self._signer_email = signer_email
        self._token = AccessToken() if signer_email else None

    def signed_upload(
        self, object_name: str, content_type: str, size: int, lifetime: datetime.timedelta
    ) -> SignedUpload:
        headers = {
            "Content-Type": content_type,
            LENGTH_RANGE_HEADER: f"{size},{size}",
            CREATE_ONLY_HEADER: "0",
        }
        blob = self._bucket.blob(object_name)
        signing: dict[str, object] = (
            {"service_account_email": self._signer_email, "access_token": self._token.get()}
            if self._token is not None
            else {"credentials": EmulatorSigning()}
        )
        url = blob.generate_signed_url(
            version="v4",
            expiration=lifetime,
            method="PUT",
            content_type=content_type,
            headers={name: value for name, value in headers.items() if name != "Content-Type"},
            **signing,
        )
        expires = datetime.datetime.now(datetime.UTC) + lifetime
        return SignedUpload(url=url, method="PUT", headers=headers, expires_at=expires)

    def stat(self, object_name: str) -> StoredObject | None:
        blob = self._bucket.get_blob(object_name)
        if blob is None:
            return None
        return StoredObject(size=int(blob.size or 0), content_type=blob.content_type)

    def head(self, object_name: str, count: int) -> bytes:
        data: bytes = self._bucket.blob(object_name).download_as_bytes(start=0, end=count - 1)
        return data

    def delete(self, object_name: str) -> None:
        """Deletes the object; one that is gone already is fine."""
        with contextlib.suppress(api_exceptions.NotFound):
            self._bucket.blob(object_name).delete()
