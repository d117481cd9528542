"""The raw Temporal baseline: a minimal workflow (no activity, no database) and its worker.

``python -m common.minimal --address HOST:PORT --task-queue Q`` (from bench/) runs the worker in a
process of its own, as the application's worker runs in its own.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable, Sequence

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker


@workflow.defn
class MinimalWorkflow:
    """Open until closed; ``touch`` is the cheapest possible Workflow Update."""

    def __init__(self) -> None:
        self.version = 0
        self.closed = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.closed)
        return self.version

    @workflow.update
    def touch(self) -> int:
        self.version += 1
        return self.version

    @workflow.update
    def close(self) -> int:
        self.closed = True
        return self.version


async def serve(
    name: str,
    address: str,
    task_queue: str,
    workflows: Sequence[type],
    activities: Sequence[Callable],
) -> None:
    """Poll ``task_queue`` with a worker of the SDK's default settings until SIGINT/SIGTERM;
    "``name`` worker polling" tells the bench it is ready."""
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=workflows, activities=activities):
        print(f"{name} worker polling", flush=True)
        await stop.wait()


def worker_main(name: str, workflows: Sequence[type], activities: Sequence[Callable] = ()) -> None:
    """A baseline worker process: ``--address HOST:PORT --task-queue Q``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(serve(name, args.address, args.task_queue, workflows, activities))


if __name__ == "__main__":
    worker_main("minimal", [MinimalWorkflow])
