"""Whether eager workflow start applies, and what it costs: ``start_workflow`` with
``request_eager_start=True`` from a client without a worker (the API's shape) and from the
client of a running worker, on the dev server with eager start enabled; then start + one
update on the minimal workflow, with and without the request, alternating, CPU per
workflow of the dev server and of this process (client and worker).

    .venv/bin/python bench/eager_start.py [--workflows 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

from common.minimal import MinimalWorkflow
from common.stack import cpu_seconds, pids_matching
from common.stats import machine, table
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from desk.binaries import temporal_cli

TASK_QUEUE = "eager"


def eagerly_started(handle: WorkflowHandle) -> bool:
    # The SDK records it on the handle without a public accessor.
    return bool(getattr(handle, "_WorkflowHandle__temporal_eagerly_started", False))


async def measure(count: int) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        dev_server_log_level="error",
        dev_server_extra_args=["--dynamic-config-value", "system.enableEagerWorkflowStart=true"],
        ui=False,
    )
    try:
        address = env.client.service_client.config.target_host
        server = pids_matching("start-dev", address.rsplit(":", 1)[1])
        api_like = await Client.connect(address)  # no worker on this client
        with_worker = await Client.connect(address)
        async with Worker(with_worker, task_queue=TASK_QUEUE, workflows=[MinimalWorkflow]):
            for label, client in (
                ("client without a worker", api_like),
                ("worker's client", with_worker),
            ):
                handle = await client.start_workflow(
                    MinimalWorkflow.run,
                    id=f"probe-{uuid.uuid4()}",
                    task_queue=TASK_QUEUE,
                    request_eager_start=True,
                )
                print(f"{label}: eagerly started = {eagerly_started(handle)}")

            rows = []
            for eager in (False, True, False, True):
                gate = asyncio.Semaphore(10)

                async def one(eager: bool = eager, gate: asyncio.Semaphore = gate) -> None:
                    async with gate:
                        handle = await with_worker.start_workflow(
                            MinimalWorkflow.run,
                            id=f"w-{uuid.uuid4()}",
                            task_queue=TASK_QUEUE,
                            request_eager_start=eager,
                        )
                        await handle.execute_update(MinimalWorkflow.close)

                server_before = sum(cpu_seconds(pid) for pid in server)
                own_before = cpu_seconds(os.getpid())
                started = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(count)))
                wall = time.perf_counter() - started
                await asyncio.sleep(1)
                server_ms = (sum(cpu_seconds(pid) for pid in server) - server_before) * 1000
                own_ms = (cpu_seconds(os.getpid()) - own_before) * 1000
                load = os.getloadavg()[0]
                rows.append([eager, count, server_ms / count, own_ms / count, count / wall, load])
        print(f"\n## eager_start — {machine()}\n")
        print(
            table(
                ["eager requested", "n", "server ms", "client+worker ms", "per s", "load"],
                rows,
            )
        )
    finally:
        await env.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(measure(args.workflows))


if __name__ == "__main__":
    main()
