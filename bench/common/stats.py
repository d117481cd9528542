"""Latency summaries, bounded load generation and the tables the benchmarks print."""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Run:
    """``n`` operations at ``concurrency``: their latencies (seconds) and the wall time."""

    name: str
    concurrency: int
    latencies: list[float]
    wall_s: float
    errors: int = 0

    @property
    def n(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.n / self.wall_s if self.wall_s else float("nan")

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 99) * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan")


async def run_load(
    name: str,
    operation: Callable[[int], Awaitable[object]],
    *,
    count: int,
    concurrency: int,
) -> Run:
    """Call ``operation(i)`` for i in 0..count-1 from ``concurrency`` workers; each call is
    timed on its own. An exception counts as an error (and is re-raised after the run if
    every call failed, so a broken benchmark does not print figures)."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                await operation(index)
            except Exception as exc:
                errors.append(exc)
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    wall = time.perf_counter() - started
    if errors and not latencies:
        raise errors[0]
    if errors:
        print(f"  ! {name}: {len(errors)} of {count} calls failed, first: {errors[0]!r}")
    return Run(name, concurrency, latencies, wall, len(errors))


def machine() -> str:
    """Cores, memory, CPU model and date: the header of every result."""
    mem_kb = 0
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/meminfo") as meminfo:
            mem_kb = int(meminfo.readline().split()[1])
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({model}), {mem_kb / 1024 / 1024:.1f} GiB RAM, "
        f"Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pasteable into RESULTS.md)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def latency_table(
    results: dict[int, dict[str, Run]], baseline: Callable[[dict[str, Run]], Run], versus: str
) -> str:
    """Runs by concurrency as a table, each p50 also as a multiple of the p50 of
    ``baseline(runs)`` (the same concurrency's reference run), headed ``versus``."""
    rows = []
    for concurrency, runs in results.items():
        reference = baseline(runs)
        for name, run in runs.items():
            rows.append(
                [
                    concurrency,
                    name,
                    run.n,
                    run.rate,
                    run.p50_ms,
                    run.p99_ms,
                    ratio(run.p50_ms, reference.p50_ms),
                ]
            )
    return table(["c", "what", "n", "per s", "p50 ms", "p99 ms", versus], rows)
