"""One chaos scenario: an organization and its people, the stack as processes, the load,
faults at moments drawn from the seed, then the invariant checker once all is quiet."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select

from desk.enums import Role
from desk.settings import Settings
from desk.sla.models import SlaFact
from tests.chaos.invariants import Subject, Verdict, wait_for_quiet
from tests.chaos.load import Apis, Cast, Journal, Load, LoadPlan, Sender, remember
from tests.chaos.stack import Stack
from tests.support.receivers import SECRET, Receiver, serve_smtp
from tests.support.tmpfs import MountRefused, fill, tmpfs
from tests.support.world import World, bearer

# "slice" (make test: short, every fault kind once) or "full" (make chaos).
SIZE = os.environ.get("DESK_CHAOS", "slice")
SLA_POLICY = {  # seconds-long targets: deadlines fall due during the run
    "first_response_minutes": 0.1,
    "resolution_minutes": 0.2,
    "warn_at_percent": 50,
}
QUIET_TIMEOUT_S = 180


@dataclass
class FaultRecord:
    kind: str
    target: str
    injected_at: float
    recovered_at: float | None = None
    note: str = ""


@dataclass
class Run:
    """What one scenario did and found."""

    name: str
    seed: int
    stack: Stack
    faults: list[FaultRecord] = field(default_factory=list)
    verdict: Verdict | None = None
    load: Load | None = None

    breach_offsets: list[float] = field(default_factory=list)  # s after the load began
    alive: dict[str, bool] = field(default_factory=dict)  # each process, once quiet

    def breached_after(self, offset: float) -> int:
        """How many breaches were recorded at least ``offset`` s into the load."""
        return sum(1 for at in self.breach_offsets if at >= offset)

    def report(self) -> None:
        """Print the summary, and append it with the violations to ``DESK_CHAOS_REPORT``
        (``make chaos`` prints that file at the end, xfailed scenarios included)."""
        print(self.summary())
        if path := os.environ.get("DESK_CHAOS_REPORT"):
            with open(path, "a") as out:
                out.write(self.summary() + "\n")
                for line in self.verdict.violations[:20]:
                    out.write(f"    {line}\n")

    def summary(self) -> str:
        journal = self.load.journal
        exchanges = journal.exchanges()
        statuses: dict[str, int] = {}
        for e in exchanges:
            key = f"{e.op}:{e.status if e.status is not None else 'none'}"
            statuses[key] = statuses.get(key, 0) + 1
        faults = ", ".join(
            f"{f.kind}({f.target}) at {f.injected_at:.1f}s down "
            f"{(f.recovered_at or 0) - f.injected_at:.1f}s"
            for f in self.faults
        )
        quiet = self.verdict.quiet_after_s
        return (
            f"chaos {self.name} seed={self.seed} engine={self.stack.db.url.split(':')[0]}: "
            f"requests={len(journal.requests)} attempts={len(exchanges)} "
            f"statuses={dict(sorted(statuses.items()))} sla_tickets={len(self.load.sla)} "
            f"deadlines={2 * len(self.load.sla)} faults=[{faults}] "
            f"violations={len(self.verdict.violations)} "
            f"recovery_to_quiet_s={'never' if quiet is None else f'{quiet:.1f}'} "
            f"load={os.getloadavg()[0]:.2f}"
        )


Fault = Callable[["Chaos", FaultRecord], Awaitable[None]]


class Chaos:
    """The running scenario, as faults see it."""

    def __init__(self, run: Run, started: float, upload_root: Path | None):
        self.run, self.started, self.upload_root = run, started, upload_root

    @property
    def stack(self) -> Stack:
        return self.run.stack

    def record(self, kind: str, target: str) -> FaultRecord:
        record = FaultRecord(kind, target, time.monotonic() - self.started)
        self.run.faults.append(record)
        return record

    def recovered(self, record: FaultRecord) -> None:
        record.recovered_at = time.monotonic() - self.started


# --- Faults ------------------------------------------------------------------------------


def kill_worker(index: int, down_s: float, *, restart: bool = True) -> Fault:
    async def fault(chaos: Chaos, _record=None) -> None:
        part = chaos.stack.worker_parts[index]
        record = chaos.record("kill_worker", part.name)
        part.kill()
        if restart:
            await asyncio.sleep(down_s)
            part.start()
            await part.ready()
        chaos.recovered(record)

    return fault


def kill_temporal(down_s: float) -> Fault:
    async def fault(chaos: Chaos, _record=None) -> None:
        record = chaos.record("kill_temporal", "temporal")
        chaos.stack.temporal.kill()
        await asyncio.sleep(down_s)
        chaos.stack.temporal.start()  # the same --db-filename and ports
        await chaos.stack.temporal.ready()
        chaos.recovered(record)

    return fault


def cut_database(down_s: float) -> Fault:
    async def fault(chaos: Chaos, _record=None) -> None:
        record = chaos.record("cut_database", "proxy" if not chaos.stack.db.is_sqlite else "lock")
        await chaos.stack.db.cut()
        await asyncio.sleep(down_s)
        await chaos.stack.db.restore()
        chaos.recovered(record)

    return fault


def kill_api(index: int, down_s: float) -> Fault:
    async def fault(chaos: Chaos, _record=None) -> None:
        part = chaos.stack.api_parts[index]
        record = chaos.record("kill_api", part.name)
        part.kill()
        await asyncio.sleep(down_s)
        part.start()
        await part.ready()
        chaos.recovered(record)

    return fault


def disk_full(down_s: float) -> Fault:
    async def fault(chaos: Chaos, _record=None) -> None:
        record = chaos.record("disk_full", "uploads")
        filler = await asyncio.to_thread(fill, chaos.upload_root, leave=4096)
        await asyncio.sleep(down_s)
        filler.unlink()
        chaos.recovered(record)

    return fault


# --- The run -----------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    faults: list[Callable[[random.Random], Fault]]
    plan: LoadPlan
    apis: int = 1
    workers: int = 1
    uploads: bool = False
    marks: list = field(default_factory=list)  # pytest marks of its test (e.g. xfail)


async def people(world: World, settings: Settings):
    org = await world.org(f"Chaos {uuid.uuid4().hex[:6]}")
    admin = await world.user(org, Role.ADMIN)
    managers = [await world.user(org, Role.MANAGER) for _ in range(2)]
    agents = [await world.user(org, Role.AGENT) for _ in range(2)]
    customers = [await world.user(org, Role.CUSTOMER) for _ in range(3)]
    cast = Cast(
        customers=[remember(bearer(settings, c), str(c.id)) for c in customers],
        managers=[bearer(settings, m) for m in managers],
        agent_ids=[str(a.id) for a in agents],
        manager_ids=[str(m.id) for m in managers],
    )
    return org, bearer(settings, admin), cast


async def configure(url: str, admin: dict[str, str], receiver: Receiver) -> None:
    """The seconds-long URGENT policy and a webhook for breaches, through the API."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        policy = await http.post(
            "/api/v1/admin/sla-policies", json={"priority": "URGENT", **SLA_POLICY}, headers=admin
        )
        if policy.status_code == 409:  # the organization's default URGENT policy: edit it
            listed = await http.get(
                "/api/v1/admin/sla-policies", params={"priority": "URGENT"}, headers=admin
            )
            policy = await http.patch(
                f"/api/v1/admin/sla-policies/{listed.json()[0]['id']}",
                json=SLA_POLICY,
                headers=admin,
            )
        assert policy.status_code in (200, 201), policy.text
        hook = await http.post(
            "/api/v1/admin/webhooks",
            json={"url": receiver.url("/hooks/sla"), "secret": SECRET, "events": ["SLA_BREACHED"]},
            headers=admin,
        )
        assert hook.status_code == 201, hook.text


