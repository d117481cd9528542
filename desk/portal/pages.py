"""The portal's pages. Each reads the request, calls the same use cases as the REST routes
(``TicketService``, ``AttachmentService``, the notifications and admin services) and
renders; which controls a ticket shows comes from ``TicketService.actions`` (the lifecycle
rules). Forms post, then redirect (POST-redirect-GET)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from desk.admin import service as admin_service
from desk.attachments.deps import AttachmentServiceDep
from desk.auth.deps import CurrentUser, require_roles
from desk.auth.models import User
from desk.auth.sessions import SESSION_COOKIE, session_user, sign_in, sign_out
from desk.db.types import utcnow
from desk.enums import Priority, Role, TicketStatus
from desk.errors import DeskError, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized
from desk.live.hub import RESET, Viewer
from desk.notifications import service as notifications
from desk.portal import views
from desk.portal.render import home_of, local_path, page, redirect
from desk.portal.route import PortalRoute
from desk.sla import service as sla_service
from desk.sla.models import SlaPolicy
from desk.tickets.access import is_staff, is_triage
from desk.tickets.deps import Tickets
from desk.tickets.queries import TicketFilters
from desk.tickets.schemas import CommentCreate, TicketCreate
from desk.tickets.service import TicketDraft, stored_clock

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

PAGE_SIZE = 50
MAX_FILES = 10
READ_CHUNK = 64 * 1024
TIMELINE_LIMIT = 1000
# An open stream ends after this long and the browser resumes it at once (Last-Event-ID):
# a server stopping never waits long on open pages.
STREAM_SECONDS = 20.0
KEEPALIVE_SECONDS = 10.0
RETRY_MS = 500
AT_RISK_WINDOWS = ("30m", "1h", "2h", "4h", "8h", "24h")


async def portal_user(request: Request, user: CurrentUser) -> User:
    """The caller, resolved by the API's own dependency (bearer or session cookie), kept
    for the error pages' navigation."""
    request.state.user = user
    return user


Me = Annotated[User, Depends(portal_user)]
Admin = Annotated[User, Depends(require_roles(Role.ADMIN))]


# --- signing in and out -----------------------------------------------------------------


