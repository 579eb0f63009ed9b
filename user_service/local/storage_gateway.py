"""What Cloud Storage does for a browser upload and gcp-storage-emulator does not, in front of it.

The upload screen PUTs the photo straight to the bucket with the signed URL, from another origin, so
the bucket's CORS rule decides whether the browser may send it; and GCS enforces two of the signed
headers itself. The emulator has neither (no OPTIONS, no CORS headers, no preconditions on XML
uploads), so locally this gateway stands between the browser (and the service) and the emulator:

- a preflight (OPTIONS) is answered from the bucket's CORS rule (`user_uploads.storage.bucket_cors_rule`,
  the rule the images bucket carries in the cloud), and responses carry Access-Control-Allow-Origin
  for an allowed origin;
- a PUT with a V4 signed URL is refused like GCS refuses it: a signed header missing or sent with
  another value than signed (403 SignatureDoesNotMatch: the signature covers every header named in
  X-Goog-SignedHeaders, "V4 signing process"), the URL expired (400 ExpiredToken), its body outside
  `x-goog-content-length-range` (400), or `x-goog-if-generation-match: 0` naming an object that exists
  (412);
- everything else (the service's own JSON API calls) is passed through unchanged.

The signature is checked against the stand-in signer the service uses on the emulator
(`user_uploads.storage.EmulatorSigning`), by signing the request as received again with
google-cloud-storage's own V4 signing. Used by the tests and by local runs:

    with StorageGateway("http://127.0.0.1:9023", ["http://127.0.0.1:8080"]) as gateway:
        os.environ["STORAGE_EMULATOR_HOST"] = gateway.url
"""

from __future__ import annotations

import datetime
import hmac
import http.client
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, quote, urlsplit

from google.cloud.storage import _signing  # type: ignore[import-untyped]

from user_uploads.storage import (
    CREATE_ONLY_HEADER,
    LENGTH_RANGE_HEADER,
    EmulatorSigning,
    bucket_cors_rule,
)

# Hop-by-hop headers (RFC 9110 7.6.1) are never forwarded.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
)
MAX_BODY_BYTES = 64 << 20