async def breach_offsets(sessionmaker, organization_id, started: float) -> list[float]:
    """When each breach of the organization was due, in seconds after ``started`` (a
    monotonic instant), by the wall clock's offset from the monotonic one now."""
    wall_minus_mono = time.time() - time.monotonic()
    async with sessionmaker() as session:
        breached = await session.scalars(
            select(SlaFact.breached_at).where(
                SlaFact.organization_id == organization_id, SlaFact.breached_at.is_not(None)
            )
        )
        return [at.timestamp() - wall_minus_mono - started for at in breached]


async def run_scenario(
    scenario: Scenario,
    *,
    settings: Settings,
    world: World,
    sessionmaker,
    workdir: Path,
) -> Run:
    rng = random.Random(scenario.plan.seed)
    upload_root: Path | None = None
    async with contextlib.AsyncExitStack() as exits:
        if scenario.uploads:
            try:
                upload_root = exits.enter_context(tmpfs(workdir / "uploads", 8 * 1024 * 1024))
            except MountRefused as exc:
                import pytest

                pytest.skip(f"disk-full fault needs a tmpfs ({exc}); run as root")
        else:
            upload_root = workdir / "uploads"
        smtp = await exits.enter_async_context(serve_smtp())
        receiver = Receiver()
        await exits.enter_async_context(receiver.serving())
        queue = settings.model_copy(
            update={"temporal_task_queue": f"chaos-{scenario.name}-{uuid.uuid4().hex[:6]}"}
        )
        org, admin, cast = await people(world, queue)
        stack = await exits.enter_async_context(
            Stack(
                workdir / "stack",
                queue,
                apis=scenario.apis,
                workers=scenario.workers,
                smtp_port=smtp.port,
                upload_dir=upload_root,
            )
        )
        run = Run(scenario.name, scenario.plan.seed, stack)
        try:
            await configure(stack.urls[0], admin, receiver)
            journal = Journal()
            sender = Sender(Apis(stack.urls), journal)
            exits.push_async_callback(sender.close)
            load = Load(scenario.plan, cast, sender, journal, run_tag=f"{scenario.name}-{org.id}")
            run.load = load
            await load.file_sla_tickets()
            started = time.monotonic()
            chaos = Chaos(run, started, upload_root)
            # Fault moments drawn from the seed, in the middle of the load, one after the
            # other (each waits for the previous part to be back).
            span = scenario.plan.seconds
            faults = [make(rng) for make in scenario.faults]
            moments = sorted(rng.uniform(0.15 * span, 0.6 * span) for _ in faults)

            faults_done = asyncio.Event()

            async def inject() -> None:
                try:
                    for moment, fault in zip(moments, faults, strict=True):
                        await asyncio.sleep(max(0.0, started + moment - time.monotonic()))
                        await fault(chaos)
                finally:
                    faults_done.set()

            await asyncio.gather(load.run(faults_done), inject())
            last_recovery = max(
                [started + (f.recovered_at or 0) for f in run.faults] + [time.monotonic()]
            )
            subject = Subject(
                organization_id=org.id,
                manager_ids=cast.manager_ids,
                sessionmaker=sessionmaker,
                client=stack.client,
                load=load,
                smtp_inbox=smtp.inbox,
                receiver=receiver,
                upload_dir=upload_root,
            )
            run.breach_offsets = await breach_offsets(sessionmaker, org.id, started)
            run.alive = {p.name: p.running for p in [*stack.worker_parts, *stack.api_parts]}
            run.verdict = await wait_for_quiet(
                subject, since=last_recovery, timeout=QUIET_TIMEOUT_S
            )
        except BaseException:
            print(stack.logs())
            raise
        if run.verdict.violations:
            print(stack.logs())
        return run
