"""From a message id to its turn's trace: `python -m devtools.trace MESSAGE_ID`.

A person who sees a wrong or slow answer in the widget has a message id (the assistant message's id is the
turn's id; the user message's id works too). The coordinator stored the trace id of the request that ran the
turn with it (`trace_id` on the turn document), so this command reads the turn from MongoDB (MONGO_URI),
asks Jaeger's query API (JAEGER_QUERY_URL, which `scripts/stack.sh env` sets) for that trace, and prints the
API's URL and the span tree with each span's service and duration. Spans arrive a moment after the turn
(batch export, the relay and the analytics consumer run later): `--wait` polls until the tree stops growing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from mesh.storage.mongo import connect, default_database
from mesh.storage.turns import TurnStore


@dataclass
class SpanNode:
    """One span of a Jaeger trace, with its children in start order."""

    span_id: str
    service: str
    name: str
    start_us: int
    duration_us: int
    children: list[SpanNode] = field(default_factory=list)


def trace_url(query_url: str, trace_id: str) -> str:
    return f"{query_url.rstrip('/')}/api/traces/{trace_id}"


def span_tree(jaeger_trace: Mapping[str, Any]) -> list[SpanNode]:
    """The roots of one trace from Jaeger's JSON (`data[0]` of /api/traces/ID), children nested.

    A span whose parent is not in the trace (not exported yet, or dropped) is shown as a root.
    """
    processes = jaeger_trace.get("processes", {})
    nodes: dict[str, SpanNode] = {}
    parents: dict[str, str] = {}
    for span in jaeger_trace.get("spans", []):
        process = processes.get(span.get("processID"), {})
        node = SpanNode(
            span_id=span["spanID"],
            service=str(process.get("serviceName", "?")),
            name=str(span.get("operationName", "")),
            start_us=int(span.get("startTime", 0)),
            duration_us=int(span.get("duration", 0)),
        )
        nodes[node.span_id] = node
        # The parent is the CHILD_OF reference; without one, a FOLLOWS_FROM (a link) in the same trace.
        refs = sorted(span.get("references", []), key=lambda ref: ref.get("refType") != "CHILD_OF")
        for ref in refs:
            if ref.get("traceID", span.get("traceID")) == span.get("traceID"):
                parents[node.span_id] = ref["spanID"]
                break
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(parents.get(node.span_id, ""))
        (parent.children if parent is not None else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: n.start_us)
    roots.sort(key=lambda n: n.start_us)
    return roots


def render_tree(roots: Sequence[SpanNode]) -> list[str]:
    """One line per span: offset from the trace's start, duration, service, name; indented by depth."""
    if not roots:
        return []
    origin = min(r.start_us for r in roots)
    lines: list[str] = []

    def walk(node: SpanNode, depth: int) -> None:
        offset_ms = (node.start_us - origin) / 1000
        lines.append(
            f"{offset_ms:+9.1f} ms {node.duration_us / 1000:9.1f} ms  {'  ' * depth}"
            f"[{node.service}] {node.name}"
        )
        for child in node.children:
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return lines


def count_spans(roots: Sequence[SpanNode]) -> int:
    return sum(1 + count_spans(r.children) for r in roots)


async def trace_id_for(mongo_uri: str, message_id: str) -> tuple[str, str]:
    """(turn id, trace id) of the turn a message belongs to; LookupError when there is none."""
    client = connect(mongo_uri, 3000)
    try:
        turn = await TurnStore(default_database(client)).turn_for_message(message_id)
    finally:
        await client.close()
    if turn is None:
        raise LookupError(f"no turn has a message {message_id}")
    if not turn.trace_id:
        raise LookupError(f"turn {turn.turn_id} has no trace id (it ran before traces were stored)")
    return turn.turn_id, turn.trace_id


def fetch_trace(query_url: str, trace_id: str, *, wait_s: float = 0.0) -> dict[str, Any] | None:
    """The trace's JSON, or None when Jaeger does not have it; with `wait_s`, polls until it stops growing."""
    deadline = time.monotonic() + wait_s
    found: dict[str, Any] | None = None
    seen = -1
    while True:
        reply = httpx.get(trace_url(query_url, trace_id), timeout=5.0)
        if reply.status_code == 200 and reply.json().get("data"):
            found = reply.json()["data"][0]
            spans = len(found.get("spans", []))
            if spans == seen:
                return found
            seen = spans
        elif reply.status_code not in (200, 404):
            reply.raise_for_status()
        if time.monotonic() >= deadline:
            return found
        time.sleep(1.0)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.trace", description=__doc__.split("\n")[0])
    parser.add_argument("message_id", help="a message id from the widget (the assistant's or the user's)")
    parser.add_argument("--trace-id", help="skip the MongoDB lookup and show this trace")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for late spans (default 5)")
    args = parser.parse_args(argv)
    query_url = env.get("JAEGER_QUERY_URL", "")
    if not query_url:
        print('JAEGER_QUERY_URL is not set: eval "$(scripts/stack.sh env)" first', file=sys.stderr)
        return 2
    if args.trace_id:
        turn_id, trace_id = "", args.trace_id
    else:
        if not env.get("MONGO_URI"):
            print('MONGO_URI is not set: eval "$(scripts/stack.sh env)" first', file=sys.stderr)
            return 2
        try:
            turn_id, trace_id = asyncio.run(trace_id_for(env["MONGO_URI"], args.message_id))
        except LookupError as exc:
            print(str(exc), file=sys.stderr)
            return 1
    print(f"message {args.message_id}" + (f" (turn {turn_id})" if turn_id else "") + f": trace {trace_id}")
    print(f"Jaeger API: {trace_url(query_url, trace_id)}")
    found = fetch_trace(query_url, trace_id, wait_s=args.wait)
    if found is None:
        print("Jaeger has no such trace (not exported yet, sampled out, or Jaeger restarted since)")
        return 1
    roots = span_tree(found)
    print(f"{count_spans(roots)} spans; offset from the start, duration, [service] span:")
    print("\n".join(render_tree(roots)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
