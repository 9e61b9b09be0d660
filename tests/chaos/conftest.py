"""The chaos suite's system: a whole mesh writing with Gemini (the fake server), and the table it fills.

The mesh is the suite's own (not the session's keyless `mesh_up`): the model rows need the Gemini writer,
and every row kills or stops something, which other tests should not have to witness.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from devtools.launcher import ROOT
from tests.chaos.faults import ChaosTarget, FakeGeminiProcess
from tests.chaos.report import ChaosRow, markdown, write_table
from tests.local_stack import Stack
from tests.mesh_fixture import MeshUnderTest, fake_gemini_env, running_mesh

CHATS = 32
TABLE_FILE = ROOT / "test-artifacts" / "chaos.md"


@contextmanager
def fake_gemini_process() -> Iterator[FakeGeminiProcess]:
    """`python -m testing.gemini_server` on a free port (it echoes the task facts it is given)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "testing.gemini_server", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("GEMINI_BASE_URL="), f"the fake Gemini did not start: {line!r}"
        yield FakeGeminiProcess(line.partition("=")[2])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def chaos_target(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosTarget]:
    with fake_gemini_process() as fake, _chaos_mesh(stack, tmp_path_factory, fake) as mesh:
        yield ChaosTarget(mesh, stack, fake)


@contextmanager
def _chaos_mesh(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory, fake: FakeGeminiProcess
) -> Iterator[MeshUnderTest]:
    env = fake_gemini_env(stack, fake.base_url, "chaos", LOG_LEVEL="WARNING")
    with running_mesh(
        stack, tmp_path_factory.mktemp("chaos-keys"), name="chaos", extra_env=env, coordinator_replicas=2
    ) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def chaos_table() -> Iterator[list[ChaosRow]]:
    """Rows appended by each fault's test; printed and written to test-artifacts/chaos.md at the end."""
    rows: list[ChaosRow] = []
    started = time.monotonic()
    yield rows
    if rows:
        text = markdown(rows, chats=CHATS, seconds=time.monotonic() - started)
        write_table(TABLE_FILE, text)
        print(f"\n\n{text}\n(written to {TABLE_FILE.relative_to(ROOT)})")
