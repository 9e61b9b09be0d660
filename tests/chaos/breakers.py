"""The coordinator's circuit breakers as the chaos suite sees them: through its metrics, after a row.

A breaker that opened during a fault must close again once the agent serves: half-open lets one trial call
through and its success closes it. A breaker still not closed after a few turns spread over more than its
reset time, with every agent healthy, is stuck: no trial call will ever be let through again, and every
later turn is degraded for no reason. The suite looks for that after each row, says so in the table, and
restarts the coordinator so the next row measures its own fault.
"""

from __future__ import annotations

import asyncio
import re

import httpx

from bench.driver import Target, client_for
from bench.sse import create_conversation, send_turn

_STATE = re.compile(r'^assist_circuit_breaker_state\{[^}]*agent="([^"]+)"[^}]*\}\s+([0-9.]+)', re.MULTILINE)
# Longer than the breaker's reset time (coordinator/circuit_breaker.py: 5 s), so an open breaker has
# become half-open and has had turns to try its trial call on.
PROBE_TURNS = 4
PROBE_GAP_S = 2.0


def breaker_states(metrics_url: str) -> dict[str, float]:
    """Each agent's breaker: 0 closed, 1 half-open, 2 open (`assist_circuit_breaker_state`)."""
    text = httpx.get(metrics_url, timeout=10).text
    return {agent: float(value) for agent, value in _STATE.findall(text)}


async def stuck_breakers(target: Target, user_id: str, metrics_url: str) -> list[str]:
    """Agents whose breaker is still not closed after PROBE_TURNS turns PROBE_GAP_S apart (all healthy)."""
    async with client_for(target, 2) as client:
        headers = target.auth(user_id)
        conversation = await create_conversation(client, headers)
        for n in range(PROBE_TURNS):
            await send_turn(client, conversation, f"What is late? (probe {n})", headers)
            await asyncio.sleep(PROBE_GAP_S)
    states = await asyncio.to_thread(breaker_states, metrics_url)
    # The feedback agent is on no turn's path: the probe turns give its breaker no trial call.
    return sorted(agent for agent, state in states.items() if state > 0 and agent != "feedback")
