"""A small typed client of the coordinator's gRPC API for internal applications (docs/internal-api.md).

    async with AssistClient("coordinator:50051", tls_dir="/etc/assist/tls") as assist:
        answer = await assist.ask("carol", "What is late?")
        print(answer.text, answer.message_id)

The application authenticates with its own certificate (mutual TLS); the coordinator's internal clients
policy decides which users it may act for and which calls it may make. `python -m assist_client` is the
command line over the same class.
"""

from __future__ import annotations

from assist_client.client import Answer, AssistClient, AssistError, Message, Rating

__all__ = ["Answer", "AssistClient", "AssistError", "Message", "Rating"]
