"""The old design, as a baseline: FastAPI inserting the ticket row into PostgreSQL directly.

Same authentication (bearer token, user looked up), same request body, same row and audit
line, same response; no workflow. ``python -m common.plain_app --port P`` (from bench/) with the
``DESK_*`` environment of the real API.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, status

import desk.db.models  # noqa: F401 - every mapper
from desk.auth.deps import CurrentUser
from desk.db.engine import create_engine, create_sessionmaker
from desk.db.types import utcnow
from desk.enums import TicketStatus
from desk.http.deps import SessionMakerDep
from desk.procexit import exit_now
from desk.settings import Settings
from desk.tickets import service
from desk.tickets.models import AuditLog, Ticket
from desk.tickets.schemas import TicketCreate, TicketOut


def create_plain_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        app.state.sessionmaker = create_sessionmaker(engine)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.state.settings = settings

    @app.post("/api/v1/tickets", status_code=status.HTTP_201_CREATED, response_model=TicketOut)
    async def create_ticket(
        body: TicketCreate, user: CurrentUser, sessionmaker: SessionMakerDep
    ) -> TicketOut:
        async with sessionmaker() as session, session.begin():
            number, _close_days = await service.claim_ticket_number(session, user.organization_id)
            now = utcnow()
            ticket = Ticket(
                id=uuid.uuid4(),
                organization_id=user.organization_id,
                number=number,
                subject=body.subject,
                description=body.description,
                priority=body.priority,
                status=TicketStatus.NEW,
                requester_id=user.id,
                created_by_id=user.id,
                created_at=now,
                updated_at=now,
                version=1,
            )
            session.add(ticket)
            await session.flush()
            session.add(
                AuditLog(
                    organization_id=user.organization_id,
                    ticket_id=ticket.id,
                    ticket_version=1,
                    actor_id=user.id,
                    action="created",
                    to_value=TicketStatus.NEW,
                    created_at=now,
                )
            )
        return TicketOut.model_validate(ticket)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_plain_app(Settings())
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)
    exit_now(0)


if __name__ == "__main__":
    main()
