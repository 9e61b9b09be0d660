"""The raw skeleton answers the load driver's turns as the mesh's edge does: same route, same events."""

from __future__ import annotations

import asyncio

from bench.driver import Target, one_conversation
from bench.skeleton import running_skeleton


def test_skeleton_streams_the_asked_number_of_deltas_then_done() -> None:
    with running_skeleton(words=7) as skeleton:
        target = Target("skeleton", skeleton.edge_url, lambda _user: {})
        outcomes = asyncio.run(one_conversation(target, 2, user="someone"))
    assert [o.kinds for o in outcomes] == [["accepted", "intent", *["delta"] * 7, "done"]] * 2
