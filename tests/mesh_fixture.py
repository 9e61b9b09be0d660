"""The whole mesh as real processes, for end-to-end and browser tests: agents, coordinator, relay, edge.

It runs against the local stack on a database of its own, with the demo site's users and tasks seeded.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
import redis

from demo.keyring import load_or_create
from demo.seed import seed_demo_tasks, seed_host_database
from devtools.launcher import ROOT, Mesh, plan_mesh
from mesh.auth import TokenSigner
from mesh.tls import coordinator_channel
from testing.flag_files import DEV_FLAGS, write_flags_file
from testing.gemini_server import GeminiServer
from tests.local_stack import Stack, mongo_uri_for

PRIMARY_MODEL = "gemini-2.5-flash"
FALLBACK_MODEL = "gemini-2.5-flash-lite"

# The Redis database of each test that needs one to itself, emptied before use, so no answer cached or event
# logged by an earlier run answers there. One table, so that no two suites share one by accident; every other
# mesh uses the stack's database 0.
OWN_REDIS_DB = {"chaos": 6, "gemini": 7, "resume": 8, "inj": 9, "injctl": 10, "ip-limit": 5}


# Model retries in tens of milliseconds, for suites that script failures and wait for the fallback.
FAST_MODEL_RETRIES = {"GEMINI_BACKOFF_INITIAL_S": "0.05", "GEMINI_BACKOFF_MAX_S": "0.2"}


def own_redis_url(stack_redis_url: str, owner: str) -> str:
    """The URL of `owner`'s own Redis database (OWN_REDIS_DB), emptied."""
    url = stack_redis_url.rsplit("/", 1)[0] + f"/{OWN_REDIS_DB[owner]}"
    redis.Redis.from_url(url).flushdb()
    return url


def fake_gemini_env(stack: Stack, base_url: str, mesh_name: str, **more: str) -> dict[str, str]:
    """The environment of a mesh whose NLG agent runs the real google-genai SDK against the fake Gemini at
    `base_url`, on its own Redis database (named after the mesh in OWN_REDIS_DB); `more` adds or overrides."""
    return {
        "REDIS_URL": own_redis_url(stack.redis_url, mesh_name),
        "GEMINI_API_KEY": "fake-key",
        "GEMINI_BASE_URL": base_url,
        "GEMINI_MODEL": PRIMARY_MODEL,
        "GEMINI_FALLBACK_MODEL": FALLBACK_MODEL,
        # The local classifier answers every message, so only the writer talks to the fake.
        "NLU_GEMINI_THRESHOLD": "0",
        **more,
    }


@dataclass
class MeshUnderTest:
    """A running mesh and what tests need to talk to it as its users do."""

    mesh: Mesh
    mongo_uri: str
    keys_dir: Path
    # The coordinator's FLAGS_FILE, a copy of flags/dev.json (everyone in) that tests may rewrite.
    flags_file: Path

    @property
    def edge_url(self) -> str:
        return self.mesh.edge_url

    @property
    def coordinator_addr(self) -> str:
        return self.mesh.coordinator_addr

    @property
    def signer(self) -> TokenSigner:
        """The demo site's current signing key (reread: a test may have rotated it)."""
        return load_or_create(self.keys_dir).signer()

    def token(self, user_id: str) -> str:
        return self.signer.sign(user_id, user_id.title())

    def tls_dir(self, identity: str) -> Path:
        return self.mesh.tls_dir(identity)

    def coordinator_channel(self, identity: str = "assist-cli") -> grpc.aio.Channel:
        """A channel to the coordinator presenting `identity`'s certificate (ops/internal-clients.yaml)."""
        return coordinator_channel(self.coordinator_addr, self.tls_dir(identity))

    def auth(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id)}"}

    def widget_enabled(self, user_id: str) -> bool:
        """What GET /v1/widget/config tells `user_id` right now."""
        reply = httpx.get(f"{self.edge_url}/v1/widget/config", headers=self.auth(user_id), timeout=10)
        reply.raise_for_status()
        enabled = reply.json()["enabled"]
        assert isinstance(enabled, bool)
        return enabled

    def widget_config(self, user_id: str) -> dict[str, object]:
        """GET /v1/widget/config as `user_id`, parsed."""
        reply = httpx.get(f"{self.edge_url}/v1/widget/config", headers=self.auth(user_id), timeout=10)
        reply.raise_for_status()
        config: dict[str, object] = reply.json()
        return config

    @contextmanager
    def study_testers(self, *user_ids: str) -> Iterator[None]:
        """Put `user_ids` in the `study-mode` flag's cohort (in force on return); nobody again after."""
        write_flags_file(self.flags_file, 100, study_testers=user_ids)
        try:
            deadline = time.monotonic() + 10
            while not all(self.widget_config(u).get("study") is True for u in user_ids):
                assert time.monotonic() < deadline, "the study-mode flag was not in force within 10 s"
                time.sleep(0.1)
            yield
        finally:
            write_flags_file(self.flags_file, 100)
            deadline = time.monotonic() + 10
            while any(self.widget_config(u).get("study") is True for u in user_ids):
                assert time.monotonic() < deadline, "the study cohort was not emptied within 10 s"
                time.sleep(0.1)

    @contextmanager
    def rollout_at(self, percent: int) -> Iterator[None]:
        """Rewrite the running coordinator's flags file to `percent`; back to 100% (and in force) after."""
        write_flags_file(self.flags_file, percent)
        try:
            yield
        finally:
            write_flags_file(self.flags_file, 100)
            deadline = time.monotonic() + 10
            while not self.widget_enabled("rollout-probe"):
                assert time.monotonic() < deadline, "the mesh did not return to 100% within 10 s"
                time.sleep(0.1)


