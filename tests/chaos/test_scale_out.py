"""Issue 14 §3: two worker processes and two API processes against one Temporal server.
Tickets are driven through both APIs while breaches fire; one worker is SIGKILLed mid-run
and not restarted, and the other carries on: no change lost, no notification doubled."""

from __future__ import annotations

import pytest

from tests.chaos.load import LoadPlan
from tests.chaos.scenario import SIZE, Scenario, kill_worker, run_scenario

pytestmark = [pytest.mark.subprocess, pytest.mark.temporal]

SCALE_OUT = Scenario(
    "scale-out",
    [lambda rng: kill_worker(0, 0, restart=False)],
    LoadPlan(
        seed=14,
        clients=4,
        ops_per_client=400 if SIZE == "full" else 120,
        seconds=60 if SIZE == "full" else 20,
        sla_tickets=50 if SIZE == "full" else 10,
        sla_accept_window_s=30 if SIZE == "full" else 12,
        tail_s=15,  # deadlines keep falling due after the kill, for the survivor alone
    ),
    apis=2,
    workers=2,
)


async def test_two_workers_two_apis_one_worker_killed(settings, world, sessionmaker, tmp_path):
    run = await run_scenario(
        SCALE_OUT, settings=settings, world=world, sessionmaker=sessionmaker, workdir=tmp_path
    )
    run.report()
    assert not run.verdict.violations, "\n".join([run.summary(), *run.verdict.violations[:50]])
    killed, survivor = run.stack.worker_parts
    assert run.alive == {killed.name: False, survivor.name: True, "api-1": True, "api-2": True}
    assert killed.starts == survivor.starts == 1
    # Both APIs answered changes, and the breaches kept coming after the kill.
    answered_by = {e.api for r in run.load.journal.requests if r.ok for e in r.attempts[-1:]}
    assert answered_by == set(run.stack.urls), answered_by
    kill_at = run.faults[0].injected_at
    assert run.breached_after(kill_at) > 0, "no deadline fell due after the kill"
