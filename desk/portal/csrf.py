"""CSRF protection for every state-changing request, by asgi-csrf (double-submit cookie:
a signed ``csrftoken`` cookie that each form repeats in a hidden field, or a script in the
``x-csrftoken`` header).

It protects the whole app, the API included, with these exceptions, all safe:

- a request with no cookie at all: no browser session rides on it (a bearer-token
  client; or a cross-site form, whose SameSite=Lax cookies the browser held back, and
  which then finds no session);
- a request with ``Authorization: Bearer``: the token, not a cookie, authenticates it;
- the API's token endpoints, which authenticate by the credentials in their body.

The portal's sign-in form is protected even without cookies (no login CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from contextvars import ContextVar
from typing import Any

import asgi_csrf as _asgi_csrf
from asgi_csrf import asgi_csrf
from python_multipart import FormParser
from starlette.types import ASGIApp, Receive, Scope, Send

from desk.portal.render import PAGE_HEADERS, TEMPLATES
from desk.settings import Settings

TOKEN_ENDPOINTS = frozenset({"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"})
ALWAYS_PROTECT = ["/login"]
FORM_FIELD = "csrftoken"


class _FormParser(FormParser):
    """asgi-csrf 0.11 was written for an older python-multipart: it passes ``FileClass``
    (no longer taken) to refuse a file part that comes before the token, and an ``on_file``
    callback that takes no argument. Without this, every multipart POST not carrying the
    token in a header fails with a 500. Here a file part before the token is refused once
    parsed (the same 403); our forms send the token first."""

    def __init__(self, content_type: str, on_field: Any, on_file: Any, *args: Any, **kwargs: Any):
        kwargs.pop("FileClass", None)
        super().__init__(content_type, on_field, _file_before_token, *args, **kwargs)


def _file_before_token(_file: Any) -> None:
    raise _asgi_csrf.FileBeforeToken


_asgi_csrf.FormParser = _FormParser


def signing_secret(settings: Settings) -> str:
    """The same in every API process, and not the JWT key itself."""
    key = settings.jwt_secret.get_secret_value().encode()
    return hmac.new(key, b"desk csrf", hashlib.sha256).hexdigest()


# The request's own scope: asgi-csrf hands the app a copy, but the router records the
# matched route in the scope it is given, and the request-context middleware outside reads
# it (route templates in logs and metrics) from the original.
_scope: ContextVar[Scope] = ContextVar("desk_csrf_scope")


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, api_prefix: str):
        self.api_prefix = api_prefix

        async def with_original_scope(copy: Scope, receive: Receive, send: Send) -> None:
            scope = _scope.get()
            if _asgi_csrf.SCOPE_KEY in copy:  # HTTP only: not the lifespan, not websockets
                scope[_asgi_csrf.SCOPE_KEY] = copy[_asgi_csrf.SCOPE_KEY]
            await app(scope, receive, send)

        self.app = asgi_csrf(
            with_original_scope,
            signing_secret=signing_secret(settings),
            always_protect=ALWAYS_PROTECT,
            skip_if_scope=lambda scope: scope.get("path") in TOKEN_ENDPOINTS,
            cookie_secure=settings.env != "dev",
            cookie_samesite="Lax",
            send_csrf_failed=self.refuse,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _scope.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _scope.reset(token)

    async def refuse(self, scope: Scope, send: Send, _reason: Any) -> None:
        """403, before the request reached any route: nothing was written."""
        if scope.get("path", "").startswith(self.api_prefix):
            body = json.dumps(
                {"detail": "CSRF token missing or wrong", "code": "csrf_failed"}
            ).encode()
            headers = [(b"content-type", b"application/json")]
        else:
            body = (
                TEMPLATES.get_template("error.html")
                .render(
                    title="Refused",
                    text="This form was not sent from one of our pages, or it was open too "
                    "long. Go back, reload the page and try again.",
                    nav=[],
                    user=None,
                    csrf_token="",
                )
                .encode()
            )
            headers = [(b"content-type", b"text/html; charset=utf-8")]
            headers += [(k.lower().encode(), v.encode()) for k, v in PAGE_HEADERS.items()]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})
