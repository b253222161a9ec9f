"""A small HTTP/1.1 load generator for loopback: keep-alive connections, each sending its own
list of requests in order, for a bounded count or a bounded time.

Run as ``python -m bench.loadgen`` with a JSON ``Load`` on stdin; prints one JSON object.
Used for POSTs (each body once, in order per connection) and for GETs when wrk is absent.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import msgspec
from msgspec import Struct

from bench.stats import percentile


class Request(Struct, frozen=True):
    """One request: method, path, body and extra headers."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = {}


class Load(Struct, frozen=True):
    """One load run: per connection, its requests; cycled until ``seconds`` when set."""

    port: int
    connections: list[list[Request]]
    seconds: float | None = None


def encode_request(request: Request) -> bytes:
    """The bytes of one HTTP/1.1 request."""
    lines = [f"{request.method} {request.path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    if request.body or request.method == "POST":
        lines.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + request.body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response whole; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
        elif name.strip().lower() == "transfer-encoding":
            raise RuntimeError("chunked responses are not supported by this load generator")
    if length:
        await reader.readexactly(length)
    return int(status_line.split()[1])


async def connection(
    port: int, requests: list[Request], deadline: float | None, out: dict[str, Any]
) -> None:
    """Send one connection's requests in order (cycling until the deadline, if any)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    encoded = [encode_request(r) for r in requests]
    index = 0
    while True:
        if deadline is None and index >= len(encoded):
            break
        if deadline is not None and time.perf_counter() >= deadline:
            break
        start = time.perf_counter()
        writer.write(encoded[index % len(encoded)])
        status = await read_response(reader)
        out["latencies"].append((time.perf_counter() - start) * 1e6)
        out["statuses"][status] = out["statuses"].get(status, 0) + 1
        index += 1
    writer.close()


async def run(load: Load) -> dict[str, Any]:
    """Run all connections at once; requests per second, latency percentiles and statuses."""
    out: dict[str, Any] = {"latencies": [], "statuses": {}}
    start = time.perf_counter()
    deadline = start + load.seconds if load.seconds else None
    await asyncio.gather(*(connection(load.port, c, deadline, out) for c in load.connections))
    seconds = time.perf_counter() - start
    latencies = out["latencies"]
    return {
        "requests": len(latencies),
        "seconds": seconds,
        "requests_per_s": len(latencies) / seconds,
        "p50_us": percentile(latencies, 0.5),
        "p99_us": percentile(latencies, 0.99),
        "statuses": {str(k): v for k, v in out["statuses"].items()},
    }


def main() -> int:
    """Read a Load from stdin, print the result."""
    load = msgspec.json.decode(sys.stdin.buffer.read(), type=Load)
    try:
        import uvloop
    except ImportError:
        print(json.dumps(asyncio.run(run(load))))
    else:
        print(json.dumps(uvloop.run(run(load))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
