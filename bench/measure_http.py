"""HTTP on loopback: ``knewwhen serve`` (one uvicorn worker) beside a hello-world starlette route
on the same stack, each loaded from a separate process (wrk when installed, else bench.loadgen);
then single-event POSTs, and the server's resident memory over the database."""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
from msgspec import Struct

from bench.generate import Generated, Newsroom, Shape
from bench.loadgen import Load, Request

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 120.0
WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%%d,"duration_us":%%d,"errors":%%d,"status_errors":%%d,"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


class HttpPlan(Struct, frozen=True):
    """How long and how hard to load each server."""

    seconds: int = 10
    warmup: int = 2
    connections: int = 16
    repeats: int = 3
    posts: int = 2000
    post_connections: int = 4
    # Then as many writers at once as GETs have: appends wait on the write lock and share
    # transactions (decision 017).
    busy_post_connections: int = 16
    seed: int = 1


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def answers(url: str) -> bool:
    """True when ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def serving(
    command: Sequence[str],
    port: int,
    probe: str,
    env: dict[str, str],
    log: Path,
    checkout: Path = ROOT,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process in ``checkout``, wait (bounded) until ``probe`` answers, stop it
    afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not answers(f"http://127.0.0.1:{port}{probe}"):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{' '.join(command)} did not come up:\n{tail}")
            time.sleep(0.05)
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def memory_mb(pid: int) -> dict[str, float]:
    """Resident (VmRSS) and peak resident (VmHWM) memory of a process, in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return {"rss_mb": found.get("VmRSS", math.nan), "hwm_mb": found.get("VmHWM", math.nan)}


def load_generator() -> str:
    """``wrk`` when installed, else the Python load generator."""
    return "wrk" if shutil.which("wrk") else "bench.loadgen"


def get_load(
    port: int, paths: Sequence[str], seconds: int, connections: int, folder: Path
) -> dict[str, Any]:
    """GET the paths in turn for ``seconds``: requests/s, p50/p99 latency, errors."""
    if load_generator() == "wrk":
        script = folder / f"paths-{port}.lua"
        script.write_text(WRK_SCRIPT % ",".join(f'"{p}"' for p in paths))
        done = subprocess.run(
            [
                *("wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"),
                *("-s", str(script), f"http://127.0.0.1:{port}"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        found = msgspec.json.decode(done.stdout.strip().splitlines()[-1])
        return {
            "requests": found["requests"],
            "requests_per_s": found["requests"] / (found["duration_us"] / 1e6),
            "p50_us": found["p50_us"],
            "p99_us": found["p99_us"],
            "errors": found["errors"] + found["status_errors"],
        }
    requests = [Request("GET", p) for p in paths]
    step = max(1, len(requests) // connections)
    lists = [requests[i * step :] + requests[: i * step] for i in range(connections)]
    found = python_load(Load(port, lists, float(seconds)))
    found["errors"] = sum(v for k, v in found.pop("statuses").items() if k != "200")
    return found


def python_load(load: Load) -> dict[str, Any]:
    """Run bench.loadgen in its own process."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        cwd=ROOT,
        input=msgspec.json.encode(load),
        capture_output=True,
        check=True,
    )
    result: dict[str, Any] = msgspec.json.decode(done.stdout.strip().splitlines()[-1])
    return result


def post_requests(plan: HttpPlan, prefix: str, token: str, connections: int) -> list[list[Request]]:
    """Per connection, one new story's events in order, each as a single-event POST."""
    per_story = math.ceil(plan.posts / connections)
    shape = Shape(plan.posts, per_story, max(1, per_story // 10), seed=plan.seed, prefix=prefix)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    by_story: dict[str, list[Request]] = {}
    for line in Newsroom(shape).lines(Generated(Path(os.devnull))):
        event = msgspec.json.decode(line)
        story = event.pop("story")
        request = Request(
            "POST", f"/v1/stories/{story}/events", msgspec.json.encode(event), headers
        )
        by_story.setdefault(story, []).append(request)
    return list(by_story.values())


def new_token(env: dict[str, str], role: str = "writer") -> str:
    """A new token of ``role``, named ``bench-<role>``, in the served database, through the CLI."""
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "token", "create", f"bench-{role}", "--role", role],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def measure_http(
    database: str, paths: Sequence[str], plan: HttpPlan, folder: Path
) -> dict[str, Any]:
    """Hello and knowledge GETs alternated per repeat (knowledge also over one connection),
    then POSTs; the server's memory last. Then the same GETs of a server that caches no
    answers (``KNEWWHEN_ANSWER_CACHE_BYTES=0``): every request computes its answer."""
    env = {**os.environ, "KNEWWHEN_DATABASE": database}
    token = new_token(env)
    hello_port, port = free_port(), free_port()
    hello_cmd = [sys.executable, "-m", "bench.hello", "--port", str(hello_port)]
    serve_cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    serve_cmd += ["--port", str(port)]
    result: dict[str, Any] = {
        "load_generator": load_generator(),
        "hello": [],
        "knowledge": [],
        "knowledge_one_connection": [],
        "knowledge_uncached": [],
    }
    with (
        serving(hello_cmd, hello_port, "/", env, folder / "hello.log") as _,
        serving(serve_cmd, port, "/healthz", env, folder / "serve.log") as server,
    ):
        result["server_idle"] = memory_mb(server.pid)
        many = plan.connections
        if plan.warmup:
            get_load(hello_port, ["/"], plan.warmup, many, folder)
            get_load(port, paths, plan.warmup, many, folder)
        for _ in range(plan.repeats):
            result["hello"].append(get_load(hello_port, ["/"], plan.seconds, many, folder))
            result["knowledge"].append(get_load(port, paths, plan.seconds, many, folder))
            one = get_load(port, paths, plan.seconds, 1, folder)
            result["knowledge_one_connection"].append(one)
        result["server_after_gets"] = memory_mb(server.pid)
        result["post"] = []
        result["post_busy"] = []
        for repeat in range(plan.repeats):
            load = Load(port, post_requests(plan, f"post{repeat}", token, plan.post_connections))
            result["post"].append(python_load(load))
            many = plan.busy_post_connections
            load = Load(port, post_requests(plan, f"busy{repeat}", token, many))
            result["post_busy"].append(python_load(load))
        result["server_after_posts"] = memory_mb(server.pid)
    uncached_env = {**env, "KNEWWHEN_ANSWER_CACHE_BYTES": "0"}
    with serving(serve_cmd, port, "/healthz", uncached_env, folder / "serve-uncached.log"):
        for _ in range(plan.repeats):
            result["knowledge_uncached"].append(get_load(port, paths, plan.seconds, many, folder))
    return result
