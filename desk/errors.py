"""Domain errors. Services raise these; one handler (desk.http.errors) maps them to HTTP."""

from __future__ import annotations

from typing import Any


class DeskError(Exception):
    """Base of every error a client may see: an HTTP status, a stable code, a message."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any):
        self.detail = detail or self.__class__.__doc__ or self.code
        if code:
            self.code = code
        self.extra = extra
        self.headers: dict[str, str] = {}
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class Unauthorized(DeskError):
    """Not authenticated."""

    status_code = 401
    code = "not_authenticated"

    def __init__(self, detail: str | None = None, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.headers["WWW-Authenticate"] = "Bearer"


class Forbidden(DeskError):
    """You may not do this."""

    status_code = 403
    code = "forbidden"


class NotFound(DeskError):
    """Not found."""

    status_code = 404
    code = "not_found"


class Conflict(DeskError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """This move is not allowed from the ticket's current status."""

    code = "invalid_transition"

    def __init__(self, detail: str | None, *, current_status: str, allowed: list[str]):
        super().__init__(detail, current_status=current_status, allowed=allowed)


class TicketClosed(Conflict):
    """The ticket is closed, so read-only: every change to it, its comments and its files
    answers this same 409 (its status, and no allowed moves)."""

    code = "ticket_closed"

    def __init__(self) -> None:
        super().__init__("ticket is closed", current_status="CLOSED", allowed=[])


class Gone(DeskError):
    """The resource existed but is no longer available."""

    status_code = 410
    code = "gone"


class PayloadTooLarge(DeskError):
    """The request body is over the limit."""

    status_code = 413
    code = "payload_too_large"


class Unprocessable(DeskError):
    """The request is well-formed but its content is not acceptable."""

    status_code = 422
    code = "unprocessable"


class TooManyRequests(DeskError):
    """Too many attempts; try again later."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.headers["Retry-After"] = str(max(1, retry_after))


class InsufficientStorage(DeskError):
    """The server has no room left to store what was sent (disk full, quota reached)."""

    status_code = 507
    code = "insufficient_storage"

    def __init__(self, detail: str | None = None, *, retry_after: int = 60, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.headers["Retry-After"] = str(retry_after)


class ServiceUnavailable(DeskError):
    """A dependency is unavailable; try again shortly."""

    status_code = 503
    code = "service_unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.headers["Retry-After"] = str(retry_after)