@router.get("/")
async def home(user: Me) -> Response:
    return redirect(home_of(user))


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    settings = request.app.state.settings
    if cookie and (user := await session_user(request.app.state.sessionmaker, settings, cookie)):
        return redirect(local_path(next, home_of(user)))
    return await page(request, "login.html", next=local_path(next, ""))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    target = str(form.get("next", ""))
    settings = request.app.state.settings
    try:
        async with request.app.state.sessionmaker() as session:
            user, token = await sign_in(session, settings, email, password)
    except TooManyRequests as exc:
        minutes = max(1, round(int(exc.headers.get("Retry-After", "60")) / 60))
        error = f"Too many failed sign-ins. Try again in {minutes} min."
        return await page(
            request, "login.html", status_code=429, error=error, email=email, next=target
        )
    except Unauthorized:
        error = "Incorrect email or password."
        return await page(
            request, "login.html", status_code=401, error=error, email=email, next=target
        )
    response = redirect(local_path(target, home_of(user)))
    # A browser-session cookie: the server's session, extended with each use, decides
    # when the sign-in ends.
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        secure=settings.env != "dev",
        samesite="lax",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with request.app.state.sessionmaker() as session:
            await sign_out(session, token)
    response = redirect("/login", message="You are signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- lists ------------------------------------------------------------------------------


async def _policies(request: Request, user: User) -> dict[uuid.UUID, SlaPolicy]:
    async with request.app.state.sessionmaker() as session:
        return {p.id: p for p in await sla_service.list_policies(session, user)}


async def _rows(request: Request, user: User, tickets: Tickets, rows: list) -> list[dict]:
    """Listed tickets with the names and SLA cells their rows show."""
    staff = is_staff(user)
    policies = await _policies(request, user)
    people = await tickets.people(
        user, [t.assigned_to for t in rows] + [t.requester_id for t in rows]
    )
    now = utcnow()
    return [
        {
            "ticket": t,
            "assignee": views.name_of(people, t.assigned_to, default="Unassigned"),
            "requester": views.name_of(people, t.requester_id),
            "sla": views.row_sla(t, now, policies, staff=staff),
        }
        for t in rows
    ]


def _enum(kind, raw: str | None):
    try:
        return kind(raw) if raw else None
    except ValueError:
        return None


@router.get("/tickets")
async def ticket_list(
    request: Request,
    user: Me,
    tickets: Tickets,
    status: Annotated[str, Query(max_length=32)] = "",
    priority: Annotated[str, Query(max_length=16)] = "",
    assignee: Annotated[str, Query(max_length=64)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """Customers: their tickets, newest activity first. Staff: the organization's open
    tickets (or any status), next SLA deadline first. Filters live in the URL."""
    staff = is_staff(user)
    if staff and not status:
        status = "open"
    assigned_to = None
    if assignee == "me":
        assigned_to = user.id
    elif assignee:
        try:
            assigned_to = uuid.UUID(assignee)
        except ValueError:
            assignee = ""
    filters = TicketFilters(
        status=_enum(TicketStatus, status),
        priority=_enum(Priority, priority) if staff else None,
        assigned_to=assigned_to if staff else None,
        q=q.strip() or None,
    )
    rows = await tickets.worklist(
        user,
        filters,
        open_only=status == "open",
        by_deadline=staff,
        limit=PAGE_SIZE + 1,
        offset=(page_number - 1) * PAGE_SIZE,
    )
    more = len(rows) > PAGE_SIZE
    staff_members = await tickets.assignees(user) if is_triage(user) else []
    return await page(
        request,
        "tickets.html",
        user=user,
        current="tickets",
        heading="Open tickets" if staff else "My tickets",
        rows=await _rows(request, user, tickets, rows[:PAGE_SIZE]),
        filters={"status": status, "priority": priority, "assignee": assignee, "q": q},
        statuses=list(TicketStatus),
        priorities=list(Priority),
        staff_members=staff_members,
        page_number=page_number,
        more=more,
        query_base=_query(status=status, priority=priority, assignee=assignee, q=q),
    )


def _query(**params: str) -> str:
    return urlencode({k: v for k, v in params.items() if v})


@router.get("/queue")
async def queue(
    request: Request,
    user: Me,
    tickets: Tickets,
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """Open tickets assigned to me, the next SLA deadline first."""
    rows = await tickets.queue(user, limit=PAGE_SIZE + 1, offset=(page_number - 1) * PAGE_SIZE)
    return await page(
        request,
        "worklist.html",
        user=user,
        current="queue",
        heading="My queue",
        intro="Open tickets assigned to you, the next SLA deadline first.",
        empty="Nothing assigned to you is open.",
        rows=await _rows(request, user, tickets, rows[:PAGE_SIZE]),
        page_number=page_number,
        more=len(rows) > PAGE_SIZE,
    )


@router.get("/inbox")
async def inbox(request: Request, user: Me, tickets: Tickets) -> Response:
    """NEW tickets waiting for triage, oldest first, each with Accept and Assign."""
    rows, _ = await tickets.inbox(user, limit=200)
    assignees = await tickets.assignees(user)
    return await page(
        request,
        "worklist.html",
        user=user,
        current="inbox",
        heading="Inbox",
        intro="New tickets waiting to be accepted, oldest first.",
        empty="The inbox is empty.",
        rows=await _rows(request, user, tickets, rows),
        triage=True,
        assignees=assignees,
    )


def _window(raw: str) -> timedelta:
    match = re.fullmatch(r"(\d{1,3})([mh])", raw)
    if not match:
        return timedelta(hours=2)
    amount, unit = int(match[1]), match[2]
    window = timedelta(minutes=amount) if unit == "m" else timedelta(hours=amount)
    return min(max(window, timedelta(minutes=1)), timedelta(days=7))


@router.get("/at-risk")
async def at_risk(
    request: Request,
    user: Me,
    tickets: Tickets,
    window: Annotated[str, Query(max_length=8)] = "2h",
) -> Response:
    """Tickets not breached whose next deadline falls within the window."""
    rows = await tickets.at_risk(user, _window(window), limit=200)
    return await page(
        request,
        "worklist.html",
        user=user,
        current="at-risk",
        heading="At risk",
        intro="Open tickets, not yet breached, with an SLA deadline within the window.",
        empty="Nothing is due within this window.",
        rows=await _rows(request, user, tickets, rows),
        window=window if window in AT_RISK_WINDOWS else "2h",
        windows=AT_RISK_WINDOWS,
    )


@router.get("/breached")
async def breached(request: Request, user: Me, tickets: Tickets) -> Response:
    """Tickets that missed an SLA target and are not closed."""
    rows = await tickets.breached_open(user, limit=200)
    return await page(
        request,
        "worklist.html",
        user=user,
        current="breached",
        heading="Breached and open",
        intro="Tickets that missed an SLA target and are not closed.",
        empty="No open ticket has breached.",
        rows=await _rows(request, user, tickets, rows),
    )


# --- filing -----------------------------------------------------------------------------


async def _services(request: Request, user: User) -> list:
    async with request.app.state.sessionmaker() as session:
        return await admin_service.list_services(session, user, limit=200, offset=0, is_active=True)


@router.get("/tickets/new")
async def new_ticket_form(request: Request, user: Me) -> Response:
    return await page(
        request,
        "new_ticket.html",
        user=user,
        current="new",
        services=await _services(request, user),
        priorities=list(Priority),
        values={"priority": Priority.MEDIUM.value},
    )


async def _read_form(request: Request, max_bytes: int) -> FormData:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FILES * max_bytes + 1024 * 1024:
        raise PayloadTooLarge("the files are over the size limit", code="file_too_large")
    return await request.form(max_files=MAX_FILES, max_fields=50)


def _uploads(form: FormData) -> list[UploadFile]:
    return [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(READ_CHUNK):
        yield chunk


async def _attach_all(
    attachments: AttachmentServiceDep,
    user: User,
    ticket_id: uuid.UUID,
    uploads: list[UploadFile],
    comment_id: uuid.UUID | None = None,
) -> list[str]:
    """Store each file; the reasons of those refused (the rest is kept)."""
    refused = []
    for upload in uploads:
        try:
            await attachments.attach(
                user,
                ticket_id,
                _chunks(upload),
                filename=upload.filename,
                content_type=upload.content_type,
                comment_id=comment_id,
            )
        except DeskError as exc:
            refused.append(f"{upload.filename}: {exc.detail}")
    return refused


def _errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc']).capitalize()}: {e['msg']}" for e in exc.errors()]


@router.post("/tickets")
async def file_ticket(
    request: Request, user: Me, tickets: Tickets, attachments: AttachmentServiceDep
) -> Response:
    form = await _read_form(request, request.app.state.settings.upload_max_bytes)
    try:
        values = {
            k: str(form.get(k, "")) for k in ("subject", "description", "priority", "service")
        }
        try:
            body = TicketCreate(
                subject=values["subject"],
                description=values["description"],
                priority=values["priority"] or Priority.MEDIUM,
                service_id=values["service"] or None,
            )
        except ValidationError as exc:
            return await page(
                request,
                "new_ticket.html",
                user=user,
                current="new",
                status_code=422,
                errors=_errors(exc),
                services=await _services(request, user),
                priorities=list(Priority),
                values=values,
            )
        ticket = await tickets.file(user, TicketDraft(**body.model_dump()))
        refused = await _attach_all(attachments, user, ticket.id, _uploads(form))
    finally:
        await form.close()
    message = "Files not attached: " + "; ".join(refused) if refused else None
    return redirect(f"/tickets/{ticket.id}", message=message)


# --- one ticket -------------------------------------------------------------------------


@router.get("/tickets/{ticket_id}")
async def ticket_page(
    request: Request,
    ticket_id: uuid.UUID,
    user: Me,
    tickets: Tickets,
    attachments: AttachmentServiceDep,
) -> Response:
    ticket = await tickets.get(user, ticket_id)
    comments = await tickets.comments(user, ticket_id, limit=TIMELINE_LIMIT)
    events = await tickets.timeline(user, ticket_id, limit=TIMELINE_LIMIT)
    files = await attachments.list_for_ticket(user, ticket_id, limit=200, offset=0)
    ids = [ticket.requester_id, ticket.assigned_to]
    ids += [c.author_id for c in comments] + [e.actor_id for e in events]
    ids += [f.uploaded_by for f in files]
    people = await tickets.people(user, ids)
    if event_ids := [views.as_uuid(e.to_value) for e in events if e.action == "assigned"]:
        people |= await tickets.people(user, event_ids)
    now = utcnow()
    try:
        clock = (await tickets.sla_clock(user, ticket_id)).report
        policy = None  # the live clock knows its warning instants
    except DeskError:
        clock = stored_clock(ticket, now)  # Temporal unreachable: the row's view
        policy = (await _policies(request, user)).get(ticket.sla_policy_id)
    actions = tickets.actions(user, ticket)
    service = None
    if ticket.service_id:
        service = next(
            (s for s in await _services(request, user) if s.id == ticket.service_id), None
        )
    return await page(
        request,
        "ticket.html",
        user=user,
        current="ticket",
        ticket=ticket,
        staff=is_staff(user),
        requester=views.name_of(people, ticket.requester_id),
        assignee=views.name_of(people, ticket.assigned_to, default="Unassigned"),
        service=service,
        entries=views.timeline(comments, events, files, people),
        sla=views.sla_cell(clock, now, policy, staff=is_staff(user)),
        actions=actions,
        moves=[(m, views.move_label(ticket.status, m)) for m in actions.moves],
        close_label=views.close_label(ticket, user),
        assignees=await tickets.assignees(user) if actions.assign else [],
        priorities=list(Priority),
    )


def _ticket_url(ticket_id: uuid.UUID) -> str:
    return f"/tickets/{ticket_id}"


@router.post("/tickets/{ticket_id}/reply")
async def reply(
    request: Request,
    ticket_id: uuid.UUID,
    user: Me,
    tickets: Tickets,
    attachments: AttachmentServiceDep,
) -> Response:
    form = await _read_form(request, request.app.state.settings.upload_max_bytes)
    try:
        internal = form.get("internal") == "on"
        try:
            body = CommentCreate(content=str(form.get("content", "")), is_internal=internal)
        except ValidationError:
            return redirect(_ticket_url(ticket_id), message="Write a reply before sending.")
        comment = await tickets.comment(user, ticket_id, body.content, is_internal=internal)
        refused = await _attach_all(attachments, user, ticket_id, _uploads(form), comment.id)
    finally:
        await form.close()
    message = "Files not attached: " + "; ".join(refused) if refused else None
    return redirect(f"{_ticket_url(ticket_id)}#c-{comment.id}", message=message)


@router.post("/tickets/{ticket_id}/accept")
async def accept(ticket_id: uuid.UUID, user: Me, tickets: Tickets) -> Response:
    await tickets.accept(user, ticket_id)
    return redirect(_ticket_url(ticket_id))


@router.post("/tickets/{ticket_id}/assign")
async def assign(request: Request, ticket_id: uuid.UUID, user: Me, tickets: Tickets) -> Response:
    form = await request.form()
    raw = str(form.get("assignee", ""))
    try:
        assignee = uuid.UUID(raw) if raw else None
    except ValueError:
        return redirect(_ticket_url(ticket_id), message="Choose someone to assign.")
    await tickets.assign(user, ticket_id, assignee)
    back = local_path(str(form.get("next", "")), _ticket_url(ticket_id))
    return redirect(back)


async def _choice(request: Request, field: str, kind):
    """The form's ``field`` as a member of the enum ``kind``, or None."""
    return _enum(kind, str((await request.form()).get(field, "")))


@router.post("/tickets/{ticket_id}/status")
async def move(request: Request, ticket_id: uuid.UUID, user: Me, tickets: Tickets) -> Response:
    status = await _choice(request, "status", TicketStatus)
    if status is None:
        raise NotFound("no such status")
    await tickets.set_status(user, ticket_id, status)
    return redirect(_ticket_url(ticket_id))


@router.post("/tickets/{ticket_id}/close")
async def close(ticket_id: uuid.UUID, user: Me, tickets: Tickets) -> Response:
    await tickets.close(user, ticket_id)
    return redirect(_ticket_url(ticket_id))


@router.post("/tickets/{ticket_id}/priority")
async def priority(request: Request, ticket_id: uuid.UUID, user: Me, tickets: Tickets) -> Response:
    value = await _choice(request, "priority", Priority)
    if value is None:
        return redirect(_ticket_url(ticket_id), message="Choose a priority.")
    await tickets.set_priority(user, ticket_id, value)
    return redirect(_ticket_url(ticket_id))


# --- notifications and admin ------------------------------------------------------------


@router.get("/notifications")
async def notification_list(request: Request, user: Me) -> Response:
    async with request.app.state.sessionmaker() as session:
        rows = await notifications.list_notifications(session, user, limit=100)
    return await page(request, "notifications.html", user=user, current="notifications", rows=rows)


@router.post("/notifications/{notification_id}/read")
async def read_notification(request: Request, notification_id: uuid.UUID, user: Me) -> Response:
    async with request.app.state.sessionmaker() as session:
        await notifications.mark_read(session, user, notification_id)
        await session.commit()
    return redirect("/notifications")


@router.post("/notifications/read-all")
async def read_all(request: Request, user: Me) -> Response:
    async with request.app.state.sessionmaker() as session:
        await notifications.mark_all_read(session, user)
        await session.commit()
    return redirect("/notifications")


@router.get("/admin")
async def admin_overview(request: Request, user: Me, admin: Admin) -> Response:
    """Read-only: users, services, SLA policies and calendars; changes go through the API."""
    async with request.app.state.sessionmaker() as session:
        users = await admin_service.list_users(session, admin, limit=200, offset=0)
        services = await admin_service.list_services(session, admin, limit=200, offset=0)
        policies = await sla_service.list_policies(session, admin)
        calendars = await sla_service.list_calendars(session, admin)
    service_names = {s.id: s.name for s in services}
    calendar_names = {c.id: c.name for c in calendars}
    return await page(
        request,
        "admin.html",
        user=user,
        current="admin",
        users=users,
        services=services,
        policies=policies,
        calendars=calendars,
        service_names=service_names,
        calendar_names=calendar_names,
    )


# --- live -------------------------------------------------------------------------------


def _last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or ""
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


@router.get("/events")
async def events(request: Request, user: Me) -> Response:
    """The signed-in user's live events (Server-Sent Events), resumed after Last-Event-ID."""
    viewer = Viewer(user_id=user.id, organization_id=user.organization_id, staff=is_staff(user))
    hub = request.app.state.live
    after = _last_event_id(request)

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        async with hub.subscribe(viewer, after=after) as subscription:
            yield f"retry: {RETRY_MS}\n\n"
            end = loop.time() + STREAM_SECONDS
            while (left := end - loop.time()) > 0:
                try:
                    item = await asyncio.wait_for(
                        subscription.queue.get(), timeout=min(KEEPALIVE_SECONDS, left)
                    )
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if item == RESET:
                    yield "event: reset\ndata: {}\n\n"
                    return
                yield item.sse()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
