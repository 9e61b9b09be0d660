"""Configuration fails fast: a missing or malformed setting stops a process with one line naming it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devtools.launcher import ROOT
from mesh.components import AGENTS
from mesh.config import ConfigurationError, KafkaSettings, MongoSettings, load_settings


class _WorkerSettings(MongoSettings, KafkaSettings):
    service_name: str = "worker"
    batch_size: int = 10


def test_missing_settings_are_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MONGO_URI", "KAFKA_BOOTSTRAP", "BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as raised:
        load_settings(_WorkerSettings)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("worker: configuration error: missing ")
    assert "MONGO_URI" in message and "KAFKA_BOOTSTRAP" in message


def test_malformed_settings_are_named_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGO_URI", "mongodb://db/assist")
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("BATCH_SIZE", "many")
    with pytest.raises(ConfigurationError, match=r"invalid BATCH_SIZE \("):
        load_settings(_WorkerSettings)


def test_variables_outside_the_class_are_reported_with_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONGO_URI", raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.delenv("SOME_ADDR", raising=False)
    with pytest.raises(ConfigurationError, match=r"missing MONGO_URI, SOME_ADDR$"):
        load_settings(_WorkerSettings, also_required=["SOME_ADDR"])


def test_complete_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGO_URI", "mongodb://db/assist")
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "kafka:9092")
    settings = load_settings(_WorkerSettings)
    assert settings.mongo_uri == "mongodb://db/assist"


def test_the_coordinator_started_without_its_settings_exits_naming_each_one() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "coordinator"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    for name in ("MONGO_URI", *(a.address_env for a in AGENTS)):
        assert name in lines[0]