class StorageGateway:
    """A threaded HTTP server in front of the emulator at `upstream`, on `port` (0: a free one)."""

    def __init__(
        self, upstream: str, origins: Iterable[str], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        target = urlsplit(upstream)
        self.upstream_host = target.hostname or "127.0.0.1"
        self.upstream_port = target.port or 80
        self.rule = bucket_cors_rule(list(origins))
        gateway = self

        class Handler(_Handler):
            owner = gateway

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def allow_origin(self, origin: str) -> None:
        """Adds an origin to the rule (a server whose port is known only after this one starts)."""
        self.rule["origin"].append(origin)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; safe before start() and more than once."""
        if self._thread.is_alive():
            self._server.shutdown()  # waits for serve_forever to return: only once it runs
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def upstream(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> Any:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        connection.request(method, path, body=body, headers=dict(headers))
        response = connection.getresponse()
        return response, response.read(), connection

    def exists(self, path: str) -> bool:
        """Whether the object an XML path (/bucket/name) names exists, through the JSON API."""
        bucket, _, name = urlsplit(path).path.lstrip("/").partition("/")
        response, _, connection = self.upstream(
            "GET", f"/storage/v1/b/{bucket}/o/{quote(name, safe='')}", None, {}
        )
        connection.close()
        return bool(response.status == 200)


class _Handler(BaseHTTPRequestHandler):
    owner: StorageGateway
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read outcomes, not access logs."""

    def _cors(self) -> dict[str, str]:
        origin = self.headers.get("Origin")
        if origin and origin in self.owner.rule["origin"]:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {}

    def _answer(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: int, code: str, message: str) -> None:
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        self._answer(status, body, {**self._cors(), "Content-Type": "application/xml"})

    def do_OPTIONS(self) -> None:
        rule = self.owner.rule
        method = self.headers.get("Access-Control-Request-Method", "")
        asked = [
            name.strip().lower()
            for name in self.headers.get("Access-Control-Request-Headers", "").split(",")
            if name.strip()
        ]
        allowed = {name.lower() for name in rule["responseHeader"]}
        cors = self._cors()
        if not cors or method not in rule["method"] or not set(asked) <= allowed:
            self._answer(200, b"", {})  # as GCS: no CORS headers, so the browser refuses
            return
        self._answer(
            200,
            b"",
            {
                **cors,
                "Access-Control-Allow-Methods": ", ".join(rule["method"]),
                "Access-Control-Allow-Headers": ", ".join(rule["responseHeader"]),
                "Access-Control-Max-Age": str(rule["maxAgeSeconds"]),
            },
        )

    def _forward(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._refuse(413, "EntityTooLarge", "larger than the local gateway forwards")
            return
        body = self.rfile.read(length) if length else None
        if method == "PUT" and "X-Goog-Signature" in self.path:
            refusal = self._signed_put_refusal(length)
            if refusal is not None:
                self._refuse(*refusal)
                return
        headers = {
            name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP
        }
        response, content, connection = self.owner.upstream(method, self.path, body, headers)
        connection.close()
        passed = {
            name: value
            for name, value in response.getheaders()
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
        }
        self._answer(response.status, content, {**passed, **self._cors()})

    def _signed_put_refusal(self, length: int) -> tuple[int, str, str] | None:
        refusal = self._signature_refusal()
        if refusal is not None:
            return refusal
        size_range = self.headers.get(LENGTH_RANGE_HEADER)
        if size_range is not None:
            low, _, high = size_range.partition(",")
            if not (low.isdigit() and high.isdigit() and int(low) <= length <= int(high)):
                return 400, "EntityTooLarge", f"the body is outside {LENGTH_RANGE_HEADER}"
        if self.headers.get(CREATE_ONLY_HEADER) == "0" and self.owner.exists(self.path):
            return 412, "PreconditionFailed", "the object exists already"
        return None

    def _signature_refusal(self) -> tuple[int, str, str] | None:
        """The PUT signed again as received (its path, query and the signed headers' values) must
        give the URL's signature, and the URL must not have expired."""
        target = urlsplit(self.path)
        query = dict(parse_qsl(target.query, keep_blank_values=True))
        try:
            names = query["X-Goog-SignedHeaders"].split(";")
            stamp = query["X-Goog-Date"]
            seconds = int(query["X-Goog-Expires"])
            signed_at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
        except (KeyError, ValueError):
            return 400, "AuthenticationRequired", "the signed URL is incomplete"
        expires = signed_at.replace(tzinfo=datetime.UTC) + datetime.timedelta(seconds=seconds)
        if datetime.datetime.now(datetime.UTC) > expires:
            return 400, "ExpiredToken", "the signed URL has expired"
        headers = {name: self.headers.get(name) for name in names}
        missing = sorted(name for name, value in headers.items() if value is None)
        if missing:
            return 403, "SignatureDoesNotMatch", f"signed headers missing: {', '.join(missing)}"
        resigned = _signing.generate_signed_url_v4(  # its test hook pins the signing time
            EmulatorSigning(),
            target.path,
            expiration=seconds,
            api_access_endpoint=f"http://{headers.get('host') or self.headers.get('Host')}",
            method=self.command,
            headers=headers,
            query_parameters={
                key: value for key, value in query.items() if not key.startswith("X-Goog-")
            }
            or None,
            _request_timestamp=stamp,
        )
        expected = dict(parse_qsl(urlsplit(resigned).query))["X-Goog-Signature"]
        if not hmac.compare_digest(expected, query.get("X-Goog-Signature", "")):
            return 403, "SignatureDoesNotMatch", "the request does not match its signature"
        return None

    def do_GET(self) -> None:
        self._forward("GET")

    def do_PUT(self) -> None:
        self._forward("PUT")

    def do_POST(self) -> None:
        self._forward("POST")

    def do_DELETE(self) -> None:
        self._forward("DELETE")

    def do_PATCH(self) -> None:
        self._forward("PATCH")
