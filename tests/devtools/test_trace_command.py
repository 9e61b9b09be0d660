"""`python -m devtools.trace`: the span tree printed from Jaeger's JSON."""

from __future__ import annotations

from typing import Any

from devtools.trace import count_spans, render_tree, span_tree, trace_url


def _span(
    span_id: str, name: str, process: str, start: int, duration: int, parent: str = "", ref: str = "CHILD_OF"
) -> dict[str, Any]:
    refs = [{"refType": ref, "traceID": "t", "spanID": parent}] if parent else []
    return {
        "traceID": "t",
        "spanID": span_id,
        "operationName": name,
        "processID": process,
        "startTime": start,
        "duration": duration,
        "references": refs,
    }


TRACE = {
    "processes": {"p1": {"serviceName": "edge"}, "p2": {"serviceName": "coordinator"}},
    "spans": [
        _span("b", "/Converse", "p2", 1_000_500, 9_000, parent="a"),
        _span("a", "POST /v1/x", "p1", 1_000_000, 10_000),
        _span("c", "find", "p2", 1_001_000, 1_500, parent="b", ref="FOLLOWS_FROM"),
        _span("d", "late", "p2", 1_020_000, 700, parent="not-exported"),
    ],
}


def test_spans_nest_under_their_parents_or_links_and_orphans_become_roots() -> None:
    roots = span_tree(TRACE)
    assert [(r.name, r.service) for r in roots] == [("POST /v1/x", "edge"), ("late", "coordinator")]
    assert [c.name for c in roots[0].children] == ["/Converse"]
    assert [c.name for c in roots[0].children[0].children] == ["find"]
    assert count_spans(roots) == 4


def test_the_tree_shows_offset_duration_service_and_depth() -> None:
    lines = render_tree(span_tree(TRACE))
    assert lines[0] == "     +0.0 ms      10.0 ms  [edge] POST /v1/x"
    assert lines[1] == "     +0.5 ms       9.0 ms    [coordinator] /Converse"
    assert lines[2] == "     +1.0 ms       1.5 ms      [coordinator] find"
    assert lines[3] == "    +20.0 ms       0.7 ms  [coordinator] late"


def test_the_api_url_is_the_query_service_trace_endpoint() -> None:
    assert trace_url("http://127.0.0.1:16686/", "ab" * 16) == f"http://127.0.0.1:16686/api/traces/{'ab' * 16}"
