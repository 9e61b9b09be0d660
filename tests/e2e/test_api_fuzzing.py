"""Generated requests against a live edge: the schemathesis command reads the edge's own /openapi.json
(edge.openapi, derived from the contract) and sends about 10,000 requests, valid and invalid, to every route.

Its checks carry our promises: no 5xx (`not_a_server_error`), every answer's status, content type and body as
documented (so every error is the JSON envelope with a code), invalid data refused (`negative_data_rejection`),
requests without credentials refused (`ignored_auth`). Then MongoDB is asked what the fuzzing users own:
the user who only sent invalid requests owns nothing. The command's NDJSON event log gives the counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.mesh_fixture import MeshUnderTest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOTAL_REQUESTS = 10_000
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Valid requests may still be refused for what a schema cannot say (a turn for a conversation that does not
# exist, a rating of a message nobody wrote): 4xx answers to valid data are expected, not a failure.
EXCLUDED_CHECKS = "positive_data_acceptance"


def _fuzz(edge: str, token: str, mode: str, examples: int, report: Path) -> tuple[int, str]:
    command = [
        str(SCHEMATHESIS), "run", f"{edge}/openapi.json", "--url", edge,
        "--mode", mode, "--max-examples", str(examples), "--seed", "20261201",
        "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
        "--header", f"Authorization: Bearer {token}",
        "--workers", "1", "--request-timeout", "30", "--no-color",
        "--report", "ndjson", "--report-ndjson-path", str(report),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1500, check=False)
    return done.returncode, done.stdout + done.stderr


def _requests(report: Path) -> Counter[int]:
    """Status codes of every request the run sent, from its NDJSON event log."""
    statuses: Counter[int] = Counter()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            response = node.get("response")
            if isinstance(response, dict) and isinstance(response.get("status_code"), int):
                statuses[response["status_code"]] += 1
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for line in report.read_text(encoding="utf-8").splitlines():
        walk(json.loads(line))
    return statuses


def _owned(mesh_up: MeshUnderTest, user_id: str) -> dict[str, int]:
    client: MongoClient[dict[str, Any]] = MongoClient(mesh_up.mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        db = client.get_default_database()
        return {name: db[name].count_documents({"user_id": user_id}) for name in ("conversations", "turns")}
    finally:
        client.close()


# 1,000 examples per operation and mode: each route added to the contract adds about 2,000 requests, and on
# FerretDB a listing reads all of the fuzz user's conversations; pytest's 300 s default is not its budget.
@pytest.mark.timeout(900)
def test_generated_requests_get_no_5xx_only_documented_json_errors_and_invalid_ones_store_nothing(
    mesh_up: MeshUnderTest, tmp_path: Path
) -> None:
    runs: dict[str, tuple[str, Counter[int]]] = {}
    for mode in ("negative", "positive"):
        user_id = f"fuzz-{mode}-{uuid.uuid4().hex[:8]}"
        report = tmp_path / f"{mode}.ndjson"
        status, output = _fuzz(mesh_up.edge_url, mesh_up.token(user_id), mode, 1000, report)
        statuses = _requests(report)
        runs[mode] = (user_id, statuses)
        print(f"\nschemathesis --mode {mode}: {sum(statuses.values())} requests, statuses {dict(statuses)}")
        assert status == 0, output[-6000:]
    sent = sum(sum(statuses.values()) for _, statuses in runs.values())
    assert sent >= TOTAL_REQUESTS * 0.9, f"only {sent} requests were generated"
    assert all(code < 500 for _, statuses in runs.values() for code in statuses)
    negative_user = runs["negative"][0]
    assert _owned(mesh_up, negative_user) == {"conversations": 0, "turns": 0}
