"""Pieces of the stack's supervision that need no server: cluster ids, probe messages, names, pid files."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from devtools.probes import (
    kafka_broker_count,
    kafka_metadata_request,
    mongo_ping_message,
    mongo_reply_ok,
    redis_ready,
    tcp_open,
)
from devtools.stack.kafka import new_cluster_id, render_config, usable_cluster_id
from devtools.stack.processes import live_pid, pid_alive, process_name
from devtools.stack.settings import StackError, load_settings
from devtools.stack.supervisor import canonical_names


def test_cluster_ids_never_begin_with_a_dash() -> None:
    ids = [new_cluster_id() for _ in range(2000)]
    assert all(usable_cluster_id(cid) and len(cid) == 22 for cid in ids)
    assert not usable_cluster_id("-Abc") and not usable_cluster_id("")


def test_kafka_config_gets_the_stack_ports_and_data_dir() -> None:
    settings = load_settings({"STACK_HOME": "/tmp/h", "STACK_PORT_OFFSET": "10"}, is_root=False, user="u")
    text = render_config("a=@KAFKA_PORT@ b=@KAFKA_CONTROLLER_PORT@ c=@KAFKA_DATA_DIR@", settings)
    assert text == "a=19102 b=19103 c=/tmp/h/data/kafka"


def test_metadata_request_is_size_prefixed_and_answer_counts_brokers() -> None:
    request = kafka_metadata_request(7)
    assert struct.unpack(">i", request[:4])[0] == len(request) - 4
    assert struct.unpack(">hhi", request[4:12]) == (3, 1, 7)
    assert kafka_broker_count(struct.pack(">ii", 7, 1) + b"rest", 7) == 1
    assert kafka_broker_count(struct.pack(">ii", 7, 0), 7) == 0
    assert kafka_broker_count(struct.pack(">ii", 8, 1), 7) == -1


def test_mongo_ping_is_one_op_msg_and_only_ok_one_counts() -> None:
    message = mongo_ping_message()
    length, _, _, opcode = struct.unpack("<iiii", message[:16])
    assert length == len(message) and opcode == 2013
    ok = b"\x01ok\x00" + struct.pack("<d", 1.0)
    assert mongo_reply_ok(2013, b"..." + ok)
    assert not mongo_reply_ok(2013, b"\x01ok\x00" + struct.pack("<d", 0.0))
    assert not mongo_reply_ok(1, ok)


def test_probes_report_a_closed_port_as_not_ready() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert not tcp_open("127.0.0.1", port)
    assert not redis_ready("127.0.0.1", port)


def test_server_names_and_their_aliases() -> None:
    assert canonical_names([]) == ["redis", "kafka", "mongo", "prometheus"]
    assert canonical_names(["ferretdb", "pg", "mongodb"]) == ["mongo", "postgres", "mongo"]
    assert canonical_names(["prom"]) == ["prometheus"]
    with pytest.raises(StackError, match="unknown server 'mysql'"):
        canonical_names(["mysql"])


def test_pid_file_counts_only_for_a_live_process_of_that_program(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    assert pid_alive(os.getpid())
    assert live_pid(pid_file, process_name(os.getpid())) == os.getpid()
    assert live_pid(pid_file, "redis-server") is None  # pid reused by another program
    pid_file.write_text("garbage")
    assert live_pid(pid_file, "python") is None
    assert live_pid(tmp_path / "missing.pid", "python") is None


def test_prometheus_config_scrapes_the_meshes_file_sd_targets_and_loads_the_alerts(tmp_path: Path) -> None:
    import json

    from devtools.stack import prometheus
    from devtools.stack.settings import load_settings

    settings = load_settings({"STACK_HOME": str(tmp_path), "STACK_PORT_OFFSET": "7"})
    config = json.loads(prometheus.render_config(settings))
    (job,) = config["scrape_configs"]
    assert job["file_sd_configs"][0]["files"] == [str(tmp_path / "prometheus" / "targets" / "*.json")]
    assert config["rule_files"][0].endswith("ops/prometheus/alerts.yml")
    assert Path(config["rule_files"][0]).is_file()
    assert settings.port("prometheus") == 19097
