"""Only Pub/Sub's push identity may deliver results (7a), deployed: the OIDC token is checked with the
real google-auth verification against a test certificate endpoint, and the local shared secret is
never a way in there. The deliveries carry ids that are not this service's, so an accepted one is
acknowledged as unknown without touching Firestore: these tests need no emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import google.auth.transport
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from tests.user_service.harness import envelope, result
from user_uploads.app import create_app
from user_uploads.config import ConfigError, Settings
from user_uploads.services import build_services

# google.oauth2.id_token's certificate URL for verify_oauth2_token.
GOOGLE_CERTS = "https://www.googleapis.com/oauth2/v1/certs"
AUDIENCE = "https://user-service-7g5hx2aq-uc.a.run.app/pubsub/results"
PUSH_ACCOUNT = "user-service-push@bike-share-test.iam.gserviceaccount.com"
KEY_ID = "test-key-1"
CLOUD_ENVIRONMENT = {
    "PROJECT_ID": "bike-share-test",
    "BUCKET_NAME": "bike-share-test-ai-service-images",
    "NEW_IMAGE_TOPIC": "user-service-new-image",
    "SIGNER_EMAIL": "user-service@bike-share-test.iam.gserviceaccount.com",
    "PUSH_AUDIENCE": AUDIENCE,
    "PUSH_ACCOUNT": PUSH_ACCOUNT,
}


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


GOOGLE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FORGER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeResponse:
    def __init__(self, status: int, data: bytes) -> None:
        self.status = status
        self.headers: dict[str, str] = {"content-type": "application/json"}
        self.data = data


class CertificateEndpoint(google.auth.transport.Request):
    """Answers GET GOOGLE_CERTS with the test key's public half, as Google's endpoint does."""

    def __init__(self) -> None:
        self.available = True
        self.fetched: list[str] = []

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> FakeResponse:
        self.fetched.append(url)
        assert url == GOOGLE_CERTS, f"the verifier asked {url}, not Google's certificates"
        if not self.available:
            return FakeResponse(503, b"unavailable")
        public = GOOGLE_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return FakeResponse(200, json.dumps({KEY_ID: public.decode()}).encode())


def token(key: rsa.RSAPrivateKey = GOOGLE_KEY, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "azp": "1234567890",
        "email": PUSH_ACCOUNT,
        "email_verified": True,
        "sub": "1234567890",
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    signer = crypt.RSASigner.from_string(_private_pem(key), key_id=KEY_ID)
    encoded: bytes = jwt.encode(signer, payload)
    return encoded.decode()


@pytest.fixture
def endpoint() -> CertificateEndpoint:
    return CertificateEndpoint()


@pytest.fixture
def client(endpoint: CertificateEndpoint) -> Any:
    settings = Settings.from_env(CLOUD_ENVIRONMENT)
    return create_app(
        settings, build_services(settings, push_transport=lambda: endpoint)
    ).test_client()


def deliver(client: Any, authorization: str | None, query: str = "") -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    # An id that is not this service's: acknowledged as unknown once past the check.
    body = envelope(result("not-an-upload-id", "uploads/x.jpg"))
    return client.post(f"/pubsub/results{query}", json=body, headers=headers)


def test_pub_subs_push_token_for_the_push_account_is_accepted(
    client: Any, endpoint: CertificateEndpoint
) -> None:
    response = deliver(client, f"Bearer {token()}")
    assert response.status_code == 200
    assert response.json["outcome"] == "unknown"
    assert endpoint.fetched == [GOOGLE_CERTS]


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("", 401),
        ("Bearer ", 401),
        (f"Basic {token()}", 401),
        ("Bearer not.a.jwt", 403),
        (f"Bearer {token(FORGER_KEY)}", 403),
        (f"Bearer {token(aud='https://elsewhere.example/pubsub/results')}", 403),
        (f"Bearer {token(email='attacker@evil-project.iam.gserviceaccount.com')}", 403),
        (f"Bearer {token(email_verified=False)}", 403),
        (f"Bearer {token(iss='https://evil.example')}", 403),
        (f"Bearer {token(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)}", 403),
    ],
    ids=[
        "missing",
        "empty",
        "bearer-without-token",
        "not-bearer",
        "garbage",
        "forged-signature",
        "wrong-audience",
        "wrong-email",
        "email-not-verified",
        "wrong-issuer",
        "expired",
    ],
)
def test_deliveries_without_the_push_accounts_valid_token_are_refused(
    client: Any, authorization: str | None, status: int
) -> None:
    response = deliver(client, authorization)
    assert response.status_code == status
    assert response.json["error"]


def test_the_local_shared_token_is_no_way_in_when_deployed(client: Any) -> None:
    response = deliver(client, None, query="?token=anything-at-all-long-enough")
    assert response.status_code == 401


def test_unreachable_certificates_are_a_503_so_pub_sub_retries(
    client: Any, endpoint: CertificateEndpoint
) -> None:
    endpoint.available = False
    response = deliver(client, f"Bearer {token()}")
    assert response.status_code == 503


def test_the_local_push_token_needs_the_pub_sub_emulator() -> None:
    local = {**CLOUD_ENVIRONMENT, "LOCAL_PUSH_TOKEN": "a-long-enough-shared-secret"}
    with pytest.raises(ConfigError, match="PUBSUB_EMULATOR_HOST"):
        Settings.from_env(local)
    with_emulator = Settings.from_env({**local, "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085"})
    assert with_emulator.local_push_token == "a-long-enough-shared-secret"
    assert with_emulator.push is None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"PUSH_AUDIENCE": ""}, "PUSH_AUDIENCE and PUSH_ACCOUNT"),
        ({"PUSH_ACCOUNT": ""}, "PUSH_AUDIENCE and PUSH_ACCOUNT"),
        ({"PUSH_AUDIENCE": "http://plain.example/"}, "https://"),
        ({"PUSH_ACCOUNT": "not an email"}, "PUSH_ACCOUNT"),
        ({"SIGNER_EMAIL": ""}, "SIGNER_EMAIL"),
        ({"BUCKET_NAME": "gs://bucket"}, "BUCKET_NAME"),
        ({"PROJECT_ID": ""}, "PROJECT_ID"),
        ({"MAX_UPLOAD_BYTES": "lots"}, "MAX_UPLOAD_BYTES"),
        ({"VERDICT_DEADLINE_SECONDS": "0"}, "VERDICT_DEADLINE_SECONDS"),
    ],
)
def test_a_misconfigured_service_does_not_start(change: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        Settings.from_env({**CLOUD_ENVIRONMENT, **change})
