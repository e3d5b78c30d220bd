"""Schemathesis hooks for wxlogin's API test (tests/api/openapi.rs).

The test runs `schemathesis run` against a `wxlogin serve --dev` it started,
with `SCHEMATHESIS_HOOKS=wxlogin_hooks`. These hooks give generated requests
real credentials, so that schemathesis reaches past the token check:

- a bearer token from `POST /api/login` with a fresh code (the dev-mode
  simulator accepts any), renewed whenever a request is answered 401: the
  generated calls may log out or end the very session they use;
- the client id and secret of a service made with `wxlogin service create`,
  for `POST /oauth/introspect`, from `WXLOGIN_SERVICE_ID` and
  `WXLOGIN_SERVICE_SECRET`.
"""

import base64
import json
import os
import secrets
import urllib.request

import schemathesis

BASE_URL = os.environ["WXLOGIN_URL"]
SERVICE_ID = os.environ["WXLOGIN_SERVICE_ID"]
SERVICE_SECRET = os.environ["WXLOGIN_SERVICE_SECRET"]
INTROSPECT = "/oauth/introspect"


def login() -> str:
    """A new session's token, for a new dev-mode user."""
    body = json.dumps({"code": "schemathesis-" + secrets.token_hex(8)}).encode()
    request = urllib.request.Request(
        BASE_URL + "/api/login",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["token"]


@schemathesis.auth(refresh_interval=60, retry_on=[401]).skip_for(path=INTROSPECT)
class BearerToken:
    def get(self, case, context):
        return login()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.auth(refresh_interval=None).apply_to(path=INTROSPECT)
class ServiceCredentials:
    def get(self, case, context):
        pair = f"{SERVICE_ID}:{SERVICE_SECRET}".encode()
        return base64.b64encode(pair).decode()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Basic {data}"
