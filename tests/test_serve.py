"""`tend serve`: one command runs the web app and the scheduler; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.browser import start_tend


def _children(pid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in result.stdout.split()]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_runs_web_and_scheduler_and_stops_both(
    tend_env, tmp_path: Path, stop: signal.Signals
) -> None:
    served = start_tend(tend_env, tmp_path)
    try:
        children = _children(served.process.pid)
        commands = [
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            for pid in children
        ]
        assert any("streamlit run" in c for c in commands), commands
        assert any("tend scheduler" in c for c in commands), commands
        with urllib.request.urlopen(served.url + "/healthz", timeout=5) as response:
            assert response.status == 200
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(served.process.pid, stop)
        assert served.process.wait(timeout=60) == 0, served.log()
        assert all(
            not Path(f"/proc/{pid}").exists()
            or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
            for pid in children
        )
    finally:
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGKILL)


def test_serve_stops_the_web_app_when_the_scheduler_dies_and_says_so(
    tend_env, tmp_path: Path
) -> None:
    served = start_tend(tend_env, tmp_path)
    try:
        children = _children(served.process.pid)
        scheduler = next(
            pid for pid in children if b"scheduler" in Path(f"/proc/{pid}/cmdline").read_bytes()
        )
        os.kill(scheduler, signal.SIGKILL)
        # Half a Tend is worse than none: the web app is stopped too, and the exit says why.
        assert served.process.wait(timeout=60) == 1, served.log()
        assert "The scheduler ended with exit code -9." in served.log()
        assert "The web app ended" not in served.log()
    finally:
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGKILL)
