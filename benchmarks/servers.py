"""Real web servers for the benchmarks that measure what a browser meets: a `tend serve`
(the web app only, no scheduler) on a throwaway database, and the floor, a bare
Streamlit page with one chart (benchmarks/bare_page.py) served by the same Streamlit
with the same options."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tend.cli import STREAMLIT_OPTIONS

ROOT = Path(__file__).resolve().parent.parent
BARE = Path(__file__).with_name("bare_page.py")


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def streamlit_pid(self) -> int:
        """The process that serves the pages: the server itself, or the `streamlit run`
        child `tend serve` starts."""
        for _ in range(100):
            if _is_streamlit(self.process.pid):
                return self.process.pid
            found = subprocess.run(
                ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
            ).stdout.split()
            for pid in map(int, found):
                if _is_streamlit(pid):
                    return pid
            time.sleep(0.1)
        raise AssertionError("no streamlit process")

    def rss_mib(self) -> float:
        """The serving process's resident memory now, in MiB (VmRSS)."""
        status = Path(f"/proc/{self.streamlit_pid()}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        return kib / 1024


def _is_streamlit(pid: int) -> bool:
    try:
        return b"streamlit" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _serve(
    command: list[str], url: str, health: str, env: dict[str, str], workdir: Path
) -> Iterator[Served]:
    log_path = workdir / f"serve-{url.rsplit(':', 1)[1]}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(url, process, log_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("server did not start:\n" + log_path.read_text())
            try:
                with urllib.request.urlopen(url + health, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        yield served
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def serve_tend(env: dict[str, str], workdir: Path) -> Iterator[Served]:
    """`tend serve --no-scheduler` with the TEND_* variables of ``env``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, **env, "TEND_BASE_URL": url, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tend", "serve", "--port", str(port), "--no-scheduler"]
    with _serve(command, url, "/healthz", full_env, workdir) as served:
        yield served


@contextmanager
def serve_bare(workdir: Path, script: Path = BARE) -> Iterator[Served]:
    """The bare page under `streamlit run`, with the options `tend serve` gives it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.port", str(port), "--server.address", "127.0.0.1",
        *(arg for name, value in STREAMLIT_OPTIONS.items() for arg in (f"--{name}", value)),
        "--client.showErrorDetails", "none",
    ]  # fmt: skip
    with _serve(command, url, "/_stcore/health", dict(os.environ), workdir) as served:
        yield served
