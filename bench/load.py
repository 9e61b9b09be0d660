"""`python -m bench --load`: what a turn costs and how much load the mesh holds, against a raw skeleton.

Parts (`--parts`, all by default):
- skeleton: the raw skeleton (bench/skeleton.py) and the mesh side by side, turns alternating one and one at
  concurrency 1: median, p95, CPU per turn by process; then throughput at 16 and 64 chats, A then B.
- sizes: the mesh on databases holding 0, 10,000 and 100,000 turns (`--sizes`, seeded by bench/seed.py):
  median turn, our CPU and the database server's per turn, a 300-turn conversation's first and last 50.
- concurrency: 16 and 64 chats for `--window` seconds: turns/s, median, p95, failed and refused turns.
- idle: CPU of the whole stack over `--idle-window` seconds, the mesh idle on the largest seeded database.
- tracing: what tracing costs a turn: the mesh as configured (every turn traced and exported when an OTLP
  endpoint is set, as the chart's default sampler does) beside a second mesh whose sampler keeps no trace,
  turns alternating at concurrency 1: our CPU per turn for each.
Figures are printed, never asserted; the goals of issue 8 are printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bench import report
from bench.cpu import DATABASE_SERVER, CpuWindow, Watched, resident_mb, stack_servers
from bench.driver import LoadResult, Target, alternating_turns, median_ms, one_conversation, run_chats
from bench.harness import BenchMesh, running_mesh, stack_env, stack_home
from bench.seed import database_name, ensure_seeded, give_users_tasks
from bench.skeleton import running_skeleton
from bench.sse import TurnOutcome

PARTS = ("skeleton", "sizes", "concurrency", "idle", "tracing")
NO_MODEL = {"GEMINI_API_KEY": "", "GOOGLE_GENAI_USE_VERTEXAI": "false"}
TOKEN_REUSE_S = 600.0  # tokens live 15 minutes; sign a new one well before


def add_arguments(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    parser.add_argument(
        "--sizes", default="0,10000,100000", help="stored turns per database (default 0,10000,100000)"
    )
    parser.add_argument(
        "--window", type=float, default=20.0, help="seconds per concurrency window (default 20)"
    )
    parser.add_argument(
        "--idle-window", type=float, default=30.0, help="seconds of idle measurement (default 30)"
    )
    parser.add_argument(
        "--long-turns", type=int, default=300, help="turns of the long conversation (default 300)"
    )
    parser.add_argument("--chats", default="16,64", help="concurrent chats per window (default 16,64)")


@dataclass
class Findings:
    """What the goals are checked against, filled as the parts run."""

    mesh_cpu_ms: float | None = None
    cost_by_size: dict[int, float] = field(default_factory=dict)  # median turn ms
    failed_at: dict[int, int] = field(default_factory=dict)
    idle_percent: float | None = None


def mesh_target(bench: BenchMesh) -> Target:
    tokens: dict[str, tuple[float, dict[str, str]]] = {}

    def auth(user: str) -> dict[str, str]:
        signed = tokens.get(user)
        if signed is None or time.monotonic() - signed[0] > TOKEN_REUSE_S:
            signed = (time.monotonic(), bench.auth(user))
            tokens[user] = signed
        return signed[1]

    return Target("mesh", bench.mesh.edge_url, auth)


def watched_mesh(bench: BenchMesh) -> list[Watched]:
    return [Watched(name, pid) for name, pid in bench.pids().items()]


def prepare_users(bench: BenchMesh, users: list[str]) -> None:
    asyncio.run(give_users_tasks(bench.mongo_uri, users))


def chat_users(prefix: str, chats: list[int]) -> list[str]:
    return [f"{prefix}-{i:03d}" for i in range(max(chats))]


# ---------------------------------------------------------------------------------------- parts --


def skeleton_and_load(args: argparse.Namespace, parts: set[str], findings: Findings) -> None:
    chats = [int(c) for c in args.chats.split(",") if c]
    with running_mesh(NO_MODEL) as bench:
        prepare_users(bench, ["bench-user", *chat_users("chat", chats)])
        mesh = mesh_target(bench)
        warm = asyncio.run(one_conversation(mesh, 3, user="bench-user"))
        words = max(1, warm[-1].deltas)
        servers = stack_servers(bench.mesh.env, stack_home())
        if "skeleton" in parts:
            with running_skeleton(words) as skeleton:
                print(f"\n== 1. raw skeleton vs mesh (the skeleton streams {words} deltas, as the mesh did)")
                skel = Target("skeleton", skeleton.edge_url, lambda _user: {})
                skel_procs = [Watched(f"skel:{n}", pid) for n, pid in skeleton.pids().items()]
                ours = watched_mesh(bench)
                window = CpuWindow([*skel_procs, *ours, *servers])
                outcomes = asyncio.run(
                    alternating_turns(
                        [skel, mesh], args.turns, user="bench-user", on_measured_start=window.start
                    )
                )
                used = window.stop()
                print("  concurrency 1, turns alternating skeleton / mesh:")
                print(report.latency_line("skeleton turn", outcomes["skeleton"]))
                print(report.latency_line("mesh turn", outcomes["mesh"]))
                skel_ms = _cpu_ms(used, [w.name for w in skel_procs], outcomes["skeleton"])
                mesh_ms = _cpu_ms(used, [w.name for w in ours], outcomes["mesh"])
                findings.mesh_cpu_ms = mesh_ms
                report.cpu_table(
                    "skeleton",
                    {w.name: used[w.name] for w in skel_procs},
                    len(outcomes["skeleton"]),
                    {"skeleton's CPU": [w.name for w in skel_procs]},
                )
                report.cpu_table(
                    "mesh",
                    {w.name: used[w.name] for w in (*ours, *servers)},
                    len(outcomes["mesh"]),
                    {
                        "mesh's own CPU (our processes)": [w.name for w in ours],
                        "database server (ferretdb + postgres)": list(DATABASE_SERVER),
                    },
                )
                median = {k: median_ms([o.seconds for o in v if o.done]) for k, v in outcomes.items()}
                print(
                    f"  ratios mesh/skeleton: median turn {report.ratio(median['mesh'], median['skeleton'])}, "
                    f"own CPU per turn {report.ratio(mesh_ms, skel_ms)}"
                )
                print(f"\n== 1b/3. throughput, skeleton then mesh, {args.window:.0f} s per window")
                report.load_header()
                for n in chats:
                    results: dict[str, LoadResult] = {}
                    for target in (skel, mesh):
                        result = asyncio.run(run_chats(target, n, args.window, user_prefix="chat"))
                        report.load_line(target.name, result)
                        results[target.name] = result
                    findings.failed_at[n] = results["mesh"].failed
                    print(
                        f"  {'':<10} {n:>5} ratio mesh/skeleton turns/s "
                        f"{report.ratio(results['mesh'].turns_per_s, results['skeleton'].turns_per_s)}"
                    )
        else:
            print(f"\n== 3. concurrent chats on the mesh, {args.window:.0f} s per window")
            report.load_header()
            for n in chats:
                alone = asyncio.run(run_chats(mesh, n, args.window, user_prefix="chat"))
                report.load_line("mesh", alone)
                findings.failed_at[n] = alone.failed


def tracing_price(args: argparse.Namespace) -> None:
    """Our CPU per turn with every turn traced (as configured) and with no turn sampled, side by side."""
    untraced_env = {**NO_MODEL, "OTEL_TRACES_SAMPLER": "always_off"}
    with running_mesh(NO_MODEL) as traced, running_mesh(untraced_env) as untraced:
        prepare_users(traced, ["bench-user"])
        prepare_users(untraced, ["bench-user"])
        targets = [mesh_target(traced), replace(mesh_target(untraced), name="untraced")]
        procs = {
            "mesh": watched_mesh(traced),
            "untraced": [Watched(f"untraced:{w.name}", w.pid) for w in watched_mesh(untraced)],
        }
        exported = "exported to " + traced.mesh.env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT", "nowhere (no endpoint)"
        )
        print(f"\n== 5. the price of tracing: every turn traced ({exported}) vs none sampled, alternating")
        window = CpuWindow([*procs["mesh"], *procs["untraced"]])
        outcomes = asyncio.run(
            alternating_turns(targets, args.turns, user="bench-user", on_measured_start=window.start)
        )
        used = window.stop()
        cost = {name: _cpu_ms(used, [w.name for w in procs[name]], outcomes[name]) for name in procs}
        print(report.latency_line("turn, every turn traced", outcomes["mesh"]))
        print(report.latency_line("turn, no turn sampled", outcomes["untraced"]))
        print(
            f"  our CPU per turn: traced {cost['mesh']:.1f} ms, not sampled {cost['untraced']:.1f} ms "
            f"(traced/untraced {report.ratio(cost['mesh'], cost['untraced'])})"
        )


def _cpu_ms(used: dict[str, float], names: list[str], outcomes: list[TurnOutcome]) -> float:
    return sum(used[n] for n in names) * 1000 / max(1, len(outcomes))


def sizes_and_idle(args: argparse.Namespace, parts: set[str], findings: Findings) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    idle_size = max(sizes)
    if "sizes" in parts:
        print("\n== 2. the mesh by stored turns (turns in a new conversation; then one long conversation)")
    base_uri = stack_env()["MONGO_URI"]
    for size in sizes if "sizes" in parts else [idle_size]:
        database = None
        if size > 0:
            print(f"  preparing {database_name(size)}", flush=True)
            database = database_name(size)
            asyncio.run(ensure_seeded(base_uri, size))
        with running_mesh(NO_MODEL, database=database) as bench:
            prepare_users(bench, ["size-user"])
            mesh = mesh_target(bench)
            servers = stack_servers(bench.mesh.env, stack_home())
            ours = watched_mesh(bench)
            if "sizes" in parts:
                _measure_size(args, size, bench, mesh, ours, servers, findings)
            if "idle" in parts and size == idle_size:
                _measure_idle(args, size, ours, servers, findings)


def _measure_size(
    args: argparse.Namespace,
    size: int,
    bench: BenchMesh,
    mesh: Target,
    ours: list[Watched],
    servers: list[Watched],
    findings: Findings,
) -> None:
    print(f"  -- {size} stored turns ({bench.database or 'a new database'})")
    window = CpuWindow([*ours, *servers])
    outcomes = asyncio.run(_after_warm_up(mesh, args.turns, start=window.start))
    used = window.stop()
    print(report.latency_line("turn", outcomes))
    done = [o.seconds for o in outcomes if o.done]
    findings.cost_by_size[size] = median_ms(done)
    own = sum(used[w.name] for w in ours) * 1000 / max(1, len(outcomes))
    db = sum(used.get(n, 0.0) for n in DATABASE_SERVER) * 1000 / max(1, len(outcomes))
    print(f"  {'CPU per turn':<34} mesh's own {own:6.1f} ms   database server {db:6.1f} ms")
    long = asyncio.run(one_conversation(mesh, args.long_turns, user="size-user"))
    head, tail = long[:50], long[-50:]
    first, last = (
        median_ms([o.seconds for o in head if o.done]),
        median_ms([o.seconds for o in tail if o.done]),
    )
    failed = sum(not o.done for o in long)
    print(
        f"  {args.long_turns}-turn conversation: first 50 median {first:.1f} ms, last 50 median {last:.1f} ms "
        f"(last/first {report.ratio(last, first)}){f', FAILED {failed}' if failed else ''}"
    )


async def _after_warm_up(mesh: Target, turns: int, *, start: Callable[[], object]) -> list[TurnOutcome]:
    result = await alternating_turns([mesh], turns, user="size-user", on_measured_start=start)
    return result["mesh"]


def _measure_idle(
    args: argparse.Namespace, size: int, ours: list[Watched], servers: list[Watched], findings: Findings
) -> None:
    settle_s = 5.0
    print(
        f"\n== 4. idle: the mesh on {size} stored turns, nothing sent for {settle_s:.0f} s, "
        f"then measured for {args.idle_window:.0f} s"
    )
    time.sleep(settle_s)
    window = CpuWindow([*ours, *servers]).start()
    time.sleep(args.idle_window)
    used = window.stop()
    percent = {name: s * 100 / args.idle_window for name, s in used.items()}
    cells = ", ".join(f"{n} {p:.2f}" for n, p in sorted(percent.items(), key=lambda kv: -kv[1]))
    print(f"  % of one core by process: {cells}")
    total = sum(percent.values())
    findings.idle_percent = total
    print(
        f"  = whole stack (ours {sum(percent[w.name] for w in ours):.2f} + servers): {total:.2f} % of one core"
    )
    memory = {w.name: resident_mb(w.pid) for w in ours}
    cells = ", ".join(f"{n} {m:.0f}" for n, m in sorted(memory.items(), key=lambda kv: -(kv[1] or 0)) if m)
    print(f"  resident memory of our processes after the run (MB): {cells}")


def print_goals(findings: Findings) -> None:
    print("\n== goals (issue 8)")
    sizes = findings.cost_by_size
    big = max(sizes, default=None)
    if 0 in sizes and big is not None and big > 0:
        r = sizes[big] / sizes[0]
        report.goal("median turn at the largest size within 1.2x of empty", f"{big}: {r:.2f}x", r <= 1.2)
    else:
        report.goal("median turn at the largest size within 1.2x of empty", "not measured", None)
    for n, failed in sorted(findings.failed_at.items()):
        report.goal(f"0 failed turns at {n} concurrent chats", f"{failed} failed", failed == 0)
    if findings.idle_percent is not None:
        pct = findings.idle_percent
        report.goal("idle whole stack under 2% of a core", f"{pct:.2f} %", pct < 2.0)
    if findings.mesh_cpu_ms is not None:
        ms = findings.mesh_cpu_ms
        report.goal("mesh's own CPU per turn under 10 ms", f"{ms:.1f} ms", ms < 10.0)


def run(args: argparse.Namespace) -> None:
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    servers = stack_servers(stack_env(), stack_home())
    print("stack servers watched: " + (", ".join(f"{w.name} (pid {w.pid})" for w in servers) or "none found"))
    print("  (their CPU includes every other client of the same stack: run on a quiet machine to compare)")
    findings = Findings()
    if parts & {"skeleton", "concurrency"}:
        skeleton_and_load(args, parts, findings)
    if parts & {"sizes", "idle"}:
        sizes_and_idle(args, parts, findings)
    if "tracing" in parts:
        tracing_price(args)
    print_goals(findings)
