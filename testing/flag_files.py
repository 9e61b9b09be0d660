"""Flag files for tests and tools: the shipped shape (flags/flags.json) with the rollout percentage changed.

Written the way Kubernetes updates a mounted ConfigMap, whole and at once (a new file renamed over the old
one), so a watcher never reads half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_FLAGS = ROOT / "flags" / "flags.json"
DEV_FLAGS = ROOT / "flags" / "dev.json"


def flags_document(
    widget_percent: int, *, writer_when_on: str = "gemini", study_testers: Sequence[str] = ()
) -> dict[str, Any]:
    """The shipped flags with `widget-enabled` at `widget_percent`, rollout-on users' writer set, and
    `study_testers` in the usability study's cohort (`study-mode`)."""
    if not 0 <= widget_percent <= 100:
        raise ValueError(f"a percentage is 0 to 100, not {widget_percent}")
    doc: dict[str, Any] = json.loads(LAUNCH_FLAGS.read_text(encoding="utf-8"))
    widget = doc["flags"]["widget-enabled"]["targeting"]["fractional"]
    widget[1] = ["on", widget_percent]
    widget[2] = ["off", 100 - widget_percent]
    doc["flags"]["writer"]["targeting"]["if"][1] = writer_when_on
    doc["flags"]["study-mode"]["targeting"]["if"][0]["in"][1] = list(study_testers)
    return doc


def write_flags_file(
    path: Path, widget_percent: int, *, writer_when_on: str = "gemini", study_testers: Sequence[str] = ()
) -> None:
    """Replace `path` with the flags at `widget_percent` (and `study_testers` in study mode), atomically."""
    doc = flags_document(widget_percent, writer_when_on=writer_when_on, study_testers=study_testers)
    write_raw(path, json.dumps(doc, indent=2))


def write_raw(path: Path, text: str) -> None:
    """Replace `path` with `text` (which may be malformed on purpose), atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
