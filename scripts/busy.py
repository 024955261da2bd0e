"""Keep the machine's cores busy while something else runs, to see how it holds up on a
loaded machine (a shared CI runner, a slow phone's server).

    python scripts/busy.py [--workers N] [--seconds S] [-- COMMAND ...]

With a command, burn while it runs and exit with its exit code; without one, burn for
--seconds (default 600). Workers default to the number of cores. Every worker stops by
itself at the deadline, so nothing is left running.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time


def _burn(deadline: float) -> None:
    x = 0
    while time.monotonic() < deadline:
        for _ in range(100_000):
            x = (x * 31 + 7) % 1_000_003


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--seconds",
        type=float,
        help="how long to burn (default 600 s alone; with a command, until it ends, 3 h at most)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    seconds = args.seconds or (3 * 3600 if command else 600)
    deadline = time.monotonic() + seconds
    workers = [
        multiprocessing.Process(target=_burn, args=(deadline,), daemon=True)
        for _ in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    try:
        if command:
            return subprocess.call(command)
        for worker in workers:
            worker.join()
        return 0
    finally:
        for worker in workers:
            worker.terminate()


if __name__ == "__main__":
    sys.exit(main())
