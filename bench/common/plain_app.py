"""The old design, as a baseline: FastAPI inserting the ticket row into PostgreSQL directly.

Same authentication (bearer token, user looked up), same request body, same row and audit
line, same response; no workflow. ``python -m common.plain_app --port P`` (from bench/) with the
``DESK_*`` environment of the real API.

With ``--temporal-address HOST:PORT --minimal-task-queue Q`` it is also the HTTP floor: two
routes that do nothing but the Temporal call on the minimal workflow (no authentication, no
database), the least any HTTP route calling Temporal can cost:

- ``POST /floor/start``: ``start_workflow``, 201 ``{"workflow_id": ...}``;
- ``POST /floor/update/{workflow_id}``: ``execute_update(touch)``, 200 ``{"version": n}``.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, status
from temporalio.client import Client

import desk.db.models  # noqa: F401 - every mapper
from common.minimal import MinimalWorkflow
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


def create_plain_app(
    settings: Settings,
    temporal_address: str | None = None,
    minimal_task_queue: str | None = None,
) -> FastAPI:
    floor = temporal_address is not None and minimal_task_queue is not None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        app.state.sessionmaker = create_sessionmaker(engine)
        if floor:
            app.state.temporal = await Client.connect(temporal_address)
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

    if floor:

        @app.post("/floor/start", status_code=status.HTTP_201_CREATED)
        async def floor_start() -> dict[str, str]:
            client: Client = app.state.temporal
            handle = await client.start_workflow(
                MinimalWorkflow.run, id=f"floor-{uuid.uuid4()}", task_queue=minimal_task_queue
            )
            return {"workflow_id": handle.id}

        @app.post("/floor/update/{workflow_id}")
        async def floor_update(workflow_id: str) -> dict[str, int]:
            client: Client = app.state.temporal
            version = await client.get_workflow_handle(workflow_id).execute_update(
                MinimalWorkflow.touch
            )
            return {"version": version}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--temporal-address", help="HOST:PORT; with the queue: the floor routes")
    parser.add_argument("--minimal-task-queue", help="the minimal workflow's worker's queue")
    args = parser.parse_args()
    app = create_plain_app(Settings(), args.temporal_address, args.minimal_task_queue)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)
    exit_now(0)


if __name__ == "__main__":
    main()
