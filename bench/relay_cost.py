"""`python -m bench.relay_cost`: what the outbox relay costs per event, in its own CPU, the database server's and
MongoDB operations, measured apart from any turn (the load benchmark mixes it with everything else).

Turns are written with their interaction event (as the coordinator writes them), then the relay runs as
`run_forever` would: a publishing pass, then another at once only when it says more may be waiting (a relay
without `batch_was_full` always made it). Only those passes are measured
(the writes are not): the relay's CPU is this process's CPU during them, the database server's is FerretDB's
and PostgreSQL's (with its backends) over the same spans, and the operations are counted with pymongo's command
monitoring. Two shapes: one turn per pass (concurrency 1, a quiet site) and `--batch` turns per pass (a busy one).

`--relay-source FILE` measures another implementation of `outbox_relay/relay.py` (for a before/after:
`git show REV:outbox_relay/relay.py > /tmp/old_relay.py`). Needs MONGO_URI and KAFKA_BOOTSTRAP
(`eval "$(scripts/stack.sh env)"`); uses a database and a topic of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import time
import uuid
from collections import Counter
from types import ModuleType
from typing import Any

from assist.v1 import common_pb2
from pymongo import AsyncMongoClient, monitoring

from bench.cpu import DATABASE_SERVER, process_cpu_s, stack_servers
from bench.harness import stack_home
from mesh.events.kafka import ensure_topics, make_producer
from mesh.storage.mongo import Database, Document, ensure_indexes
from mesh.storage.turns import TurnStore
from outbox_relay import relay as current_relay
from testing.outbox_turns import completed_turn_with_event


class _Counted(monitoring.CommandListener):
    """Counts commands by (name, collection) while `on` is set."""

    def __init__(self) -> None:
        self.on = False
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on:
            self.counts[f"{event.command_name} {event.command.get(event.command_name)}"] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _relay_module(source: str | None) -> ModuleType:
    if source is None:
        return current_relay
    spec = importlib.util.spec_from_file_location("relay_under_test", source)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _write_turns(turns: TurnStore, topic: str, n: int) -> None:
    for _ in range(n):
        await completed_turn_with_event(
            turns,
            topic,
            conversation_id=uuid.uuid4().hex,
            user_id="bench-user",
            client_message_id=uuid.uuid4().hex,
            text="what is due?",
            answer="T-1 is due",
            intent=common_pb2.INTENT_TASKS_DUE,
        )


async def _measure(
    relay: Any,
    db: Database,
    counted: _Counted,
    topic: str,
    rounds: int,
    per_pass: int,
    servers: dict[str, int],
) -> dict[str, float]:
    turns = TurnStore(db)
    own = server = 0.0
    published = 0
    counted.counts.clear()
    for _ in range(rounds):
        await _write_turns(turns, topic, per_pass)
        server_before = sum(process_cpu_s(pid, with_children=True) for pid in servers.values())
        own_before = time.process_time()
        counted.on = True
        published += await relay.run_once()  # the publishing pass
        if getattr(relay, "batch_was_full", True):  # run_forever's next pass without waiting (always, once)
            published += await relay.run_once()
        counted.on = False
        own += time.process_time() - own_before
        server += sum(process_cpu_s(pid, with_children=True) for pid in servers.values()) - server_before
    events = rounds * per_pass
    if published != events:
        raise SystemExit(f"published {published} of {events} events")
    return {
        "relay_ms": own * 1000 / events,
        "server_ms": server * 1000 / events,
        "ops": sum(counted.counts.values()) / events,
    }


async def main(args: argparse.Namespace) -> None:
    env = dict(os.environ)
    servers = {w.name: w.pid for w in stack_servers(env, stack_home()) if w.name in DATABASE_SERVER}
    module = _relay_module(args.relay_source)
    counted = _Counted()
    name = f"relay_cost_{uuid.uuid4().hex[:8]}"
    topic = f"bench.relay.{uuid.uuid4().hex[:8]}"
    await ensure_topics(env["KAFKA_BOOTSTRAP"], [topic])
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        env["MONGO_URI"], event_listeners=[counted], tz_aware=True, serverSelectionTimeoutMS=5000
    )
    db = client[name]
    try:
        await ensure_indexes(db)
        relay = module.OutboxRelay(db, lambda: make_producer(env["KAFKA_BOOTSTRAP"]), "bench-relay")
        try:
            await _measure(relay, db, counted, topic, 3, 1, servers)  # warm: producer, leases, connections
            print(f"relay: {args.relay_source or 'outbox_relay/relay.py'}; database server pids {servers}")
            for label, rounds, per_pass in (
                ("1 event per pass", args.rounds, 1),
                (f"{args.batch} events per pass", max(1, args.rounds // args.batch), args.batch),
            ):
                got = await _measure(relay, db, counted, topic, rounds, per_pass, servers)
                print(
                    f"  {label:<20} per event: relay CPU {got['relay_ms']:6.2f} ms, database server CPU "
                    f"{got['server_ms']:6.2f} ms, {got['ops']:5.2f} MongoDB operations ({rounds * per_pass} events)"
                )
                print(f"    operations: {dict(sorted(counted.counts.items()))}")
        finally:
            await relay.close()
    finally:
        await client.drop_database(name)
        await client.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="passes with one event each (default 100)")
    parser.add_argument(
        "--batch", type=int, default=16, help="events per pass in the batch shape (default 16)"
    )
    parser.add_argument("--relay-source", help="another relay.py to measure (a before/after comparison)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
