"""What the three dashboards show: plain data (title, unit, PromQL per series), no SDK types.

Every selector carries `mesh=~"$mesh"`: the label each scrape target of a mesh has (the local launcher's
file_sd targets; in a cluster, the Prometheus scrape configuration sets it to the release), so one Grafana
or one local Prometheus can tell meshes apart. `$__rate_interval` is Grafana's; the live test and the
renderer put a window in its place.
"""

from __future__ import annotations

from dataclasses import dataclass

M = 'mesh=~"$mesh"'
W = "$__rate_interval"


@dataclass(frozen=True)
class Series:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    series: tuple[Series, ...]
    description: str = ""
    kind: str = "timeseries"  # or "stat"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[Panel, ...]], ...]


def _quantiles(metric: str, by: str, title: str, unit: str = "s", extra: str = "") -> Panel:
    sel = f"{M}{extra}"
    return Panel(
        title,
        unit,
        tuple(
            Series(
                f"histogram_quantile({q}, sum by (le{', ' + by if by else ''}) (rate({metric}_bucket{{{sel}}}[{W}])))",
                f"p{int(q * 100)}" + (f" {{{{{by}}}}}" if by else ""),
            )
            for q in (0.5, 0.95, 0.99)
        ),
    )


def _red(metric: str, by: str, ok: str, what: str) -> tuple[Panel, ...]:
    """Rate, errors (share of non-OK statuses) and duration percentiles of one hop, by `by`.

    Ratios are written `1 - good / all`, so a hop without errors shows 0 rather than no data.
    """
    return (
        Panel(
            f"{what}: requests per second",
            "reqps",
            (Series(f"sum by ({by}) (rate({metric}_count{{{M}}}[{W}]))", f"{{{{{by}}}}}"),),
        ),
        Panel(
            f"{what}: error ratio",
            "percentunit",
            (
                Series(
                    f"1 - sum by ({by}) (rate({metric}_count{{{M},{ok}}}[{W}]))"
                    f" / sum by ({by}) (rate({metric}_count{{{M}}}[{W}]))",
                    f"{{{{{by}}}}}",
                ),
            ),
            description="Share of calls whose status is an error (gRPC non-OK, HTTP 5xx).",
        ),
        Panel(
            f"{what}: p95 duration",
            "s",
            (
                Series(
                    f"histogram_quantile(0.95, sum by (le, {by}) (rate({metric}_bucket{{{M}}}[{W}])))",
                    f"{{{{{by}}}}}",
                ),
            ),
        ),
    )


PERFORMANCE = Dashboard(
    uid="assist-performance",
    title="Assist: performance",
    description="RED per hop (edge HTTP, each gRPC server, the caller's side of each hop), turn latency, saturation.",
    rows=(
        (
            "Edge (HTTP)",
            _red(
                "http_server_request_duration_seconds",
                "http_route",
                'http_response_status_code!~"5.."',
                "Edge",
            ),
        ),
        (
            "gRPC servers",
            _red("rpc_server_duration_seconds", "rpc_service", 'rpc_grpc_status_code="0"', "Served"),
        ),
        (
            "gRPC clients (coordinator -> agents, edge -> coordinator)",
            _red("rpc_client_duration_seconds", "rpc_service", 'rpc_grpc_status_code="0"', "Called"),
        ),
        (
            "Turns",
            (
                _quantiles("assist_turn_duration_seconds", "", "Turn latency"),
                _quantiles("assist_turn_time_to_first_text_seconds", "", "Time to first text"),
                Panel(
                    "Turn outcomes per second",
                    "ops",
                    (Series(f"sum by (outcome) (rate(assist_turns_total{{{M}}}[{W}]))", "{{outcome}}"),),
                ),
            ),
        ),
        (
            "Saturation",
            (
                Panel(
                    "Turns in flight",
                    "short",
                    (Series(f"sum by (component) (assist_turns_in_flight{{{M}}})", "{{component}}"),),
                ),
                Panel(
                    "Circuit breakers (0 closed, 1 half-open, 2 open)",
                    "short",
                    (Series(f"max by (agent) (assist_circuit_breaker_state{{{M}}})", "{{agent}}"),),
                ),
                Panel(
                    "Process CPU (cores)",
                    "short",
                    (
                        Series(
                            f"sum by (component) (rate(process_cpu_seconds_total{{{M}}}[{W}]))",
                            "{{component}}",
                        ),
                    ),
                ),
                Panel(
                    "Outbox backlog and consumer lag",
                    "short",
                    (
                        Series(
                            f"sum by (collection) (assist_outbox_backlog{{{M}}})", "backlog {{collection}}"
                        ),
                        Series(f"sum by (topic) (assist_consumer_lag{{{M}}})", "lag {{topic}}"),
                    ),
                ),
                _quantiles("assist_outbox_relay_lag_seconds", "", "Relay lag (stored -> in Kafka)"),
            ),
        ),
    ),
)

