"""Who may deliver results: only Pub/Sub's push, with an OIDC token of the push account.

Cloud (python-docs-samples pubsub/appengine, run/service-auth): the bearer token's signature, expiry,
issuer and audience are checked by google.oauth2.id_token.verify_oauth2_token against Google's
certificates; then the claims the signature alone does not settle: `email` is the push account and
`email_verified` is true. Anyone else's Google-signed token (any account can mint one for any
audience) is refused.

Local: the Pub/Sub emulator sends no token, so its push URL carries a shared secret instead
(`?token=`). Settings accept it only with PUBSUB_EMULATOR_HOST set, and the stack never sets it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Protocol

import google.auth.exceptions
import google.auth.transport
import google.auth.transport.requests
from google.oauth2 import id_token

from user_uploads.config import PushCheck

CLOCK_SKEW_SECONDS = 10


class PushRefused(Exception):
    """The delivery is not from Pub/Sub's push identity: `status` is 401 (none) or 403 (wrong)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class CertificatesUnavailable(Exception):
    """Google's certificates could not be fetched: transient, the delivery is retried (503)."""


class PushVerifier(Protocol):
    def verify(self, authorization: str | None, query_token: str | None) -> str:
        """Who delivered (for the log), from the Authorization header and the `token` query
        parameter; PushRefused if it is not Pub/Sub's push."""
        ...


class OidcPushVerifier:
    def __init__(
        self,
        check: PushCheck,
        transport: Callable[[], google.auth.transport.Request] = (
            google.auth.transport.requests.Request
        ),
    ) -> None:
        self._check = check
        self._transport = transport()  # one requests.Session, reused (thread-safe for GETs)

    def verify(self, authorization: str | None, query_token: str | None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise PushRefused(401, "no bearer token: only Pub/Sub's push may deliver results")
        try:
            claims = id_token.verify_oauth2_token(
                token.strip(),
                self._transport,
                audience=self._check.audience,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except google.auth.exceptions.TransportError as error:
            raise CertificatesUnavailable(str(error)) from error
        except (ValueError, google.auth.exceptions.GoogleAuthError) as error:
            raise PushRefused(403, f"the token is not valid for this endpoint: {error}") from None
        email = claims.get("email")
        if email != self._check.account or claims.get("email_verified") is not True:
            raise PushRefused(403, f"the token is not the push account's (email {email!r})")
        return str(email)


class SharedTokenVerifier:
    """Local runs on the Pub/Sub emulator only (see the module docstring)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def verify(self, authorization: str | None, query_token: str | None) -> str:
        given = query_token or ""
        if not given:
            raise PushRefused(401, "no push token: only the local push subscription may deliver")
        if not hmac.compare_digest(given.encode(), self._token):
            raise PushRefused(403, "wrong push token")
        return "local push subscription"
