"""A real `nexus dev` (dagster dev: webserver, daemon, code server) started in the background,
with SIGINT ignored as a shell's `&` leaves it, exits on SIGTERM within seconds and leaves no
process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

NEXUS = Path(sys.executable).with_name("nexus")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# exec'd with SIGINT ignored, as a shell's `&` starts a background job
LAUNCH = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); os.execv(sys.argv[1], sys.argv[1:])"


def alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_nexus_dev_exits_on_sigterm_and_stops_its_children(fresh_db, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    env.update(NEXUS_HOME=str(tmp_path / "home"), NEXUS_DATABASE_URL=fresh_db)
    env["NEXUS_LANDING_DIR"] = str(tmp_path / "landing")
    dev = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, str(NEXUS), "dev", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert dev.poll() is None, dev.communicate()[1][-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the UI did not come up"
            time.sleep(1)
        children = psutil.Process(dev.pid).children(recursive=True)
        assert children  # dagster dev and what it started
        t0 = time.monotonic()
        dev.send_signal(signal.SIGTERM)
        _out, err = dev.communicate(timeout=30)
        seconds = time.monotonic() - t0
    finally:
        if dev.poll() is None:
            dev.kill()
    assert dev.returncode == 128 + signal.SIGTERM
    assert seconds < 15, f"took {seconds:.1f} s to stop"
    psutil.wait_procs(children, timeout=5)
    assert [p.pid for p in children if alive(p)] == []
    assert "stopped the Dagster UI" in err
