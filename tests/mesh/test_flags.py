"""The flags as the rollout needs them: fractions, stickiness, monotone growth, reloads and a broken file."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from mesh.flags import COHORT_OFF, COHORT_ON, Flags, FlagsUnavailable
from testing.flag_files import DEV_FLAGS, LAUNCH_FLAGS, write_flags_file, write_raw

USERS = [f"user-{i}" for i in range(5000)]
POLL_MS = 100


def enabled_users(flags: Flags) -> set[str]:
    return {u for u in USERS if flags.widget_enabled(u)}


async def wait_for(check: Callable[[], bool], timeout_s: float = 5.0) -> float:
    """Seconds until `check()` held; fails after `timeout_s`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
async def flags_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags.json"
    write_flags_file(path, 10)
    return path


@pytest.fixture
async def flags(flags_file: Path) -> AsyncIterator[Flags]:
    loaded = Flags(flags_file, poll_ms=POLL_MS)
    await loaded.start()
    yield loaded
    await loaded.close()


async def test_ten_percent_enables_between_8_5_and_11_5_percent_of_5000_users(flags: Flags) -> None:
    share = len(enabled_users(flags)) / len(USERS)
    print(f"\nwidget-enabled at 10%: {share:.4f} of {len(USERS)} users")
    assert 0.085 <= share <= 0.115


async def test_answers_are_sticky_within_and_across_processes_for_the_same_file(
    flags: Flags, flags_file: Path
) -> None:
    first = enabled_users(flags)
    assert enabled_users(flags) == first
    other = Flags(flags_file, poll_ms=POLL_MS)  # a second provider: same hash, same buckets
    await other.start()
    try:
        assert enabled_users(other) == first
    finally:
        await other.close()


async def test_raising_10_to_25_keeps_every_earlier_user_and_adds_about_15_points(
    flags: Flags, flags_file: Path
) -> None:
    at_10 = enabled_users(flags)
    write_flags_file(flags_file, 25)
    await wait_for(lambda: len(enabled_users(flags)) > len(at_10))
    at_25 = enabled_users(flags)
    share = len(at_25) / len(USERS)
    print(f"\nwidget-enabled at 25%: {share:.4f}; users of 10% kept: {len(at_10 & at_25)}/{len(at_10)}")
    assert at_10 <= at_25
    assert 0.235 <= share <= 0.265


async def test_zero_percent_turns_everyone_off_within_a_poll(flags: Flags, flags_file: Path) -> None:
    assert enabled_users(flags)
    write_flags_file(flags_file, 0)
    took = await wait_for(lambda: not enabled_users(flags), timeout_s=5.0)
    print(f"\nkill switch in force after {took:.2f} s")


async def test_malformed_file_keeps_the_last_good_flags_and_logs_one_error(
    flags: Flags, flags_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = enabled_users(flags)
    caplog.set_level(logging.ERROR, logger="mesh.flags")
    write_raw(flags_file, '{"flags": {"widget-enabled": ')
    await wait_for(lambda: not flags.healthy)
    await asyncio.sleep(5 * POLL_MS / 1000)  # several more polls of the same broken file
    ours = [r for r in caplog.records if r.name == "mesh.flags" and r.levelno == logging.ERROR]
    assert [r.getMessage() for r in ours] == ["flags file rejected; the last good flags stay in force"]
    assert enabled_users(flags) == before

    write_flags_file(flags_file, 25)  # fixing the file brings the new flags in
    await wait_for(lambda: flags.healthy and len(enabled_users(flags)) > len(before))


async def test_a_file_in_the_wrong_shape_is_rejected_like_a_broken_one(
    flags: Flags, flags_file: Path
) -> None:
    before = enabled_users(flags)
    write_raw(flags_file, '{"flags": {"widget-enabled": {"state": "ENABLED"}}}')  # no variants
    await wait_for(lambda: not flags.healthy)
    assert enabled_users(flags) == before


async def test_a_missing_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(FlagsUnavailable, match="does not exist"):
        await Flags(tmp_path / "absent.json").start()


async def test_a_malformed_file_at_start_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    write_raw(path, "not json")
    with pytest.raises(FlagsUnavailable):
        await Flags(path, poll_ms=POLL_MS).start()


async def test_cohort_follows_the_rollout_and_the_writer_follows_the_cohort(
    flags: Flags, flags_file: Path
) -> None:
    inside = next(u for u in USERS if flags.widget_enabled(u))
    outside = next(u for u in USERS if not flags.widget_enabled(u))
    assert (flags.rollout(inside).cohort, flags.rollout(inside).writer) == (COHORT_ON, "gemini")
    assert (flags.rollout(outside).cohort, flags.rollout(outside).writer) == (COHORT_OFF, "local")

    write_flags_file(flags_file, 10, writer_when_on="local")  # a model rollback for the whole cohort
    await wait_for(lambda: flags.rollout(inside).writer == "local")
    assert flags.rollout(inside).cohort == COHORT_ON


@pytest.mark.parametrize(("path", "share"), [(LAUNCH_FLAGS, 0.10), (DEV_FLAGS, 1.0)])
async def test_the_shipped_flag_files_load_launch_at_10_percent_and_dev_at_100(
    path: Path, share: float
) -> None:
    loaded = Flags(path)
    await loaded.start()
    try:
        measured = len(enabled_users(loaded)) / len(USERS)
        studying = [u for u in USERS if loaded.study_mode(u)]
    finally:
        await loaded.close()
    assert abs(measured - share) <= 0.015
    assert studying == [], "nobody is in study mode until testers are listed"


async def test_study_mode_is_on_for_listed_testers_only_and_follows_the_file(
    flags: Flags, flags_file: Path
) -> None:
    assert not any(flags.study_mode(u) for u in USERS[:200])
    write_flags_file(flags_file, 10, study_testers=["tess", "theo"])
    await wait_for(lambda: flags.study_mode("tess"))
    assert flags.study_mode("theo")
    assert [u for u in USERS if flags.study_mode(u)] == []
    assert not flags.study_mode("")
