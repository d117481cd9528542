"""Portal routes answer people, not programs: a domain error becomes a page (403, 404,
503), a redirect to sign-in (401), or, after a form post, a redirect back with the reason
shown once. The JSON error handlers of the API stay as they are."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from desk.errors import DeskError, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from desk.portal.render import PAGE_HEADERS, local_path, page, redirect

log = logging.getLogger("desk.portal")

SIGNED_OUT = "Your session has ended. Please sign in again."


class PortalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def portal_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except DeskError as exc:
                response = await error_response(request, exc)
            except RequestValidationError:
                # Only the path can be invalid (forms are read by hand): no such page.
                response = await error_response(request, NotFound("page not found"))
            except StarletteHTTPException as exc:  # e.g. a form with too many files
                error = DeskError(str(exc.detail), code="bad_request")
                error.status_code = exc.status_code
                response = await error_response(request, error)
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return portal_handler


async def error_response(request: Request, exc: DeskError) -> Response:
    user = getattr(request.state, "user", None)
    if isinstance(exc, Unauthorized):
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        query = urllib.parse.urlencode({"next": target}) if request.method == "GET" else ""
        response = redirect("/login" + (f"?{query}" if query else ""), message=SIGNED_OUT)
        return response
    if request.method == "POST" and not isinstance(exc, Forbidden | NotFound):
        back = local_path(request.headers.get("referer", "").removeprefix(_origin(request)), "/")
        return redirect(back, message=exc.detail)
    if isinstance(exc, Forbidden):
        title, text = "Not allowed", "Your role does not give you access to this page."
    elif isinstance(exc, NotFound):
        title, text = "Not found", "There is no such page, or it is not yours to see."
    elif isinstance(exc, ServiceUnavailable):
        title, text = "Try again shortly", exc.detail
    else:
        title, text = "That did not work", exc.detail
    response = await page(
        request, "error.html", user=user, status_code=exc.status_code, title=title, text=text
    )
    for name, value in exc.headers.items():
        if name.lower() == "retry-after":
            response.headers[name] = value
    return response


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"
