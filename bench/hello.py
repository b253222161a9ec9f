"""The HTTP reference: a hello-world starlette route on knewwhen's server stack (uvicorn, uvloop, httptools)."""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def hello(request: Request) -> Response:
    """A constant JSON answer."""
    return Response(b'{"hello":"world"}', media_type="application/json")


app = Starlette(routes=[Route("/", hello, methods=["GET"])])


def main() -> None:
    """Serve the hello route on 127.0.0.1 at ``--port``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main()
