"""`python -m devtools.stack start|stop|restart|status|logs|env|kafka-topics`: what scripts/stack.sh runs
once installs are done. Exit status 1 with `[stack] ERROR: ...` on any failure.
"""

from __future__ import annotations

import os
import sys

from devtools.stack import kafka
from devtools.stack.processes import stack_lock
from devtools.stack.settings import Settings, StackError, load_settings
from devtools.stack.supervisor import STATUS_SERVERS, Supervisor, canonical_names

USAGE = """\
Usage: scripts/stack.sh install
       scripts/stack.sh start  [redis|kafka|mongo|prometheus ...]   (all by default)
       scripts/stack.sh stop   [redis|kafka|mongo ...]   (postgres alone also works)
       scripts/stack.sh restart [names...]
       scripts/stack.sh status
       scripts/stack.sh logs [-f] [names...]
       scripts/stack.sh env                               eval "$(scripts/stack.sh env)"
       scripts/stack.sh kafka-topics ARGS...              TopicCommand against the broker
See docs/stack.md (and the header of scripts/stack.sh for every STACK_* variable)."""


def run(command: str, args: list[str], settings: Settings) -> int:
    supervisor = Supervisor(settings)
    if command in ("start", "stop", "restart"):
        names = canonical_names(args)
        with stack_lock(settings.run_dir):
            if command in ("stop", "restart"):
                supervisor.stop(names)
            if command in ("start", "restart"):
                supervisor.start(names)
    elif command == "status":
        print("\n".join(supervisor.status_line(name) for name in STATUS_SERVERS), flush=True)
    elif command == "env":
        print("\n".join(supervisor.env_lines()), flush=True)
    elif command == "logs":
        follow = bool(args) and args[0] == "-f"
        names = args[1:] if follow else args
        files = supervisor.log_paths(canonical_names(names), all_named=not names)
        if not files:
            raise StackError(f"no logs yet in {settings.log_dir}")
        lines = ["-n", "50", "-F"] if follow else ["-n", str(settings.log_lines)]
        sys.stdout.flush()
        os.execvp("tail", ["tail", *lines, *map(str, files)])
    elif command == "kafka-topics":
        kafka.require_installed(settings)
        options = kafka.java_options(settings, tool=True, log_file=settings.log_dir / "kafka-tools.log")
        bootstrap = f"{settings.host}:{settings.port('kafka')}"
        java = kafka.java()
        os.execv(
            java,
            [java, *options, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bootstrap, *args],
        )
    elif command in ("", "-h", "--help", "help"):
        print(USAGE)
    else:
        print(USAGE, file=sys.stderr)
        raise StackError(f"unknown command '{command}'")
    return 0


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        settings = load_settings(os.environ)
        for d in (settings.home, settings.cache):
            d.mkdir(parents=True, exist_ok=True)
        return run(command, args, settings)
    except StackError as failure:
        print(f"[stack] ERROR: {failure}", file=sys.stderr, flush=True)
        return 1
    except BrokenPipeError:  # `status | head -1`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
