"""Issue 15's chaos suite: a mixed load over HTTP while parts of the stack are killed or
cut at moments drawn from a fixed seed; then, once quiet, nothing lost and nothing doubled.

``make test`` runs the short seeded slice (every fault kind once, in one run, on each
engine); ``make chaos`` (``DESK_CHAOS=full``) runs each scenario at full size.
"""

from __future__ import annotations

import pytest

from tests.chaos.load import LoadPlan
from tests.chaos.scenario import (
    SIZE,
    Scenario,
    cut_database,
    disk_full,
    kill_api,
    kill_temporal,
    kill_worker,
    run_scenario,
)

pytestmark = [pytest.mark.chaos, pytest.mark.subprocess, pytest.mark.temporal]

SEED = 15

FULL_PLAN = LoadPlan(
    seed=SEED,
    clients=4,
    ops_per_client=300,
    seconds=90,
    sla_tickets=100,  # two deadlines each: 200 falling due during the run
    sla_accept_window_s=45,
    upload_every=0,
)


def _full(seed_offset: int, **changes) -> LoadPlan:
    return LoadPlan(**{**FULL_PLAN.__dict__, "seed": SEED + seed_offset, **changes})


def _down(low: float, high: float):
    """A fault factory's down time, drawn from the scenario's seeded stream."""
    return lambda rng: rng.uniform(low, high)


FULL = [
    Scenario(
        "worker-killed",
        [
            lambda rng: kill_worker(0, _down(1, 4)(rng)),
            lambda rng: kill_worker(1, _down(1, 4)(rng)),
            lambda rng: kill_worker(0, _down(1, 4)(rng)),
        ],
        _full(1),
        workers=2,
    ),
    Scenario(
        "temporal-killed",
        [lambda rng: kill_temporal(_down(2, 5)(rng)), lambda rng: kill_temporal(_down(2, 5)(rng))],
        _full(2),
    ),
    Scenario("database-cut", [lambda rng: cut_database(20)], _full(3)),
    Scenario(
        "api-killed",
        [lambda rng: kill_api(0, _down(1, 4)(rng)), lambda rng: kill_api(0, _down(1, 4)(rng))],
        _full(4),
    ),
    Scenario(
        "disk-full",
        [lambda rng: disk_full(15)],
        _full(5, upload_every=4),
        uploads=True,
    ),
]

# Every fault kind once, in one short run with two workers.
SLICE = [
    Scenario(
        "slice",
        [
            lambda rng: kill_worker(0, _down(0.5, 2)(rng)),
            lambda rng: kill_temporal(_down(1, 2)(rng)),
            lambda rng: cut_database(4),
            lambda rng: kill_api(0, _down(0.5, 2)(rng)),
            lambda rng: disk_full(6),
        ],
        LoadPlan(
            seed=SEED,
            clients=3,
            ops_per_client=200,
            seconds=35,
            sla_tickets=12,
            sla_accept_window_s=15,
            upload_every=5,
        ),
        workers=2,
        uploads=True,
    )
]

SCENARIOS = FULL if SIZE == "full" else SLICE


@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.name, marks=s.marks) for s in SCENARIOS])
async def test_nothing_lost_nothing_doubled(scenario, settings, world, sessionmaker, tmp_path):
    run = await run_scenario(
        scenario, settings=settings, world=world, sessionmaker=sessionmaker, workdir=tmp_path
    )
    run.report()
    assert run.faults and all(f.recovered_at is not None for f in run.faults), run.faults
    assert not run.verdict.violations, "\n".join([run.summary(), *run.verdict.violations[:50]])
