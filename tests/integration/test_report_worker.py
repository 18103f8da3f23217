"""The report worker process ends with the router: a router killed with SIGKILL (no
chance to stop its pool) leaves no worker behind (Linux's parent-death signal)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    """No such process any more, or a zombie nobody reaped (it runs nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def test_a_router_killed_with_sigkill_leaves_no_worker_behind() -> None:
    script = (
        "import asyncio, os, sys\n"
        "from services.router.reports import offload\n"
        "print(asyncio.run(offload.in_worker(os.getpid)), flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as parent:
        try:
            assert parent.stdout is not None
            worker = int(parent.stdout.readline())
            assert not gone(worker)
            parent.send_signal(signal.SIGKILL)
            parent.wait(10)
            deadline = time.monotonic() + 20  # a bound for a hung test, not a speed assertion
            while not gone(worker) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert gone(worker)
        finally:
            parent.kill()
