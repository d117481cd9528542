"""The REST contract, fuzzed: schemathesis runs every check and every phase (examples,
coverage, fuzzing, stateful) against the API as production runs it (``python -m api`` with a
worker and the Temporal dev server), once per role, with a fixed seed. Zero failures.

A seeded slice runs in ``make test``; ``make fuzz`` runs the coverage phase for every role,
more examples and other seeds (``DESK_FUZZ_EXAMPLES``, ``DESK_FUZZ_SEEDS``,
``DESK_FUZZ_COVERAGE_ROLES``). A failure prints schemathesis' report: each
failing request with a curl line to replay it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from desk.admin.models import Service
from desk.auth.models import User
from desk.enums import Role
from tests.support.ports import free_port
from tests.support.processes import service_process, start_worker, stop, wait_polling
from tests.support.world import World, bearer

pytestmark = pytest.mark.subprocess

EXAMPLES = int(os.environ.get("DESK_FUZZ_EXAMPLES", "3"))
SEEDS = [int(seed) for seed in os.environ.get("DESK_FUZZ_SEEDS", "20261202").split(",")]
# The coverage phase sends every boundary of every input (thousands of requests, whatever
# the example count): in the seeded slice only for ADMIN, the role whose requests reach every
# operation's validation; `make fuzz` runs it for every role.
COVERAGE_ROLES = os.environ.get("DESK_FUZZ_COVERAGE_ROLES", "ADMIN").split(",")
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "fuzz" / "schemathesis.toml"
REPORT_TAIL = 12_000  # characters of the report shown on a failure


@dataclass
class FuzzedApi:
    url: str
    users: dict[Role, User]  # each role in an organization of its own


@pytest.fixture(scope="module")
async def api(settings, dev_server, sessionmaker, tmp_path_factory) -> AsyncIterator[FuzzedApi]:
    """The API and a worker as subprocesses on the test database and the dev server, and one
    organization per role (an admin's fuzzing never touches another role's data)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    fuzz_settings = settings.model_copy(
        update={"temporal_task_queue": f"fuzz-{uuid.uuid4().hex[:8]}"}
    )
    target = dev_server.client.service_client.config.target_host
    worker_log = tmp / "worker.log"
    worker = start_worker(fuzz_settings, settings.database_url, target, worker_log)
    port = free_port()
    env = {
        "DESK_ENV": "test",
        "DESK_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "DESK_ACCESS_TOKEN_MINUTES": "600",  # a long `make fuzz` keeps its tokens
        "DESK_DATABASE_URL": settings.database_url,
        "DESK_TEMPORAL_ADDRESS": target,
        "DESK_TEMPORAL_TASK_QUEUE": fuzz_settings.temporal_task_queue,
        "DESK_UPLOAD_DIR": str(tmp / "uploads"),
        "DESK_API_PORT": str(port),
        "DESK_LOG_LEVEL": "WARNING",
        "DESK_METRICS_ENABLED": "false",
    }
    world = World(sessionmaker)
    users: dict[Role, User] = {}
    for role in Role:
        org = await world.org(f"Fuzzed as {role}")
        staff = {r: await world.user(org, r) for r in Role}
        async with sessionmaker() as session:
            session.add(Service(organization_id=org.id, name="Email"))
            await session.commit()
        users[role] = staff[role]
    try:
        await wait_polling(worker, worker_log)
        async with service_process("api", env, tmp, port=port) as process:
            yield FuzzedApi(process.url, users)
    finally:
        stop(worker)


def schemathesis_command(url: str, token: str, seed: int, *, coverage: bool) -> list[str]:
    phases = "examples,coverage,fuzzing,stateful" if coverage else "examples,fuzzing,stateful"
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert executable, "schemathesis is a test dependency: `make test` installs it"
    return [
        executable,
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        phases,
        "--seed",
        str(seed),
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {token}",
    ]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("role", list(Role), ids=str)
async def test_the_fuzzer_finds_nothing(api: FuzzedApi, settings, role: Role, seed: int):
    token = bearer(settings, api.users[role])["Authorization"].removeprefix("Bearer ")
    result = await asyncio.to_thread(
        subprocess.run,
        schemathesis_command(api.url, token, seed, coverage=role in COVERAGE_ROLES),
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # for tests.fuzz.hooks
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"schemathesis as {role}, seed {seed}:\n{report[-REPORT_TAIL:]}"
