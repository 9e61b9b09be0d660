"""`python -m assist_client`: ask the assistant for a user, list a conversation, rate an answer.

    python -m assist_client ask carol "What is late?"
    python -m assist_client list CONVERSATION_ID --user carol
    python -m assist_client feedback MESSAGE_ID up --user carol

The coordinator is COORDINATOR_ADDR (default 127.0.0.1:50051, `./dev up`'s) and the client's certificate
MESH_TLS_DIR (default .local/tls/assist-cli, made by the development launcher); --addr and --tls-dir
override them. Exit status 1 on a refused or failed call, with the server's reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from assist_client.client import AssistClient, AssistError

ROOT = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assist_client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--addr", default=os.environ.get("COORDINATOR_ADDR") or "127.0.0.1:50051")
    parser.add_argument(
        "--tls-dir",
        type=Path,
        default=Path(os.environ.get("MESH_TLS_DIR") or ROOT / ".local" / "tls" / "assist-cli"),
        help="ca.crt, tls.crt and tls.key of this client",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="ask a question for a user; prints the answer as it streams")
    ask.add_argument("user")
    ask.add_argument("question")
    ask.add_argument("--conversation", help="continue this conversation (default: a new one)")
    listing = commands.add_parser("list", help="the messages of a conversation")
    listing.add_argument("conversation")
    listing.add_argument("--user", required=True, help="whose conversation it is")
    feedback = commands.add_parser("feedback", help="thumbs up or down on an assistant message")
    feedback.add_argument("message")
    feedback.add_argument("rating", choices=["up", "down"])
    feedback.add_argument("--user", required=True, help="who gives the feedback")
    feedback.add_argument("--comment", default="")
    return parser


async def _run(args: argparse.Namespace) -> None:
    async with AssistClient(args.addr, args.tls_dir) as assist:
        if args.command == "ask":
            answer = await assist.ask(
                args.user,
                args.question,
                conversation_id=args.conversation,
                on_text=lambda text: print(text, end="", flush=True),
            )
            print(f"\n\nconversation: {answer.conversation_id}\nmessage:      {answer.message_id}")
            print(f"intent:       {answer.intent or '-'}")
            if answer.degraded:
                print(f"degraded:     {', '.join(answer.degraded)}")
        elif args.command == "list":
            for message in await assist.list_messages(args.user, args.conversation):
                when = message.created_at.isoformat(timespec="seconds") if message.created_at else ""
                print(f"[{when}] {message.role} {message.message_id}\n{message.text}\n")
        else:
            feedback_id = await assist.feedback(args.user, args.message, args.rating, comment=args.comment)
            print(f"feedback: {feedback_id}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_run(args))
    except AssistError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
