"""``answer_in_time``: an ordinary response within the grace, else a 200 whose body is
heartbeats then the result; a failure or a departed client cancels what was computing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.responses import Response
from starlette.types import Message

from service.answered_later import HEARTBEAT, AnsweredLater, answer_in_time


def respond(result: str) -> Response:
    return Response(result, headers={"X-Within": "grace"})


def encode(result: str) -> bytes:
    return result.encode()


async def after(seconds: float, result: str = "done") -> str:
    await asyncio.sleep(seconds)
    return result


async def failing_after(seconds: float) -> str:
    await asyncio.sleep(seconds)
    raise RuntimeError("the computation failed")


class Recorded:
    """An ASGI ``send`` that keeps what it is sent; it raises ``OSError`` (as a server's does
    once its client has gone) from the ``gone_at``-th message on."""

    def __init__(self, gone_at: int | None = None) -> None:
        self.messages: list[Message] = []
        self.gone_at = gone_at

    async def __call__(self, message: Message) -> None:
        if self.gone_at is not None and len(self.messages) + 1 >= self.gone_at:
            raise OSError("the client went away")
        self.messages.append(message)

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


async def nothing() -> Message:
    """A client that stays: its request was read, and nothing more comes."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def sent(response: Response, send: Recorded) -> None:
    await response({"type": "http", "method": "GET"}, nothing, send)


def test_a_result_within_the_grace_is_the_ordinary_response() -> None:
    async def scenario() -> Response:
        return await answer_in_time(after(0.01), respond, encode, grace=5, heartbeat=0.01)

    response = asyncio.run(scenario())
    assert not isinstance(response, AnsweredLater)
    assert (response.body, response.headers["x-within"]) == (b"done", "grace")


def test_a_failure_within_the_grace_is_raised() -> None:
    async def scenario() -> Response:
        return await answer_in_time(failing_after(0.01), respond, encode, grace=5, heartbeat=1)

    with pytest.raises(RuntimeError, match="the computation failed"):
        asyncio.run(scenario())


def test_a_timeout_of_the_computation_within_the_grace_is_raised_not_answered_later() -> None:
    async def timing_out() -> str:
        raise TimeoutError("the computation's own")

    async def scenario() -> Response:
        return await answer_in_time(timing_out(), respond, encode, grace=5, heartbeat=1)

    with pytest.raises(TimeoutError, match="the computation's own"):
        asyncio.run(scenario())


def test_a_later_result_follows_a_200_and_heartbeats() -> None:
    send = Recorded()

    async def scenario() -> None:
        response = await answer_in_time(after(0.2), respond, encode, grace=0.01, heartbeat=0.02)
        assert isinstance(response, AnsweredLater)
        await sent(response, send)

    asyncio.run(scenario())
    start, *beats, last = send.messages
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"cache-control"] == b"no-store"
    assert b"content-length" not in headers
    assert len(beats) >= 3
    assert all(
        m == {"type": "http.response.body", "body": HEARTBEAT, "more_body": True} for m in beats
    )
    assert last == {"type": "http.response.body", "body": b"done"}
    assert send.body().strip() == b"done"


def test_a_failure_after_the_200_ends_the_answer_unfinished() -> None:
    send = Recorded()

    async def scenario() -> None:
        response = await answer_in_time(
            failing_after(0.1), respond, encode, grace=0.01, heartbeat=0.02
        )
        await sent(response, send)

    with pytest.raises(RuntimeError, match="the computation failed"):
        asyncio.run(scenario())
    assert send.messages[0]["status"] == 200
    assert all(m.get("more_body") for m in send.messages[1:])  # no last chunk went out


def test_a_client_gone_cancels_the_computation() -> None:
    """uvicorn (ASGI 2.3) tells of a client gone through ``receive``; its ``send`` then does
    nothing."""
    send = Recorded()
    computing: dict[str, Any] = {}

    async def watched() -> str:
        computing["task"] = asyncio.current_task()
        return await after(60)

    async def scenario() -> None:
        leaves = asyncio.Event()

        async def receive() -> Message:
            await leaves.wait()
            return {"type": "http.disconnect"}

        response = await answer_in_time(watched(), respond, encode, grace=0.01, heartbeat=0.01)
        answering = asyncio.ensure_future(response({"type": "http"}, receive, send))
        await asyncio.sleep(0.1)
        leaves.set()
        await answering
        assert computing["task"].cancelled()
        assert all(m.get("more_body") for m in send.messages[1:])

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_send_that_fails_cancels_the_computation() -> None:
    """A server on ASGI 2.4 raises ``OSError`` from ``send`` once its client has gone."""
    send = Recorded(gone_at=3)
    computing: dict[str, Any] = {}

    async def watched() -> str:
        computing["task"] = asyncio.current_task()
        return await after(60)

    async def scenario() -> None:
        response = await answer_in_time(watched(), respond, encode, grace=0.01, heartbeat=0.01)
        with pytest.raises(OSError):
            await sent(response, send)
        await asyncio.sleep(0)  # let the cancellation land
        assert computing["task"].cancelled()

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_request_cancelled_within_the_grace_cancels_the_computation() -> None:
    computing: dict[str, Any] = {}

    async def watched() -> str:
        computing["task"] = asyncio.current_task()
        return await after(60)

    async def scenario() -> None:
        asking = asyncio.ensure_future(
            answer_in_time(watched(), respond, encode, grace=30, heartbeat=1)
        )
        await asyncio.sleep(0.05)
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        await asyncio.sleep(0)
        assert computing["task"].cancelled()

    asyncio.run(asyncio.wait_for(scenario(), 10))
