"""Kafka: one KRaft broker+controller from the jars Maven resolved into STACK_CACHE/kafka/libs."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from devtools.probes import kafka_ready
from devtools.stack.kinds import ServerKind
from devtools.stack.processes import say, spawn
from devtools.stack.settings import Settings, StackError


def new_cluster_id() -> str:
    """16 random bytes in URL-safe base64, never beginning with '-'.

    One id in 64 begins with '-', which StorageTool's `--cluster-id` then reads as an option, and the first
    start failed for good; Kafka's own Uuid.randomUuid draws again too.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if usable_cluster_id(cid):
            return cid


def usable_cluster_id(cid: str) -> bool:
    return bool(cid) and not cid.startswith("-")


def render_config(template: str, settings: Settings) -> str:
    """server.properties from stack/kafka/server.properties.in (rewritten on every start)."""
    return (
        template.replace("@KAFKA_PORT@", str(settings.port("kafka")))
        .replace("@KAFKA_CONTROLLER_PORT@", str(settings.port("kafka-controller")))
        .replace("@KAFKA_DATA_DIR@", str(settings.data_dir / "kafka"))
    )


def java_options(settings: Settings, *, tool: bool = False, log_file: Path | None = None) -> list[str]:
    """JVM options for the broker, or (tool) for a short-lived command such as StorageTool."""
    if tool:
        heap = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
    else:
        # The serial collector: a local broker's heap is a few hundred MB and its traffic a trickle, so a
        # young collection is a few ms, and unlike G1 it keeps no concurrent threads and no periodic work
        # while idle (issue 8: the whole stack idle under 2% of a core).
        heap = [*settings.kafka_heap, "-XX:+UseSerialGC"]
    return [
        *heap,
        # No hsperfdata file: its sampler thread wakes every 50 ms to update counters only jstat reads.
        "-XX:-UsePerfData",
        "-Djava.awt.headless=true",
        f"-Dassist.stack.home={settings.home}",
        f"-Dlog4j2.configurationFile={settings.stack_dir / 'kafka' / 'log4j2.xml'}",
        f"-Dstack.log.file={log_file or _log(settings)}",
        f"-Dkafka.logs.dir={settings.log_dir}",
        "-cp",
        f"{settings.kafka_libs}/*",
    ]


def java() -> str:
    binary = shutil.which("java")
    if binary is None:
        raise StackError("'java' is required but not installed (Java 17+ runs the Kafka broker)")
    return binary


def require_installed(settings: Settings) -> None:
    if not (settings.kafka_libs / ".stamp").is_file():
        raise StackError("Kafka is not installed: run scripts/stack.sh install")


def _log(settings: Settings) -> Path:
    return settings.log_dir / "kafka.log"


def _stdout(settings: Settings) -> Path:
    return settings.log_dir / "kafka.stdout.log"


def _format_storage(settings: Settings, config: Path) -> None:
    data = settings.data_dir / "kafka"
    if (data / "meta.properties").is_file():
        return
    id_file = settings.data_dir / "kafka.cluster.id"
    cid = id_file.read_text().strip() if id_file.is_file() else ""
    if not usable_cluster_id(cid):
        cid = new_cluster_id()
        id_file.write_text(cid + "\n")
    say(f"formatting Kafka storage in {data} (cluster id {cid})")
    argv = [java(), *java_options(settings, tool=True), "kafka.tools.StorageTool", "format"]
    argv += ["--config", str(config), "--cluster-id", cid, "--ignore-formatted"]
    with _stdout(settings).open("ab") as out:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise StackError("kafka: storage format failed")


def _launch(settings: Settings) -> int:
    require_installed(settings)
    (settings.data_dir / "kafka").mkdir(parents=True, exist_ok=True)
    settings.kafka_home.mkdir(parents=True, exist_ok=True)
    config = settings.kafka_home / "server.properties"
    template = (settings.stack_dir / "kafka" / "server.properties.in").read_text()
    tmp = config.with_suffix(".properties.tmp")
    tmp.write_text(render_config(template, settings).rstrip("\n") + "\n")
    tmp.replace(config)
    _format_storage(settings, config)
    argv = [java(), *java_options(settings), "kafka.Kafka", str(config)]
    return spawn(argv, _stdout(settings))


KAFKA = ServerKind(
    name="kafka",
    comm="java",
    grace_s=60,
    launch=_launch,
    ready=lambda settings, port: kafka_ready(settings.host, port),
    log_file=_log,
)
