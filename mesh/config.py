"""Settings shared by the processes; each process builds its own settings class from these in main().

Values come from the environment (names as in the field, upper-cased). Where a store or another process
is has no default: a deployment that forgets MONGO_URI must stop at start, not quietly connect to a
server on its own loopback. The development launcher and the tests' fixtures supply the local values.
`load_settings` turns a missing or malformed variable into one line naming it and a non-zero exit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)


class ConfigurationError(SystemExit):
    """A required setting is missing or malformed: the process exits with this one-line message."""


class CommonSettings(BaseSettings):
    """What every process needs: logs and telemetry."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    service_name: str = "assist"
    log_level: str = "INFO"
    # OTLP endpoint for traces (e.g. http://otel-collector:4317); empty disables export.
    otel_exporter_otlp_endpoint: str = ""
    # Port of the Prometheus /metrics endpoint; 0 disables it.
    metrics_port: int = 0


class MongoSettings(BaseSettings):
    """Where MongoDB (or FerretDB locally) is: MONGO_URI, with the database name in its path."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    mongo_uri: str
    # How long a call waits for a server before failing (so a MongoDB outage fails fast, not after 30 s).
    mongo_timeout_ms: int = 2000


class RedisSettings(BaseSettings):
    """Where Redis is: REDIS_URL."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    redis_url: str
    redis_timeout_s: float = 0.5


class KafkaSettings(BaseSettings):
    """Where Kafka is: KAFKA_BOOTSTRAP (host:port[,host:port...])."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    kafka_bootstrap: str


def describe_errors(exc: ValidationError | None, also_missing: Iterable[str] = ()) -> str:
    """The variables at fault, as one line: missing ones by name, malformed ones with pydantic's reason."""
    missing: list[str] = []
    malformed: list[str] = []
    for error in exc.errors() if exc is not None else ():
        name = ".".join(str(part) for part in error["loc"]).upper() or "settings"
        if error["type"] == "missing":
            missing.append(name)
        else:
            malformed.append(f"{name} ({error['msg']})")
    missing.extend(also_missing)
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if malformed:
        parts.append(f"invalid {', '.join(malformed)}")
    return "; ".join(parts)


def load_settings(cls: type[S], /, *, also_required: Iterable[str] = (), **values: Any) -> S:
    """Build `cls` from the environment (and `values`), or exit with one line naming what is wrong.

    `also_required` names variables a settings class cannot declare one by one (an address for each
    agent of the registry); they are reported in the same line as the class's own.
    """
    absent = [name for name in also_required if not os.environ.get(name)]
    try:
        settings = cls(**values)
    except ValidationError as exc:
        raise ConfigurationError(_message(cls, values, describe_errors(exc, absent))) from None
    if absent:
        raise ConfigurationError(_message(cls, values, describe_errors(None, absent)))
    return settings


def _message(cls: type[BaseSettings], values: Mapping[str, Any], problems: str) -> str:
    return f"{_service(cls, values)}: configuration error: {problems}"


def _service(cls: type[BaseSettings], values: Mapping[str, Any]) -> str:
    field = cls.model_fields.get("service_name")
    if "service_name" in values:
        return str(values["service_name"])
    return str(field.default) if field is not None and isinstance(field.default, str) else cls.__name__
