"""`nexus dev`'s supervisor (cli.run_supervised): a background `nexus dev` stops on SIGINT or
SIGTERM, whatever signals it inherited ignored, and takes its whole process group with it.

Each case runs the supervisor in a driver process of its own (signals are sent to it, not to the
test runner) over a small Python child that writes its own pid and its grandchild's pid to a file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

# the child: starts a grandchild that sleeps, writes both pids, then waits; IGNORE makes it
# ignore SIGTERM and SIGINT (a UI that hangs on shutdown)
CHILD = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    ignore, pids = sys.argv[1] == "ignore", sys.argv[2]
    if ignore:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(pids + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {grandchild.pid}")
    os.rename(pids + ".tmp", pids)
    time.sleep(600)
    """
)

# the driver: `nexus dev` with the UI replaced by the child; SIGINT and SIGTERM ignored on entry,
# as a shell's `&` leaves SIGINT for a background job
DRIVER = textwrap.dedent(
    """
    import signal, sys
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from nexus_pipelines import cli
    cli.DEV_STOP_SECONDS = float(sys.argv[1])
    sys.exit(cli.run_supervised(sys.argv[2:], cwd=".", env=None))
    """
)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start(tmp_path: Path, mode: str, stop_seconds: float) -> tuple[subprocess.Popen, int, int]:
    child, pids = tmp_path / "child.py", tmp_path / "pids"
    child.write_text(CHILD)
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(stop_seconds), sys.executable, str(child), mode, str(pids)],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not pids.exists():
        assert driver.poll() is None, driver.communicate()[1]
        assert time.monotonic() < deadline, "the child did not start"
        time.sleep(0.05)
    child_pid, grandchild_pid = map(int, pids.read_text().split())
    return driver, child_pid, grandchild_pid


def stop(driver: subprocess.Popen, signum: int) -> tuple[int, float, str]:
    t0 = time.monotonic()
    driver.send_signal(signum)
    _out, err = driver.communicate(timeout=30)
    return driver.returncode, time.monotonic() - t0, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_child_and_its_children(tmp_path, signum):
    driver, child, grandchild = start(tmp_path, "obey", stop_seconds=20)
    code, seconds, err = stop(driver, signum)
    assert code == 128 + signum  # 143 for SIGTERM, 130 for SIGINT, as a shell reports them
    assert seconds < 5
    assert not alive(child) and not alive(grandchild)
    assert "stopped the Dagster UI" in err


def test_a_child_that_ignores_the_signal_is_killed_after_the_grace_period(tmp_path):
    driver, child, grandchild = start(tmp_path, "ignore", stop_seconds=1)
    code, seconds, err = stop(driver, signal.SIGTERM)
    assert code == 143
    assert 1 <= seconds < 5
    assert not alive(child) and not alive(grandchild)
    assert "did not stop within 1 s: killing it" in err


def test_without_a_signal_the_exit_code_is_the_childs(tmp_path):
    from nexus_pipelines import cli

    # whatever the caller had installed (an earlier test in this worker may have changed it)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = cli.run_supervised(
        [sys.executable, "-c", "raise SystemExit(7)"], cwd=tmp_path, env=dict(os.environ)
    )
    assert code == 7
    # the handlers the caller had are back
    assert {sig: signal.getsignal(sig) for sig in before} == before
