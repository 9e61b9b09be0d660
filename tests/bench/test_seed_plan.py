"""The seeded databases' names and layout, which later runs rely on to find and reuse them."""

from __future__ import annotations

import random

from bench.seed import conversation_lengths, database_name, seeded_uri


def test_database_is_named_after_its_size() -> None:
    assert database_name(100_000) == "bench_seed_100k"
    assert database_name(2500) == "bench_seed_2500"
    assert (
        seeded_uri("mongodb://127.0.0.1:27027/assist", 10_000) == "mongodb://127.0.0.1:27027/bench_seed_10k"
    )


def test_conversations_add_up_to_the_size_with_varied_lengths() -> None:
    lengths = conversation_lengths(10_000, random.Random(1))
    assert sum(lengths) == 10_000
    assert min(lengths) >= 1 and max(lengths) <= 19
    assert 700 <= len(lengths) <= 1500
