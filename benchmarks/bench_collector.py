"""Event collector throughput: N clients POST batches of events to a real uvicorn server on localhost.

The server (this script with ``--serve``, in its own process) runs the collector's router with a
one-key stand-in for the warehouse's key cache (``KeyCache`` answers from its cache between
look-ups: a dict lookup, like this one), so the benchmark needs no database. Every batch is
written with its fsync before the answer, as in production. Prints the sustained events/s,
requests/s and latencies, and checks that the events acknowledged are the lines written. Not
part of the test suite.

    .venv/bin/python benchmarks/bench_collector.py --clients 8 --seconds 10 --batch 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import orjson

from nexus_pipelines.lib.warehouse.api_keys import ApiKey

USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


class _OneKey:
    """The key cache's interface, knowing one write key."""

    def __init__(self, token: str) -> None:
        self.token = token

    def verify(self, token: str, kind: str) -> ApiKey | None:
        if kind != "write" or not secrets.compare_digest(token, self.token):
            return None
        return ApiKey("bench", "write", False, (), "benchmark", dt.datetime.now(dt.UTC), None)


def serve(port: int, landing: Path, token: str) -> None:
    import uvicorn
    from fastapi import FastAPI

    from nexus_pipelines.api.collector import create_router

    app = FastAPI()
    app.include_router(create_router(landing, _OneKey(token)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _event(client: int, n: int, at: str) -> dict:
    """A track as analytics.js sends it (about 600 bytes)."""
    return {
        "type": "track",
        "event": "Product Viewed",
        "messageId": f"{client}-{n}-{uuid.uuid4().hex[:8]}",
        "anonymousId": f"anon-{client}-{n % 500}",
        "userId": f"user-{client}-{n % 500}" if n % 3 else None,
        "timestamp": at,
        "sentAt": at,
        "properties": {
            "product_id": f"p-{n % 97}",
            "sku": f"SKU-{n % 97}",
            "price": 19.99,
            "currency": "USD",
        },
        "context": {
            "library": {"name": "analytics.js", "version": "2.11.1"},
            "page": {"path": "/products/p", "url": "https://shop.example.com/products/p", "referrer": ""},
            "userAgent": USER_AGENT,
            "ip": "203.0.113.7",
        },
    }


def _lines(landing: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in (landing / "events").glob("*.jsonl"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_up(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.post(f"{base}/v1/track", timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the collector server did not start") from None
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (threads)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=100, help="events per /v1/batch request")
    parser.add_argument(
        "--landing", type=Path, default=None, help="landing folder (default: a new temporary one)"
    )
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "LANDING", "TOKEN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), Path(args.serve[1]), args.serve[2])
        return

    landing = args.landing or Path(tempfile.mkdtemp(prefix="nexus-bench-collector-"))
    token = f"nxw_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, __file__, "--serve", str(port), str(landing), token]
    before = _lines(landing)
    server = subprocess.Popen(command, env=env)
    try:
        _wait_up(base, server)
        acknowledged = [0] * args.clients
        failures = [0] * args.clients
        latencies: list[list[float]] = [[] for _ in range(args.clients)]
        start_at = time.perf_counter() + 0.2
        stop_at = start_at + args.seconds

        def client(c: int) -> None:
            auth = httpx.BasicAuth(token, "")
            with httpx.Client(base_url=base, auth=auth, timeout=30) as http:
                n = 0
                while time.perf_counter() < start_at:
                    time.sleep(0.001)
                while time.perf_counter() < stop_at:
                    at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
                    body = orjson.dumps({"batch": [_event(c, n + k, at) for k in range(args.batch)]})
                    n += args.batch
                    sent = time.perf_counter()
                    answer = http.post(
                        "/v1/batch", content=body, headers={"Content-Type": "application/json"}
                    )
                    latencies[c].append(time.perf_counter() - sent)
                    if answer.status_code == 200 and answer.json() == {"success": True}:
                        acknowledged[c] += args.batch
                    else:
                        failures[c] += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start_at
    finally:
        server.terminate()
        server.wait(30)

    events = sum(acknowledged)
    lines = _lines(landing) - before
    every = sorted(x for per_client in latencies for x in per_client)
    requests = len(every)
    print(f"clients {args.clients}, batches of {args.batch} events, {elapsed:.1f} s, CPUs {os.cpu_count()}")
    print(f"events acknowledged  {events:>10,}   {events / elapsed:>10,.0f} events/s")
    print(
        f"requests             {requests:>10,}   {requests / elapsed:>10,.1f} requests/s   failed {sum(failures)}"
    )
    if every:
        p99 = every[min(len(every) - 1, int(len(every) * 0.99))]
        print(f"latency ms           p50 {statistics.median(every) * 1000:.1f}   p99 {p99 * 1000:.1f}")
    print(
        f"lines written        {lines:>10,}   {'OK: every acknowledged event is on disk' if lines == events else 'MISMATCH'}"
    )
    print(f"landing: {landing}")
    if lines != events or sum(failures):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
