"""End to end: an answer past its grace through a real uvicorn (uvloop, httptools) and the
access log middleware, read by a real HTTP client: heartbeats keep a read timeout shorter than
the computation from firing, a failure after the 200 leaves the client an unfinished body, and
a client that leaves cancels the computation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import msgspec
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.answered_later import answer_in_time
from service.logs import AccessLog
from tests.e2e.test_server import free_port

COMPUTING_SECONDS = 3.0
LONG_CANCELLED = threading.Event()


async def computed(outcome: str) -> dict[str, str]:
    try:
        await asyncio.sleep(60 if outcome == "long" else COMPUTING_SECONDS)
    except asyncio.CancelledError:
        if outcome == "long":
            LONG_CANCELLED.set()
        raise
    if outcome == "fail":
        raise RuntimeError("the computation failed")
    return {"outcome": outcome}


async def slow(request: Request) -> Response:
    return await answer_in_time(
        computed(request.query_params["outcome"]),
        JSONResponse,
        msgspec.json.encode,
        grace=0.1,
        heartbeat=0.1,
    )


async def plain(request: Request) -> Response:
    return JSONResponse(await computed(request.query_params["outcome"]))


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """A uvicorn server in a thread of this process, serving ``slow`` as knewwhen serves."""
    app = Starlette(
        routes=[Route("/slow", slow), Route("/plain", plain)], middleware=[Middleware(AccessLog)]
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


READ_TIMEOUT = httpx.Timeout(5.0, read=COMPUTING_SECONDS / 3)


def test_heartbeats_keep_a_shorter_read_timeout_from_firing(url: str) -> None:
    r = httpx.get(f"{url}/slow", params={"outcome": "ok"}, timeout=READ_TIMEOUT)
    assert r.status_code == 200
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.content.startswith(b" ")
    assert r.json() == {"outcome": "ok"}


def test_the_same_computation_answered_plainly_times_out(url: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{url}/plain", params={"outcome": "ok"}, timeout=READ_TIMEOUT)


def test_a_failure_after_the_200_leaves_the_client_an_unfinished_body(url: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{url}/slow", params={"outcome": "fail"}, timeout=10)


def test_a_client_that_leaves_cancels_the_computation(url: str) -> None:
    with httpx.stream("GET", f"{url}/slow", params={"outcome": "long"}, timeout=10) as r:
        assert r.status_code == 200
        assert next(r.iter_raw()).startswith(b" ")
    assert LONG_CANCELLED.wait(timeout=5), "the computation ran on after its client left"
