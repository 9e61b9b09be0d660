"""CPU accounting from /proc: a process's own time, and a forking server's time including exited children."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from bench.cpu import CpuWindow, Watched, pid_listening_on, process_cpu_s


def _spin(seconds: float) -> None:
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_window_counts_cpu_spent_inside_it() -> None:
    window = CpuWindow([Watched("me", os.getpid())]).start()
    _spin(0.2)
    used = window.stop()
    assert 0.15 <= used["me"] <= 1.0


def test_exited_children_still_count_for_their_parent() -> None:
    before = process_cpu_s(os.getpid(), with_children=True)
    subprocess.run(
        [sys.executable, "-c", "import time\nt=time.process_time()+0.3\nwhile time.process_time()<t: pass"],
        check=True,
    )
    after = process_cpu_s(os.getpid(), with_children=True)
    assert after - before >= 0.25


def test_gone_process_counts_as_no_cpu() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert process_cpu_s(proc.pid) == 0.0


def test_finds_the_process_listening_on_a_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert pid_listening_on(sock.getsockname()[1]) == os.getpid()