ENGAGEMENT = Dashboard(
    uid="assist-engagement",
    title="Assist: engagement",
    description="Conversations, turns per conversation, thumbs, CSAT, hand-off rate, top intents.",
    rows=(
        (
            "Use",
            (
                Panel(
                    "Conversations started per minute",
                    "short",
                    (
                        Series(
                            f'sum(rate(rpc_server_duration_seconds_count{{{M},rpc_method="CreateConversation",rpc_grpc_status_code="0"}}[{W}])) * 60',
                            "conversations/min",
                        ),
                    ),
                ),
                Panel(
                    "Turns per conversation",
                    "short",
                    (
                        Series(
                            f'sum(increase(assist_turns_total{{{M},outcome!="failed"}}[1h]))'
                            f' / sum(increase(rpc_server_duration_seconds_count{{{M},rpc_method="CreateConversation",rpc_grpc_status_code="0"}}[1h]))',
                            "turns/conversation (1 h)",
                        ),
                    ),
                ),
                Panel(
                    "Top intents (turns, 1 h)",
                    "short",
                    (
                        Series(
                            f"topk(5, sum by (intent) (increase(assist_turn_intents_total{{{M}}}[1h])))",
                            "{{intent}}",
                        ),
                    ),
                ),
                Panel(
                    "Hand-off rate",
                    "percentunit",
                    (
                        Series(
                            f'1 - sum(rate(assist_turn_intents_total{{{M},intent!="human_handoff"}}[{W}]))'
                            f" / sum(rate(assist_turn_intents_total{{{M}}}[{W}]))",
                            "asked for a person",
                        ),
                    ),
                ),
            ),
        ),
        (
            "Satisfaction",
            (
                Panel(
                    "Thumbs up ratio",
                    "percentunit",
                    (
                        Series(
                            f'sum(increase(assist_feedback_total{{{M},rating="up"}}[1h]))'
                            f" / sum(increase(assist_feedback_total{{{M}}}[1h]))",
                            "up / all (1 h)",
                        ),
                    ),
                ),
                Panel(
                    "Ratings per minute",
                    "short",
                    (
                        Series(
                            f"sum by (rating) (rate(assist_feedback_total{{{M}}}[{W}])) * 60", "{{rating}}"
                        ),
                    ),
                ),
                Panel(
                    "CSAT (mean score 1-5, 1 h)",
                    "short",
                    (
                        Series(
                            f"sum(increase(assist_satisfaction_score_sum{{{M}}}[1h]))"
                            f" / sum(increase(assist_satisfaction_score_count{{{M}}}[1h]))",
                            "CSAT",
                        ),
                    ),
                ),
            ),
        ),
    ),
)


def _by_cohort(title: str, unit: str, expr: str) -> Panel:
    return Panel(title, unit, (Series(expr, "{{cohort}}"),))


ROLLOUT = Dashboard(
    uid="assist-rollout",
    title="Assist: rollout (cohorts side by side)",
    description="Every turn metric by rollout cohort: the gates of docs/launch.md read these panels.",
    rows=(
        (
            "Cohorts",
            (
                _by_cohort(
                    "Turns per second", "ops", f"sum by (cohort) (rate(assist_turns_total{{{M}}}[{W}]))"
                ),
                _by_cohort(
                    "Failed turns ratio",
                    "percentunit",
                    f'1 - sum by (cohort) (rate(assist_turns_total{{{M},outcome!="failed"}}[{W}]))'
                    f" / sum by (cohort) (rate(assist_turns_total{{{M}}}[{W}]))",
                ),
                _by_cohort(
                    "Degraded answers ratio",
                    "percentunit",
                    f'1 - sum by (cohort) (rate(assist_turns_total{{{M},outcome="answered"}}[{W}]))'
                    f' / sum by (cohort) (rate(assist_turns_total{{{M},outcome=~"answered|degraded"}}[{W}]))',
                ),
                _by_cohort(
                    "Time to first text p95",
                    "s",
                    f"histogram_quantile(0.95, sum by (le, cohort) (rate(assist_turn_time_to_first_text_seconds_bucket{{{M}}}[{W}])))",
                ),
                _by_cohort(
                    "Turn latency p95",
                    "s",
                    f"histogram_quantile(0.95, sum by (le, cohort) (rate(assist_turn_duration_seconds_bucket{{{M}}}[{W}])))",
                ),
                Panel(
                    "Writer mix by cohort",
                    "ops",
                    (
                        Series(
                            f"sum by (cohort, writer) (rate(assist_turns_total{{{M}}}[{W}]))",
                            "{{cohort}} {{writer}}",
                        ),
                    ),
                ),
                _by_cohort(
                    "Cache answers ratio",
                    "percentunit",
                    f'1 - sum by (cohort) (rate(assist_turns_total{{{M},writer!="cache"}}[{W}]))'
                    f" / sum by (cohort) (rate(assist_turns_total{{{M}}}[{W}]))",
                ),
                Panel(
                    "Thumbs by cohort (1 h)",
                    "short",
                    (
                        Series(
                            f"sum by (cohort, rating) (increase(assist_feedback_total{{{M}}}[1h]))",
                            "{{cohort}} {{rating}}",
                        ),
                    ),
                ),
            ),
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (PERFORMANCE, ENGAGEMENT, ROLLOUT)
