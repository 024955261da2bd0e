"""scheduler_memory: peak resident memory of a real `tend scheduler --once` process.

The same 1% of couples are due in both databases (1 of 100, 1,000 of 100,000), with
quiet hours off so every prompt is also sent (to a file drop) in the same run. Peak RSS
is the child's own high-water mark (``VmHWM`` in ``/proc/self/status``, read as it exits);
each run starts from the freshly populated state (rounds and mail of the previous run
removed).

Not ``ru_maxrss`` (from ``os.wait4`` or the child's own ``getrusage``): Linux carries a
process's maximum over ``fork`` and ``exec``, so a child started by this (large)
benchmark process reports at least this process's size at the fork.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import population
from benchmarks.common import Result
from benchmarks.population import Population
from infra.db import utcnow

ROOT = Path(__file__).resolve().parent.parent


# `python -m tend scheduler --once`, writing its peak RSS (KiB) to argv[1] as it exits.
_CHILD = """
import atexit, runpy, sys
out = sys.argv[1]

def report():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(out, "w") as f:
        f.write(peak)

atexit.register(report)
sys.argv = ["tend", "scheduler", "--once"]
runpy.run_module("tend", run_name="__main__", alter_sys=True)
"""


def run_once(url: str, mail_dir: str) -> tuple[int, float]:
    """(peak RSS in KiB, seconds) of one `tend scheduler --once` against ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEND_")}
    env |= {"TEND_DATABASE_URL": url, "TEND_MAIL_DIR": mail_dir}
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as peak:
        started = time.perf_counter()
        process = subprocess.run(
            [sys.executable, "-c", _CHILD, peak.name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(f"tend scheduler --once failed: {process.stderr.decode()}")
        return int(peak.read()), elapsed


def run(
    *,
    small: int = 100,
    large: int = 100_000,
    repeat: int = 3,
    dialect: str = "postgresql",
    log=print,  # type: ignore[no-untyped-def]
) -> Result:
    now = utcnow().replace(second=0, microsecond=0)
    sizes = {"small": small, "large": large}
    pops = {k: Population(n, max(1, n // 100), now) for k, n in sizes.items()}
    urls = {
        k: population.ensure(
            f"tend_bench_memory_{k}", p, dialect=dialect, reuse=False, mail_any_time=True, log=log
        )
        for k, p in pops.items()
    }
    rss: dict[str, list[int]] = {k: [] for k in sizes}
    seconds: dict[str, list[float]] = {k: [] for k in sizes}
    with tempfile.TemporaryDirectory() as mail_dir:
        for _ in range(repeat):
            for k in sizes:  # in turns, like the timing benchmarks
                kib, elapsed = run_once(urls[k], mail_dir)
                mails = len(list(Path(mail_dir).glob("*.eml")))
                assert mails == 2 * pops[k].due, f"{mails} mails for {pops[k].due} due couples"
                for eml in Path(mail_dir).glob("*.eml"):
                    eml.unlink()
                rss[k].append(kib)
                seconds[k].append(elapsed)
                population.reset(urls[k], pops[k])
    med = {k: statistics.median(v) for k, v in rss.items()}
    return Result(
        "scheduler_memory",
        med["large"] / med["small"],
        1.2,
        {
            "couples": {k: f"{sizes[k]:,} ({pops[k].due:,} due)" for k in sizes},
            "peak_rss_mib": {k: round(v / 1024, 1) for k, v in med.items()},
            "run_s": {k: round(statistics.median(v), 2) for k, v in seconds.items()},
        },
    )
