"""Cloud Run functions entry point `handle_request`: every HTTP request goes to the Flask app.

functions-framework routes every path and method of an HTTP function to it; the app is dispatched in
its own request context, so its routes, error handlers and static files work as in a plain Flask
server. Settings are validated when the instance starts (a bad variable fails the deploy); clients are
built on first use. Locally: functions-framework --source user_service/function/main.py
--target handle_request (docs/user-service.md).
"""

from __future__ import annotations

import os

import flask
import functions_framework

from user_uploads.app import create_app
from user_uploads.config import Settings
from user_uploads.services import build_services

settings = Settings.from_env(os.environ)
app = create_app(settings, build_services(settings))


@functions_framework.http
def handle_request(request: flask.Request) -> flask.Response:
    with app.request_context(request.environ):
        return app.full_dispatch_request()
