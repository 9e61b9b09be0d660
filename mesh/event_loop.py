"""The event loop every process runs on: uvloop.

Measured on the reference machine (issue 8): grpc.aio served about 1.2x the calls on uvloop than on the
standard asyncio loop, and the edge (uvicorn with httptools on uvloop) 2.1x the requests of asyncio with h11
for a 50-chunk SSE stream. Nothing in the mesh depends on the loop's type, so the faster one runs everywhere;
tests keep pytest-asyncio's standard loop, which exercises the same code.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new uvloop event loop (what `asyncio.run` does, on uvloop)."""
    return uvloop.run(main)
