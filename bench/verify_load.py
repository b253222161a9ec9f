"""What a ``GET /v1/log/verify`` costs the server it runs in: knowledge GETs (uncached answers)
under ``wrk`` before and while a verification runs, and the server's resident memory
(decision 021's figures).

    .venv/bin/python -m bench.verify_load --database <a store> [--seconds 15]

The store is served as it is (use a copy: an admin token is added to it). Needs ``wrk``.
Printed: GETs per s and p50/p99 without a verification, then while one runs (starting a second
after the verification), the verification's duration, and the server's RSS and peak RSS after
each phase.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from time import perf_counter, sleep
from typing import Any

from bench.measure_http import free_port, get_load, memory_mb, new_token, serving
from bench.questions import knowledge_paths

CONNECTIONS = 16
PATHS = 500


def verification(port: int, token: str, found: dict[str, Any]) -> None:
    """GET /v1/log/verify; its status, verdict (None: the answer ended unfinished) and
    duration go into ``found``."""
    start = perf_counter()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/log/verify", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=3600) as answer:
            found["status"] = answer.status
            found["ok"] = b'"ok":true' in answer.read()
    except urllib.error.HTTPError as refused:
        found["status"] = refused.code
    except http.client.IncompleteRead:
        found["ok"] = None  # it failed after its 200 went out: no report (decision 045)
    found["seconds"] = round(perf_counter() - start, 1)


def resident(pid: int) -> str:
    """The server's resident and peak resident memory."""
    found = memory_mb(pid)
    return f"server RSS {found['rss_mb']:.1f} MiB (peak {found['hwm_mb']:.1f})"


def shown(load: dict[str, Any]) -> str:
    return (
        f"{load['requests_per_s']:.0f} GETs/s, p50 {load['p50_us'] / 1000:.1f} ms,"
        f" p99 {load['p99_us'] / 1000:.1f} ms, {load['errors']} errors"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "KNEWWHEN_DATABASE": args.database, "KNEWWHEN_ANSWER_CACHE_BYTES": "0"}
    token = new_token(env, role="admin")
    paths = knowledge_paths(args.database, 3, PATHS)
    port = free_port()
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    with (
        tempfile.TemporaryDirectory() as scratch,
        serving(
            [*command, "--port", str(port)], port, "/healthz", env, Path(scratch) / "log"
        ) as server,
    ):
        get_load(port, paths, 3, CONNECTIONS, Path(scratch))  # warm-up
        alone = get_load(port, paths, args.seconds, CONNECTIONS, Path(scratch))
        print(f"without a verification: {shown(alone)}; {resident(server.pid)}")
        verified: dict[str, Any] = {}
        running = threading.Thread(target=verification, args=(port, token, verified))
        running.start()
        sleep(1)
        beside = get_load(port, paths, args.seconds, CONNECTIONS, Path(scratch))
        print(f"while one runs: {shown(beside)}; {resident(server.pid)}")
        running.join()
        print(f"verification: {verified}; {resident(server.pid)}")
        if verified.get("ok") is not True:
            print((Path(scratch) / "log").read_text(errors="replace")[-3000:])


if __name__ == "__main__":
    main()
