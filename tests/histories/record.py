"""Record a TicketWorkflow history for the replay test, to tests/histories/NAME.json:
``python -m tests.histories.record walkthrough NAME`` (the old system's walkthrough), or
``python -m tests.histories.record breach NAME`` (a ticket whose SLA warns and breaches
within seconds, then resolves).

Runs the old system's walkthrough against a throwaway dev server and SQLite database. The
committed histories are the replay test's guard: a workflow change must keep them replaying
(``workflow.patched``, see the README's "Changing the workflow"). Add a history for a new
path; never re-record one to make a change pass.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from pathlib import Path

from desk.auth.models import Organization, User
from desk.auth.security import hash_password
from desk.db.engine import create_engine, create_sessionmaker
from desk.db.migrate import upgrade_async
from desk.enums import Role, TicketStatus
from desk.settings import Settings
from desk.sla.contracts import SlaTargets
from desk.temporal import SEARCH_ATTRIBUTES
from desk.tickets.contracts import (
    AcceptRequest,
    AssignRequest,
    CommentRequest,
    PriorityRequest,
    StatusRequest,
)
from tests.support.temporal import start_dev_server
from tests.support.workflows import actor, new_ticket_state, start_ticket
from worker import build_worker
from workflows.ticket import TicketWorkflow

HERE = Path(__file__).parent


# Seconds-long targets for the breach history: warning at 50 % (1.5 s), breach at 3 s.
BREACH_TARGETS = SlaTargets.from_minutes(
    None, first_response_minutes=60, resolution_minutes=0.05, warn_at_percent=50
)


async def record(path: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/record.db"
        await upgrade_async(url)
        engine = create_engine(url)
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            org = Organization(name="Replay")
            session.add(org)
            await session.flush()
            people = {
                role: User(
                    organization_id=org.id,
                    email=f"{role.lower()}@replay.example.com",
                    role=role,
                    password_hash=hash_password("x" * 12),
                )
                for role in (Role.CUSTOMER, Role.AGENT, Role.MANAGER)
            }
            session.add_all(people.values())
            await session.commit()
        customer, agent, manager = (people[r] for r in (Role.CUSTOMER, Role.AGENT, Role.MANAGER))
        settings = Settings(database_url=url, temporal_task_queue="record", _env_file=None)
        env = await start_dev_server(search_attributes=SEARCH_ATTRIBUTES)
        try:
            async with build_worker(env.client, settings, sessionmaker):
                handle = await start_ticket(env.client, "record", new_ticket_state(org, customer))
                if path == "breach":
                    steps = _breach_steps(manager, agent)
                else:
                    steps = _walkthrough_steps(customer, manager, agent)
                for update, request in steps:
                    if update is None:  # a pause: let the SLA timers fire and announce
                        await asyncio.sleep(request)
                        continue
                    await handle.execute_update(update, request)
                await handle.result()
                history = await handle.fetch_history()
            out = HERE / f"{name}.json"
            out.write_text(history.to_json())
            print(f"wrote {out} ({len(history.events)} events)")
        finally:
            await env.shutdown()
            await engine.dispose()


def _walkthrough_steps(customer: User, manager: User, agent: User) -> list:
    return [
        (TicketWorkflow.accept, AcceptRequest(actor(manager))),
        (TicketWorkflow.assign, AssignRequest(actor(manager), str(agent.id))),
        (
            TicketWorkflow.set_status,
            StatusRequest(actor(agent), TicketStatus.IN_PROGRESS),
        ),
        (
            TicketWorkflow.add_comment,
            CommentRequest(actor(agent), str(uuid.uuid4()), "Can you send a log?"),
        ),
        (
            TicketWorkflow.set_status,
            StatusRequest(actor(agent), TicketStatus.WAITING_CUSTOMER),
        ),
        (
            TicketWorkflow.add_comment,
            CommentRequest(actor(customer), str(uuid.uuid4()), "Here it is"),
        ),
        (TicketWorkflow.set_priority, PriorityRequest(actor(agent), "URGENT")),
        (TicketWorkflow.set_status, StatusRequest(actor(agent), TicketStatus.RESOLVED)),
        (TicketWorkflow.close, StatusRequest(actor(agent), TicketStatus.CLOSED)),
    ]


def _breach_steps(manager: User, agent: User) -> list:
    return [
        (TicketWorkflow.accept, AcceptRequest(actor(manager), sla_targets=BREACH_TARGETS)),
        (TicketWorkflow.assign, AssignRequest(actor(manager), str(agent.id))),
        (None, 6.0),
        (TicketWorkflow.set_status, StatusRequest(actor(agent), TicketStatus.RESOLVED)),
        (TicketWorkflow.close, StatusRequest(actor(agent), TicketStatus.CLOSED)),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", choices=("walkthrough", "breach"), help="the ticket's story")
    parser.add_argument("name", help="the history's file name, without .json; a new one")
    args = parser.parse_args()
    if (HERE / f"{args.name}.json").exists():
        parser.error(f"{args.name}.json exists: a recorded history is never re-recorded")
    asyncio.run(record(args.path, args.name))
