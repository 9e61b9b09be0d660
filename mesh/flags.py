"""Feature flags for every process: OpenFeature's SDK with the flagd provider evaluating FLAGS_FILE in-process.

Why in-process: no flagd daemon runs here or needs to run in the cluster; each process reads the flagd-schema
JSON (a ConfigMap in the chart) and evaluates it locally in microseconds, so a flag costs nothing per turn.
The provider polls the file's modification time (every `poll_ms`) and swaps in the new flags without a
restart; a file that does not parse leaves the last good flags in force and is logged as an error once
(the library logs every poll; `_LogOncePerProblem` keeps one line per problem).

The rollout (docs/flags.md): `widget-enabled` is a `fractional` rule on the user id (the targeting key), so
an answer is sticky while the percentages stay, monotone when the "on" share grows (a user's bucket does not
move; the "on" range only widens), and 0% turns everyone off at the next poll. The user's `cohort`
("rollout-on" / "rollout-off") is a bounded label for turn events and metrics, and `writer` picks the
answer's writer per cohort (targeting on the `cohort` attribute). `study-mode` puts the usability study's
testers (a list of user ids in the file, targeted on the same key) in study mode: the widget shows them
the study panel (docs/usability.md).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.provider import ProviderStatus
from openfeature.provider.no_op_provider import NoOpProvider
from prometheus_client import Counter
from pydantic_settings import BaseSettings, SettingsConfigDict

from mesh.config import ConfigurationError

log = logging.getLogger(__name__)

WIDGET_ENABLED = "widget-enabled"
WRITER = "writer"
STUDY_MODE = "study-mode"
COHORT_ON = "rollout-on"
COHORT_OFF = "rollout-off"
WriterChoice = Literal["gemini", "local"]
_WRITERS: tuple[WriterChoice, ...] = ("gemini", "local")

EVALUATION_ERRORS = Counter(
    "assist_flag_evaluation_errors_total",
    "Flag evaluations that fell back to the code's default (flag missing, wrong type, unknown value), by flag.",
    ["flag"],
)


DEFAULT_POLL_MS = 5000


class FlagSettings(BaseSettings):
    """FLAGS_FILE: the flagd-schema JSON (repo default `flags/flags.json`, the launch configuration)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    flags_file: Path = Path("flags/flags.json")
    # How often the file's modification time is checked; a change is in force within about this long.
    # 5 s: in a cluster the ConfigMap reaches the pod's volume in about a minute anyway, and every poll
    # wakes a thread in each process using flags (issue 8: an idle stack under 2% of a core). Tests that
    # rewrite the file set FLAGS_POLL_MS themselves (tests/mesh_fixture.py).
    flags_poll_ms: int = DEFAULT_POLL_MS


class FlagsUnavailable(RuntimeError):
    """The flags file could not be loaded at start: the process must not run on made-up flags."""


@dataclass(frozen=True)
class Rollout:
    """What the flags say about one user right now."""

    # Inside the rollout: the widget shows itself and new conversations are allowed.
    enabled: bool
    # The bounded label turn events and metrics carry.
    cohort: str
    # Who should write this user's answers.
    writer: WriterChoice


class _LogOncePerProblem(logging.Filter):
    """Drops repeats of the library's last error line: its file watcher logs (with a traceback) on every poll
    while the file stays broken. Reset when a good file is loaded, so a new problem is logged again."""

    def __init__(self) -> None:
        super().__init__()
        self._last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        message = record.getMessage()
        if message == self._last:
            return False
        self._last = message
        return True

    def reset(self) -> None:
        self._last = None


_LIBRARY_LOG_FILTER = _LogOncePerProblem()
logging.getLogger("openfeature.contrib").addFilter(_LIBRARY_LOG_FILTER)
# OpenFeature's providers are registered globally by domain; each Flags gets its own, so tests (and any
# process) can hold several files at once.
_DOMAINS = itertools.count(1)


