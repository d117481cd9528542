"""The breach storm's baseline: minimal workflows whose timers fire at one instant, each
running one local activity (the cheapest stand-in for a breach's projection write), on
one SDK worker with the SDK's default settings.

``python -m common.timers --address HOST:PORT --task-queue Q`` (from bench/) runs the
worker in a process of its own, as the application's worker runs in its own.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from temporalio import activity, workflow

from common.minimal import worker_main


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


if __name__ == "__main__":
    worker_main("timer", [TimerWorkflow], [stamp])
