"""Accept / assign / status-change latency over HTTP (p50, p99) at concurrency 1 and 10,
beside, measured in the same run: raw ``execute_update`` on a minimal workflow (no
activity, no database); the HTTP floor + execute_update (a trivial FastAPI route, no
authentication, no database, doing nothing but that same ``execute_update``: the best any
HTTP route calling ``execute_update`` could reach); and the bare HTTP floor
(``GET /healthz``).

    .venv/bin/python bench/transition.py [--tickets 1:60,10:200]
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from common.minimal import MinimalWorkflow
from common.stack import Stack, StackOptions, http_client
from common.stats import Run, latency_table, machine, run_load

from desk.enums import Role

DEFAULT_TICKETS = "1:60,10:200"
BODY = {"subject": "Printer on fire", "priority": "MEDIUM"}


def parse_levels(spec: str) -> list[tuple[int, int]]:
    return [(int(c), int(n)) for c, n in (part.split(":") for part in spec.split(","))]


async def measure(levels: list[tuple[int, int]]) -> None:
    async with Stack(StackOptions(minimal_worker=True, plain_app=True)) as stack:
        tenant = await stack.seed_tenant()
        manager = tenant.headers[Role.MANAGER]
        agent_id = str(tenant.users[Role.AGENT].id)
        client = stack.client
        max_c = max(c for c, _ in levels)
        results: dict[int, dict[str, Run]] = {}

        async with (
            http_client(stack.api_url, max(max_c, 10)) as api,
            http_client(stack.plain_url, max_c) as plain,
        ):

            async def post(path: str, body: dict | None = None) -> dict:
                response = await api.post(path, json=body, headers=manager)
                if response.status_code not in (200, 201):
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
                return response.json()

            async def healthz(_: int) -> None:
                (await api.get("/healthz")).raise_for_status()

            for concurrency, count in levels:
                # Tickets to move (created untimed), and as many open minimal workflows.
                tickets: list[str] = []

                async def create(_: int, into: list[str] = tickets) -> None:
                    into.append((await post("/api/v1/tickets", BODY))["id"])

                await run_load("setup", create, count=count, concurrency=10)
                handles = [
                    await client.start_workflow(
                        MinimalWorkflow.run,
                        id=f"raw-upd-{uuid.uuid4()}",
                        task_queue=stack.minimal_task_queue,
                    )
                    for _ in range(count)
                ]
                floor_ids = [
                    (
                        await client.start_workflow(
                            MinimalWorkflow.run,
                            id=f"floor-upd-{uuid.uuid4()}",
                            task_queue=stack.minimal_task_queue,
                        )
                    ).id
                    for _ in range(count)
                ]

                def op(path: str, body: dict | None = None, ids: list[str] = tickets):
                    async def call(i: int) -> None:
                        await post(path.format(id=ids[i]), body)

                    return call

                async def raw_update(i: int, hs=handles) -> None:
                    await hs[i].execute_update(MinimalWorkflow.touch)

                async def floor_update(i: int, ids: list[str] = floor_ids) -> None:
                    response = await plain.post(f"/floor/update/{ids[i]}")
                    if response.status_code != 200:
                        raise RuntimeError(f"floor: {response.status_code} {response.text[:200]}")

                runs = {}
                runs["HTTP floor (GET /healthz)"] = await run_load(
                    "healthz", healthz, count=count, concurrency=concurrency
                )
                runs["raw execute_update"] = await run_load(
                    "raw", raw_update, count=count, concurrency=concurrency
                )
                runs["HTTP floor + execute_update"] = await run_load(
                    "floor", floor_update, count=count, concurrency=concurrency
                )
                runs["accept"] = await run_load(
                    "accept",
                    op("/api/v1/internal/tickets/{id}/accept"),
                    count=count,
                    concurrency=concurrency,
                )
                runs["assign"] = await run_load(
                    "assign",
                    op("/api/v1/internal/tickets/{id}/assign", {"assigned_to": agent_id}),
                    count=count,
                    concurrency=concurrency,
                )
                runs["status IN_PROGRESS"] = await run_load(
                    "status",
                    op("/api/v1/internal/tickets/{id}/status", {"status": "IN_PROGRESS"}),
                    count=count,
                    concurrency=concurrency,
                )
                runs["raw execute_update (again)"] = await run_load(
                    "raw", raw_update, count=count, concurrency=concurrency
                )
                results[concurrency] = runs

    report(results)


def report(results: dict[int, dict[str, Run]]) -> None:
    print(f"\n## transition — {machine()}\n")
    print(latency_table(results, _raw, "p50 / raw p50 (target <= 2x)"))


def _raw(runs: dict[str, Run]) -> Run:
    """The raw baseline: both raw runs pooled (before and after the HTTP ones)."""
    first, again = runs["raw execute_update"], runs["raw execute_update (again)"]
    return Run(
        "raw", first.concurrency, first.latencies + again.latencies, first.wall_s + again.wall_s
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tickets",
        default=DEFAULT_TICKETS,
        help=f"concurrency:tickets pairs (default {DEFAULT_TICKETS})",
    )
    args = parser.parse_args()
    asyncio.run(measure(parse_levels(args.tickets)))


if __name__ == "__main__":
    main()
