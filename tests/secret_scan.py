"""Looks for secrets and personal data in everything a mesh wrote: its processes' log files and the span
attributes (and span events) Jaeger holds for its services.

What counts (docs/security.md, LLM02): any bearer token or JWT-shaped string, key material (PEM blocks),
and the exact values a test knows are secret (the model key, the canary, the tokens it signed), plus the
personal data a test sent: e-mail addresses (any, by mesh/pii.py's pattern), and the message texts
themselves. A hit names the file and line, or the trace, span and attribute, so a failure says what to fix.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mesh.pii import EMAIL

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
BEARER = re.compile(r"bearer\s+[A-Za-z0-9._~+/=-]{16,}", re.IGNORECASE)
PEM = re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----")
PATTERNS = {"JWT": JWT, "bearer token": BEARER, "key material": PEM, "e-mail address": EMAIL}


@dataclass(frozen=True)
class Hit:
    where: str
    what: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}: …{self.excerpt}…"


def scan_text(text: str, where: str, secrets: Iterable[str]) -> Iterator[Hit]:
    for name, pattern in PATTERNS.items():
        for found in pattern.finditer(text):
            yield Hit(where, name, text[max(0, found.start() - 40) : found.end() + 20])
    for secret in secrets:
        start = text.find(secret)
        if secret and start >= 0:
            yield Hit(where, f"the secret {secret[:6]}…", text[max(0, start - 40) : start + len(secret) + 20])


def scan_logs(log_dir: Path, secrets: Iterable[str]) -> list[Hit]:
    wanted = list(secrets)
    hits: list[Hit] = []
    for path in sorted(log_dir.glob("*.log")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            hits.extend(scan_text(line, f"{path.name}:{number}", wanted))
    return hits


def _values(span: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for tag in span.get("tags", []):
        yield tag.get("key", "?"), str(tag.get("value", ""))
    for event in span.get("logs", []):
        for field in event.get("fields", []):
            yield f"event.{field.get('key', '?')}", str(field.get("value", ""))


def jaeger_spans(query_url: str, services: Iterable[str], since_s: float) -> list[dict[str, Any]]:
    """The spans of these services that started after `since_s` (epoch seconds), as Jaeger's JSON."""
    spans: list[dict[str, Any]] = []
    start_us = int(since_s * 1_000_000)
    with httpx.Client(base_url=query_url, timeout=20) as client:
        for service in services:
            reply = client.get(
                "/api/traces",
                params={
                    "service": service,
                    "start": start_us,
                    "end": int(time.time() * 1_000_000),
                    "limit": 2000,
                },
            )
            reply.raise_for_status()
            for trace in reply.json().get("data") or []:
                spans.extend(trace.get("spans", []))
    return spans


def scan_spans(spans: Iterable[dict[str, Any]], secrets: Iterable[str]) -> list[Hit]:
    wanted = list(secrets)
    hits: list[Hit] = []
    for span in spans:
        where = f"trace {span.get('traceID')} span {span.get('operationName')!r}"
        for key, value in _values(span):
            hits.extend(scan_text(value, f"{where} {key}", wanted))
    return hits
