"""Two prompt versions on the same reviewed cases, side by side: `python -m eval.nlg --compare A,B`.

A prompt change should show its effect on real complaints (the cases exported from thumbs-down answers
and accepted by a reviewer) before it ships. Each side names a set of prompt files:
- `shipped`: agents/nlg/prompts as they are in the working tree;
- `git:REV`: the prompt files as they were at a git revision (`git:main`, `git:HEAD~3`);
- a directory holding prompt files (a copy being edited).
Both sides run through the same Gemini client and the same checks; the table gives each check's pass
rate per side, and the cases whose verdict differs, so a reviewer reads the answers that changed.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agents.nlg.prompts import PROMPTS_DIR, PromptBook, load_prompts

ROOT = Path(__file__).resolve().parent.parent
PROMPTS_IN_REPO = PROMPTS_DIR.relative_to(ROOT).as_posix()


@dataclass
class SideResult:
    """One prompt version's results: counts per check and which cases passed every check."""

    label: str
    tags: str
    passed: Counter[str] = field(default_factory=Counter)
    all_passed: set[str] = field(default_factory=set)


def prompts_at(spec: str, workdir: Path) -> PromptBook:
    """The prompt book a side names (see the module docstring); git revisions are copied into `workdir`."""
    if spec == "shipped":
        return load_prompts()
    if spec.startswith("git:"):
        rev = spec.removeprefix("git:")
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:{PROMPTS_IN_REPO}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        target = workdir / rev.replace("/", "_")
        target.mkdir(parents=True, exist_ok=True)
        for name in (n for n in listed if n.endswith(".toml")):
            text = subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{rev}:{PROMPTS_IN_REPO}/{name}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            (target / name).write_text(text, encoding="utf-8")
        return load_prompts(target)
    return load_prompts(Path(spec))


def book_tags(book: PromptBook) -> str:
    """The versions a book holds (`task_answer@2, help@1, ...`): what the comparison is really between."""
    tags = dict.fromkeys(p.tag for p in book.by_intent.values())
    return ", ".join([book.system.tag, *tags])


def side_by_side(results: Sequence[SideResult], checks: Sequence[str]) -> str:
    """Per-check pass rates in columns, then the cases on which the sides disagree."""
    width = max(12, *(len(r.label) for r in results))
    lines = ["check".ljust(10) + "".join(r.label.rjust(width + 2) for r in results)]
    for check in [*checks, "all"]:
        cells = []
        for r in results:
            total = r.passed["total"] or 1
            cells.append(
                f"{r.passed[check]}/{r.passed['total']} {100 * r.passed[check] / total:3.0f}%".rjust(
                    width + 2
                )
            )
        lines.append(check.ljust(10) + "".join(cells))
    for r in results:
        lines.append(f"{r.label}: {r.tags}")
    if len(results) == 2:
        a, b = results
        for case in sorted(a.all_passed - b.all_passed):
            lines.append(f"  {case}: passes with {a.label}, fails with {b.label}")
        for case in sorted(b.all_passed - a.all_passed):
            lines.append(f"  {case}: fails with {a.label}, passes with {b.label}")
    return "\n".join(lines)


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="prompts-")
