"""A TCP proxy in front of the edge that drops answer streams mid-way, as a flaky network does.

Browser tests point the browser at the proxy instead of the edge. Every byte is passed through unchanged,
except that the first `drops` turn requests sent WITHOUT a `Last-Event-ID` header (a fresh send, not a
resume) have their connection closed once `after_events` server-sent events of the answer went through:
the browser sees the stream break mid-answer, exactly as after a dropped Wi-Fi, and must resume it.

It parses no HTTP beyond that: a request is recognised by its first line (`POST /v1/conversations/.../
messages`), and events are counted by the blank line ending each one (`\\n\\n`; the response headers end
in `\\r\\n\\r\\n`, which holds no `\\n\\n`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading

_TURN_REQUEST = re.compile(rb"^POST /v1/conversations/[^/ ]+/messages[ ?]")


class DroppingProxy:
    """Runs in a thread of its own; `url` is where the browser goes."""

    def __init__(
        self, upstream_host: str, upstream_port: int, *, drops: int = 1, after_events: int = 3
    ) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._after_events = after_events
        self._drops_left = drops
        self.dropped = 0
        # Every turn request seen, in order: (its clientMessageId, its Last-Event-ID or "" for a fresh send).
        self.turn_requests: list[tuple[str, str]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            # Connections the browser keeps alive are still being served: end them before the loop stops.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        # Closing the loop closes its self-pipe (a socket pair); left to the garbage collector it was reported
        # as an unclosed socket in whichever test happened to run next (the chaos suite's).
        self._loop.close()

    def _should_drop(self, request_head: bytes) -> bool:
        if not _TURN_REQUEST.match(request_head):
            return False
        found = re.search(rb"\r\nlast-event-id:[ \t]*([^\r\n]*)", request_head, re.IGNORECASE)
        client_id = re.search(rb'"clientMessageId"\s*:\s*"([^"]*)"', request_head)
        self.turn_requests.append(
            (client_id[1].decode() if client_id else "", found[1].decode() if found else "")
        )
        if found or self._drops_left <= 0:
            return False
        self._drops_left -= 1
        return True

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_w.close()
            return
        armed = asyncio.Event()

        async def requests() -> None:
            while data := await client_r.read(65536):
                if self._should_drop(data):
                    armed.set()
                upstream_w.write(data)
                await upstream_w.drain()

        async def responses() -> None:
            events = 0
            while data := await upstream_r.read(65536):
                if armed.is_set():
                    cut = 0
                    while (at := data.find(b"\n\n", cut)) >= 0:
                        cut = at + 2
                        events += 1
                        if events >= self._after_events:
                            client_w.write(data[:cut])
                            await client_w.drain()
                            self.dropped += 1
                            return  # closes both sides below, mid-answer
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.ensure_future(requests()), asyncio.ensure_future(responses())]
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in (client_w, upstream_w):
                # abort, not close: an RST, as a dropped connection gives, not a tidy end of the response.
                writer.transport.abort()
