"""The breach storm's baseline: minimal workflows whose timers fire at one instant, each
running one local activity (the cheapest stand-in for a breach's projection write), on
one SDK worker with the SDK's default settings.

``python -m common.timers --address HOST:PORT --task-queue Q`` (from bench/) runs the
worker in a process of its own, as the application's worker runs in its own.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def stamp() -> float:
    """When the activity ran (Unix seconds, this machine's clock)."""
    return time.time()


@workflow.defn
class TimerWorkflow:
    """Sleeps until ``fire_at`` (ISO-8601), runs ``stamp`` as a local activity, returns
    its time."""

    @workflow.run
    async def run(self, fire_at: str) -> float:
        delay = datetime.fromisoformat(fire_at) - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay)
        return await workflow.execute_local_activity(
            stamp, start_to_close_timeout=timedelta(seconds=30)
        )


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[TimerWorkflow], activities=[stamp]):
        print("timer worker polling", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue))


if __name__ == "__main__":
    main()
