"""The stack's settings: the same environment variables, ports, offsets and paths the shell script used."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devtools.stack.settings import (
    StackError,
    load_settings,
    offset_for_test_profile,
    posix_cksum,
    root_pg_home,
)

REPO = Path("/srv/clones/assist")


@pytest.mark.parametrize("text", ["", "a", "/work/main", "/home/someone/projects/assist-mesh-clone-number-2"])
def test_cksum_matches_the_posix_tool(text: str) -> None:
    printed = subprocess.run(["cksum"], input=text.encode(), capture_output=True, check=True).stdout
    assert posix_cksum(text.encode()) == int(printed.split()[0])


def test_test_profile_offset_is_drawn_from_the_clone_path_in_steps_of_five() -> None:
    offset = offset_for_test_profile(REPO)
    assert 200 <= offset <= 695 and offset % 5 == 0
    assert offset == 200 + 5 * (posix_cksum(str(REPO).encode()) % 100)


def test_dev_profile_uses_the_default_ports_and_the_clone_local_dir() -> None:
    settings = load_settings({}, repo_root=REPO, is_root=False, user="dev")
    assert settings.home == REPO / ".local" and settings.cache == REPO / ".local"
    assert dict(settings.ports) == {
        "redis": 16379,
        "kafka": 19092,
        "kafka-controller": 19093,
        "mongo": 27027,
        "postgres": 15432,
        "prometheus": 19090,
    }
    assert settings.pg_home == REPO / ".local" / "data" / "postgres-home"
    assert settings.pg_os_user == "dev"


def test_test_profile_has_its_own_home_and_offset_ports() -> None:
    settings = load_settings({"STACK_PROFILE": "test"}, repo_root=REPO, is_root=False, user="dev")
    offset = offset_for_test_profile(REPO)
    assert settings.home == REPO / ".local" / "test-stack"
    assert settings.port("redis") == 16379 + offset
    assert settings.port("kafka-controller") == 19093 + offset


def test_explicit_offset_and_port_override_the_profile() -> None:
    env = {"STACK_PROFILE": "test", "STACK_PORT_OFFSET": "1300", "STACK_MONGO_PORT": "40000"}
    settings = load_settings(env, repo_root=REPO, is_root=False, user="dev")
    assert settings.port("kafka") == 20392
    assert settings.port("mongo") == 40000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STACK_PORT_OFFSET": "-5"}, "STACK_PORT_OFFSET must be a number"),
        ({"STACK_PROFILE": "prod"}, "STACK_PROFILE must be dev or test"),
        ({"STACK_MONGO_BACKEND": "mysql"}, "STACK_MONGO_BACKEND must be postgresql or sqlite"),
        ({"STACK_KAFKA_TIMEOUT": "soon"}, "STACK_KAFKA_TIMEOUT must be a number"),
    ],
)
def test_bad_values_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(StackError, match=message):
        load_settings(env, repo_root=REPO, is_root=False, user="dev")


@pytest.mark.parametrize("alias", ["postgresql", "postgres", "pg"])
def test_postgresql_backend_aliases(alias: str) -> None:
    settings = load_settings({"STACK_MONGO_BACKEND": alias}, repo_root=REPO, is_root=False, user="dev")
    assert settings.mongo_backend == "postgresql"


def test_root_keeps_the_cluster_outside_the_clone_under_the_same_hash_as_the_script() -> None:
    settings = load_settings({"STACK_HOME": "/tmp/some-stack"}, repo_root=REPO, is_root=True)
    printed = subprocess.run(
        "printf '%s' /tmp/some-stack | sha1sum | cut -c1-16",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert settings.pg_home == Path("/var/tmp/assist-stack-postgres") / printed
    assert settings.pg_home == root_pg_home(Path("/tmp/some-stack"))
    assert settings.pg_os_user == "postgres"


def test_stack_pg_home_wins_and_timeouts_have_their_defaults() -> None:
    settings = load_settings({"STACK_PG_HOME": "/somewhere/pg"}, repo_root=REPO, is_root=True)
    assert settings.pg_home == Path("/somewhere/pg")
    assert dict(settings.timeouts) == {
        "redis": 30,
        "kafka": 90,
        "mongo": 30,
        "postgres": 60,
        "prometheus": 30,
    }
    assert settings.kafka_heap == ["-Xms256m", "-Xmx512m"]
