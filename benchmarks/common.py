"""Timing helpers and the results file shared by every benchmark."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")
# One line per run of `python -m benchmarks` (JSON: when, which commit, each benchmark's
# ratio and goal), committed, so the trend over time can be shown (--trend).
HISTORY = Path(__file__).with_name("history.jsonl")


@dataclass
class Result:
    name: str
    ratio: float
    goal: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def meets_goal(self) -> bool:
        return self.ratio <= self.goal


def median_seconds(fn: Callable[[], object], *, repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs, after ``warmup`` unmeasured runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_samples(
    fns: dict[str, Callable[[], object]], *, repeat: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall times of each function, run in turns (a, b, a, b, ...) so that a busy moment
    on a shared machine hits all of them alike instead of whichever ran then; the i-th
    sample of each comes from the same turn."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def interleaved_medians(
    fns: dict[str, Callable[[], object]], *, repeat: int, warmup: int = 1
) -> dict[str, float]:
    """Median wall time of each function, run in turns (see interleaved_samples)."""
    samples = interleaved_samples(fns, repeat=repeat, warmup=warmup)
    return {name: statistics.median(values) for name, values in samples.items()}


def paired_ratio(samples: dict[str, list[float]], name: str, reference: str) -> float:
    """Median over turns of ``name``'s time divided by ``reference``'s in the same turn:
    a burst of load that slows one turn slows both sides of its ratio."""
    return statistics.median(a / b for a, b in zip(samples[name], samples[reference], strict=True))


def write_results(results: list[Result]) -> None:
    existing: dict[str, Any] = {}
    if RESULTS.exists():
        existing = json.loads(RESULTS.read_text())
    for r in results:
        existing[r.name] = {"ratio": round(r.ratio, 3), "goal": r.goal, "detail": r.detail}
    RESULTS.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")


def print_table(results: list[Result]) -> None:
    print(f"{'benchmark':<22}{'ratio':>8}{'goal':>8}  met")
    for r in results:
        print(f"{r.name:<22}{r.ratio:>8.2f}{r.goal:>8.2f}  {'yes' if r.meets_goal else 'NO'}")
        for key, value in r.detail.items():
            print(f"    {key}: {value}")


def _commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=HISTORY.parent,
    )
    return found.stdout.strip() or "unknown"


def append_history(results: list[Result], *, now: dt.datetime | None = None) -> None:
    """Add this run's ratios to the history file."""
    entry = {
        "at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="minutes"),
        "commit": _commit(),
        "results": {r.name: {"ratio": round(r.ratio, 3), "goal": r.goal} for r in results},
    }
    with HISTORY.open("a") as history:
        history.write(json.dumps(entry, sort_keys=True) + "\n")


def read_history() -> list[dict[str, Any]]:
    if not HISTORY.exists():
        return []
    return [json.loads(line) for line in HISTORY.read_text().splitlines() if line.strip()]


def print_trend(runs: int = 8) -> None:
    """Each benchmark's ratio over the last ``runs`` runs that measured it, oldest first,
    against its latest goal."""
    history = read_history()
    names = sorted({name for entry in history for name in entry["results"]})
    print(f"{'benchmark':<22}{'goal':>7}  ratios, oldest first (date: ratio)")
    for name in names:
        seen = [(e["at"][:10], e["results"][name]) for e in history if name in e["results"]]
        goal = seen[-1][1]["goal"]
        trail = ", ".join(f"{day}: {r['ratio']:.2f}" for day, r in seen[-runs:])
        print(f"{name:<22}{goal:>7.2f}  {trail}")
