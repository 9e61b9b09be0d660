"""What each support command needs from the environment, read with `mesh.config.load_settings`.

Split by command so that reading a conversation does not demand REDIS_URL, and only `retention` demands
RETENTION_DAYS: a command fails at once naming the variable it lacks, not halfway through its work.
"""

from __future__ import annotations

from pydantic import Field

from mesh.config import CommonSettings, MongoSettings, RedisSettings


class SupportSettings(CommonSettings, MongoSettings):
    """Reading conversations and exporting cases: MongoDB only."""

    service_name: str = "support"
    log_level: str = "WARNING"


class ErasureSettings(SupportSettings, RedisSettings):
    """Erasing a user: MongoDB and Redis (sessions, cached answers, rate-limit buckets)."""

    # Where receipts are written (a mounted volume in a deployment); the receipt is printed too.
    support_receipt_dir: str = "."


class RetentionSettings(SupportSettings):
    """The retention job: conversations, their turns, feedback and analytics facts live this many days."""

    retention_days: int = Field(ge=1)