class Flags:
    """One flags file, evaluated in-process. `start()` before use; `close()` stops watching the file."""

    def __init__(self, path: Path, *, poll_ms: int = DEFAULT_POLL_MS) -> None:
        self.path = path
        self._poll_ms = poll_ms
        self._domain = f"assist-flags-{next(_DOMAINS)}"
        self._client = api.get_client(domain=self._domain)
        self._provider: FlagdProvider | None = None
        self._broken = False

    async def start(self, timeout_s: float = 5.0) -> None:
        """Load the file and wait until the provider is READY; FlagsUnavailable when it cannot be."""
        if not self.path.is_file():
            raise FlagsUnavailable(f"FLAGS_FILE {self.path} does not exist")
        provider = FlagdProvider(
            resolver_type=ResolverType.IN_PROCESS,
            offline_flag_source_path=str(self.path),
            # The file watcher sleeps `deadline_ms` between modification-time checks.
            deadline_ms=self._poll_ms,
        )
        self._provider = provider
        self._client.add_handler(ProviderEvent.PROVIDER_ERROR, self._on_error)
        self._client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, self._on_change)
        try:
            await asyncio.to_thread(api.set_provider_and_wait, provider, self._domain)
        except Exception as exc:
            await self.close()
            raise FlagsUnavailable(f"FLAGS_FILE {self.path} could not be loaded: {exc!r}") from exc
        # The load is asynchronous in some provider versions: poll the status (tooling notes, appendix D).
        deadline = time.monotonic() + timeout_s
        while (status := self._client.get_provider_status()) != ProviderStatus.READY:
            if status in (ProviderStatus.ERROR, ProviderStatus.FATAL) or time.monotonic() > deadline:
                await self.close()
                raise FlagsUnavailable(f"FLAGS_FILE {self.path} could not be loaded (provider {status.name})")
            await asyncio.sleep(0.01)
        log.info("flags loaded", extra={"flags_file": str(self.path)})

    async def close(self) -> None:
        provider, self._provider = self._provider, None
        if provider is not None:
            api.set_provider(NoOpProvider(), self._domain)
            await asyncio.to_thread(provider.shutdown)

    @property
    def healthy(self) -> bool:
        """False while the file on disk is broken (the last good flags are still in force)."""
        return not self._broken

    def widget_enabled(self, user_id: str) -> bool:
        """Whether `user_id` is inside the rollout; off when the flag cannot be evaluated (fail closed)."""
        details = self._client.get_boolean_details(
            WIDGET_ENABLED, False, EvaluationContext(targeting_key=user_id)
        )
        if details.error_code is not None:
            EVALUATION_ERRORS.labels(flag=WIDGET_ENABLED).inc()
        return bool(details.value)

    def study_mode(self, user_id: str) -> bool:
        """Whether `user_id` is one of the usability study's testers; off when the flag cannot be evaluated
        (a missing flag must not show real users a questionnaire)."""
        details = self._client.get_boolean_details(
            STUDY_MODE, False, EvaluationContext(targeting_key=user_id)
        )
        if details.error_code is not None:
            EVALUATION_ERRORS.labels(flag=STUDY_MODE).inc()
        return bool(details.value)

    def cohort(self, user_id: str) -> str:
        """The user's cohort label right now (for feedback and satisfaction metrics, outside a turn)."""
        return COHORT_ON if self.widget_enabled(user_id) else COHORT_OFF

    def rollout(self, user_id: str) -> Rollout:
        """The user's rollout state, cohort and writer, evaluated now (so a file change applies at once)."""
        enabled = self.widget_enabled(user_id)
        cohort = COHORT_ON if enabled else COHORT_OFF  # as cohort(), without evaluating the flag twice
        details = self._client.get_string_details(
            WRITER, "gemini", EvaluationContext(targeting_key=user_id, attributes={"cohort": cohort})
        )
        writer: WriterChoice = "gemini"
        if details.error_code is not None or details.value not in _WRITERS:
            EVALUATION_ERRORS.labels(flag=WRITER).inc()
        elif details.value == "local":
            writer = "local"
        return Rollout(enabled=enabled, cohort=cohort, writer=writer)

    def _on_error(self, details: EventDetails) -> None:
        if self._provider is None:
            return
        if not self._broken:
            log.error(
                "flags file rejected; the last good flags stay in force",
                extra={"flags_file": str(self.path), "reason": details.message},
            )
        self._broken = True

    def _on_change(self, details: EventDetails) -> None:
        if self._broken:
            log.info("flags file valid again", extra={"flags_file": str(self.path)})
        self._broken = False
        _LIBRARY_LOG_FILTER.reset()
        log.info(
            "flags reloaded",
            extra={"flags_file": str(self.path), "changed": sorted(details.flags_changed or ())},
        )


@asynccontextmanager
async def open_flags(settings: FlagSettings, *, service: str) -> AsyncIterator[Flags]:
    """The process's flags from FLAGS_FILE, watched until the block ends. A missing or broken file at start
    stops the process with one line naming FLAGS_FILE (mesh.config's ConfigurationError)."""
    flags = Flags(settings.flags_file, poll_ms=settings.flags_poll_ms)
    try:
        await flags.start()
    except FlagsUnavailable as exc:
        raise ConfigurationError(f"{service}: configuration error: {exc}") from None
    try:
        yield flags
    finally:
        await flags.close()