@contextmanager
def running_mesh(
    stack: Stack,
    keys_dir: Path,
    *,
    name: str = "e2e",
    extra_env: dict[str, str] | None = None,
    coordinator_replicas: int = 1,
) -> Iterator[MeshUnderTest]:
    """Start every process of the mesh on its own database (seeded with the demo tasks); stop it after.

    The demo site's keyring is in `keys_dir`, the development PKI beside it (`<keys_dir>-tls`). With
    `coordinator_replicas` > 1 the coordinator runs as `coordinator`, `coordinator#2`, ... and the edge
    balances over them (devtools/launcher.py plan_mesh).
    """
    load_or_create(keys_dir)
    database = f"{name}_{uuid.uuid4().hex[:10]}"
    mongo_uri = mongo_uri_for(stack, database)
    asyncio.run(seed_demo_tasks(mongo_uri))
    # The host's database too, with today's due dates: the mesh's task sync copies it over the seed above.
    seed_host_database(stack.host_db_dsn, reset=True)
    log_dir = ROOT / "test-artifacts" / "logs" / database
    log_dir.mkdir(parents=True, exist_ok=True)
    flags_file = log_dir / "flags.json"
    shutil.copyfile(DEV_FLAGS, flags_file)
    mesh = plan_mesh(
        {**stack.env(), **stack.tracing_env(), "MONGO_URI": mongo_uri},
        log_dir=log_dir,
        extra_env={
            "FLAGS_FILE": str(flags_file),
            # Tests rewrite the file and wait for it to be in force: poll faster than the 5 s default.
            "FLAGS_POLL_MS": "250",
            # Tests wait for events to reach analytics: keep the relay's quiet-outbox polls close together.
            "RELAY_IDLE_MAX_S": "1",
            # Tests wait for the host's changes to arrive: sweep a quiet host every 0.5 s as before.
            "HOST_SYNC_IDLE_MAX_S": "0.5",
            "DEV_KEYS_DIR": str(keys_dir),
            "MESH_TLS_ROOT": str(keys_dir.with_name(f"{keys_dir.name}-tls")),
            # Rotation tests wait for the edge's next JWKS fetch; a second is enough between fetches.
            "AUTH_JWKS_MIN_REFETCH_S": "1",
            "ANALYTICS_GROUP_ID": f"analytics-{database}",
            "LOG_LEVEL": "INFO",
            # Tests send turns faster than a person; the limiters have tests of their own.
            "TURN_RATE_BURST": "100000",
            # Thousands of model turns by a few demo users: the daily budget has its own tests.
            "DAILY_TOKEN_BUDGET": "1000000000",
            "IP_RATE_BURST": "100000",
            "IP_RATE_PER_S": "100000",
            **(extra_env or {}),
        },
        coordinator_replicas=coordinator_replicas,
    )
    try:
        mesh.start()
        yield MeshUnderTest(mesh=mesh, mongo_uri=mongo_uri, keys_dir=keys_dir, flags_file=flags_file)
    finally:
        mesh.stop()


@pytest.fixture(scope="session")
def mesh_up(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshUnderTest]:
    """The mesh with no model key: the local classifier and the deterministic local writer answer."""
    # No Gemini here even if the developer's shell has a key: these tests pin the keyless product.
    no_model = {"GEMINI_API_KEY": "", "GOOGLE_GENAI_USE_VERTEXAI": "false"}
    with running_mesh(stack, tmp_path_factory.mktemp("dev-keys"), extra_env=no_model) as mesh:
        yield mesh


@pytest.fixture(scope="session")
def gemini_server() -> Iterator[GeminiServer]:
    """The fake Gemini API in this process (tests reset it and script its answers)."""
    server = GeminiServer()
    server.start()
    yield server
    server.stop()
