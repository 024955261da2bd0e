"""`python -m benchmarks [NAME ...]`: run the benchmarks, print a table, write results.json
and add the run to history.jsonl. `python -m benchmarks --trend`: each benchmark's ratio
over the recorded runs."""

from __future__ import annotations

import sys
from collections.abc import Callable

from benchmarks import (
    browser_pages,
    dispatch,
    memory,
    pages,
    planning,
    recurrence,
    web_sessions,
)
from benchmarks.common import Result, append_history, print_table, print_trend, write_results

# A benchmark gives one result, or several (web_sessions: memory and p95).
BENCHMARKS: dict[str, Callable[[], Result | list[Result]]] = {
    "pages": pages.run,
    "plan_scale": planning.plan_scale,
    "plan_floor": planning.plan_floor,
    "dispatch": dispatch.run,
    "scheduler_memory": memory.run,
    "schedule_age": recurrence.run,
    "web_sessions": web_sessions.run,
    "browser_pages": browser_pages.run,
}


def main(argv: list[str]) -> int:
    if argv == ["--trend"]:
        print_trend()
        return 0
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    results = []
    for name in names:
        print(f"running {name}...", flush=True)
        got = BENCHMARKS[name]()
        results.extend(got if isinstance(got, list) else [got])
    print_table(results)
    write_results(results)
    append_history(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
