"""Settings shared by the processes; each process builds its own settings class from these in main().

Values come from the environment (names as in the field, upper-cased). A missing required variable fails
fast with pydantic's message naming it.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


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
    """Where MongoDB (or FerretDB locally) is."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    mongo_uri: str = "mongodb://127.0.0.1:27027/assist"
    # How long a call waits for a server before failing (so a MongoDB outage fails fast, not after 30 s).
    mongo_timeout_ms: int = 2000


class RedisSettings(BaseSettings):
    """Where Redis is."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    redis_url: str = "redis://127.0.0.1:16379/0"
    redis_timeout_s: float = 0.5


class KafkaSettings(BaseSettings):
    """Where Kafka is."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    kafka_bootstrap: str = "127.0.0.1:19092"
