"""Tickets created per second over HTTP, and p50/p99 latency, at concurrency 1, 10 and 50;
beside them, measured in the same run on the same machine:

- raw Temporal ceiling: the same number of ``start_workflow`` calls of a minimal workflow
  through the SDK (no HTTP, no database);
- raw update-with-start: the same Temporal call shape as our create (start + an update
  that answers), on the minimal workflow, no activity, no database;
- HTTP floor + start_workflow: a trivial FastAPI route (no authentication, no database)
  that does nothing but the raw ``start_workflow`` above: the best any HTTP route calling
  ``start_workflow`` could reach, and what HTTP alone costs on top of the Temporal call;
- the old design: a plain FastAPI app inserting the same row into PostgreSQL.

    .venv/bin/python bench/create.py [--requests 1:100,10:300,50:500]
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from common.minimal import MinimalWorkflow
from common.stack import Stack, StackOptions, http_client
from common.stats import Run, machine, ratio, run_load, table
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from desk.enums import Role

DEFAULT_REQUESTS = "1:100,10:300,50:500"
WARMUP = 30
BODY = {"subject": "Cannot log in", "description": "Since this morning.", "priority": "HIGH"}


def parse_levels(spec: str) -> list[tuple[int, int]]:
    levels = []
    for part in spec.split(","):
        concurrency, count = part.split(":")
        levels.append((int(concurrency), int(count)))
    return levels


async def measure(levels: list[tuple[int, int]]) -> None:
    options = StackOptions(minimal_worker=True, plain_app=True)
    async with Stack(options) as stack:
        tenant = await stack.seed_tenant()
        customer = tenant.headers[Role.CUSTOMER]
        client = stack.client
        max_c = max(c for c, _ in levels)

        async with (
            http_client(stack.api_url, max_c) as api,
            http_client(stack.plain_url, max_c) as plain,
        ):

            async def http_create(_: int) -> None:
                response = await api.post("/api/v1/tickets", json=BODY, headers=customer)
                if response.status_code != 201:
                    raise RuntimeError(f"{response.status_code} {response.text[:200]}")

            async def plain_create(_: int) -> None:
                response = await plain.post("/api/v1/tickets", json=BODY, headers=customer)
                if response.status_code != 201:
                    raise RuntimeError(f"{response.status_code} {response.text[:200]}")

            async def floor_start(_: int) -> None:
                response = await plain.post("/floor/start")
                if response.status_code != 201:
                    raise RuntimeError(f"{response.status_code} {response.text[:200]}")

            async def raw_start(_: int) -> None:
                await client.start_workflow(
                    MinimalWorkflow.run,
                    id=f"raw-{uuid.uuid4()}",
                    task_queue=stack.minimal_task_queue,
                )

            async def raw_update_with_start(_: int) -> None:
                start = WithStartWorkflowOperation(
                    MinimalWorkflow.run,
                    id=f"raw-uws-{uuid.uuid4()}",
                    task_queue=stack.minimal_task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
                await client.execute_update_with_start_workflow(
                    MinimalWorkflow.touch, start_workflow_operation=start
                )

            variants = {
                "HTTP create": http_create,
                "raw start_workflow": raw_start,
                "HTTP floor + start_workflow": floor_start,
                "raw update-with-start": raw_update_with_start,
                "plain FastAPI+PG insert": plain_create,
            }
            for name, operation in variants.items():  # connections, caches, JIT-free warm-up
                await run_load(name, operation, count=WARMUP, concurrency=5)

            results: dict[int, dict[str, Run]] = {}
            for concurrency, count in levels:
                results[concurrency] = {}
                for name, operation in variants.items():
                    results[concurrency][name] = await run_load(
                        name, operation, count=count, concurrency=concurrency
                    )
                    await asyncio.sleep(1)  # let the workers finish the tasks just started

    report(results)


def report(results: dict[int, dict[str, Run]]) -> None:
    print(f"\n## create — {machine()}\n")
    rows = []
    for concurrency, runs in results.items():
        for name, run in runs.items():
            rows.append([concurrency, name, run.n, run.rate, run.p50_ms, run.p99_ms, run.errors])
    print(table(["c", "what", "n", "per s", "p50 ms", "p99 ms", "errors"], rows))
    print()
    ratio_rows = []
    for concurrency, runs in results.items():
        http = runs["HTTP create"]
        ratio_rows.append(
            [
                concurrency,
                ratio(http.rate, runs["raw start_workflow"].rate),
                ratio(http.rate, runs["raw update-with-start"].rate),
                ratio(http.rate, runs["plain FastAPI+PG insert"].rate),
                ratio(http.p50_ms, runs["raw update-with-start"].p50_ms),
                ratio(runs["HTTP floor + start_workflow"].rate, runs["raw start_workflow"].rate),
            ]
        )
    print(
        table(
            [
                "c",
                "HTTP / raw start (rate; target >= 0.70)",
                "HTTP / raw update-with-start (rate)",
                "HTTP / plain insert (rate)",
                "HTTP / raw update-with-start (p50)",
                "HTTP floor+start / raw start (rate)",
            ],
            ratio_rows,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests",
        default=DEFAULT_REQUESTS,
        help=f"concurrency:count pairs (default {DEFAULT_REQUESTS})",
    )
    args = parser.parse_args()
    asyncio.run(measure(parse_levels(args.requests)))


if __name__ == "__main__":
    main()
