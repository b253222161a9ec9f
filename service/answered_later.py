"""An answer that takes longer than a client or a proxy waits for a first byte (decision 045).

``answer_in_time`` gives a long computation ``grace`` seconds: finished by then, its result is
an ordinary response, status, headers and all. Past then, the answer is a 200 at once, whose
JSON body opens with a space every ``heartbeat`` seconds (whitespace JSON allows before a
value) and ends with the result: no read timeout between two bytes fires while it computes.
Should the computation fail after the 200 went out, the response ends unfinished (the server
closes the connection before the last chunk), so no client can read a complete body from it;
and when the client goes away (``receive`` says so, or ``send`` raises), the computation is
cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

T = TypeVar("T")

HEARTBEAT = b" "
FIRST = asyncio.FIRST_COMPLETED


async def answer_in_time(
    computing: Coroutine[Any, Any, T],
    respond: Callable[[T], Response],
    encode: Callable[[T], bytes],
    grace: float,
    heartbeat: float,
) -> Response:
    """``respond(result)`` when ``computing`` finishes within ``grace`` seconds (its errors
    raised as they come); else an ``AnsweredLater`` that sends ``encode(result)`` once it has."""
    pending = asyncio.ensure_future(computing)
    try:
        result = await asyncio.wait_for(asyncio.shield(pending), grace)
    except TimeoutError:
        if not pending.done():
            return AnsweredLater(pending, encode, heartbeat)
        raise  # the computation's own TimeoutError, within the grace
    except BaseException:
        pending.cancel()
        raise
    return respond(result)


class AnsweredLater(Response):
    """A 200 ``application/json`` sent at once, its body heartbeats until ``pending`` is done,
    then its result encoded."""

    media_type = "application/json"

    def __init__(
        self, pending: asyncio.Future[T], encode: Callable[[T], bytes], heartbeat: float
    ) -> None:
        super().__init__(None, headers={"Cache-Control": "no-store"})
        del self.headers["content-length"]  # sent in chunks
        self.pending: asyncio.Future[Any] = pending
        self.encode: Callable[[Any], bytes] = encode
        self.heartbeat = heartbeat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.ensure_future(disconnected(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            waits = {self.pending, gone}
            while not (await asyncio.wait(waits, timeout=self.heartbeat, return_when=FIRST))[0]:
                await send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
            if gone.done():
                return
            body = self.encode(self.pending.result())
            await send({"type": "http.response.body", "body": body})
        finally:
            gone.cancel()
            self.pending.cancel()  # the client left, or the computation failed: nothing waits


async def disconnected(receive: Receive) -> None:
    """Return once the client has gone: uvicorn (ASGI 2.3) says so only through ``receive``;
    its ``send`` then does nothing."""
    while (await receive())["type"] != "http.disconnect":
        pass
