"""The documentation keeps its promises where a machine can check them.

People read the docs instead of the code, so a renamed module, a dropped option, a new widget event or a new
intent must fail here rather than leave a guide that is quietly wrong: every relative link resolves, every
`python -m X ...` and `./dev X` quoted exists with the subcommands and options it shows, and the lists the
integrator's and user guides give (attributes, events, theme properties, HTTP routes, intents) are exactly
the code's.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import re
import runpy
import sys
import warnings
from pathlib import Path
from unittest import mock

import pytest
from assist.v1 import common_pb2

from edge.routes import coordinator_routes
from mesh.intents import TASK_QUESTIONS

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", ROOT / "widget" / "README.md", *(ROOT / "docs").rglob("*.md")])
INTEGRATOR_GUIDE = ROOT / "docs" / "integrator-guide.md"
USER_GUIDES = (ROOT / "docs" / "user-guide.en.md", ROOT / "docs" / "user-guide.pt-BR.md")

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PYTHON_M = re.compile(r"python -m ([A-Za-z_][\w.]*)([^`\n#|]*)")
DEV = re.compile(r"\./dev ([a-z][a-z-]*)")
SUBCOMMAND = re.compile(r"[a-z][a-z-]*")
OPTION = re.compile(r"--[a-z][a-z-]*")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _section(text: str, heading: str) -> str:
    """The text under `heading` (a markdown heading line) up to the next heading of the same or higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n") + len(heading) + 1
    end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(text, start)
    return text[start : end.start() if end else len(text)]


def _table_first_cells(section: str) -> list[str]:
    """The first column of each body row of the markdown tables in `section`."""
    cells = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            cells.append(line.split("|")[1].strip())
    return cells[1:] if cells else cells  # the header row


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_relative_link_resolves(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        if not (doc.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{_rel(doc)} links to missing files: {broken}"


def _quoted_python_commands() -> list[tuple[str, str, str]]:
    """(doc, module, the rest of the command line) for every `python -m MODULE ...` the docs quote."""
    found = []
    for doc in DOCS:
        for match in PYTHON_M.finditer(doc.read_text(encoding="utf-8")):
            found.append((_rel(doc), match.group(1), match.group(2)))
    return found


def _module_source(module: str) -> str:
    """All the source text of a module, or of a package's top-level modules."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    if spec.submodule_search_locations:
        return "\n".join(p.read_text(encoding="utf-8") for p in Path(spec.origin).parent.glob("*.py"))
    return Path(spec.origin).read_text(encoding="utf-8")


class _ParserCaught(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__("caught")
        self.parser = parser


@functools.cache
def _parser(module: str) -> argparse.ArgumentParser:
    """The argparse parser `python -m module` builds, caught when it starts parsing (nothing after runs).

    In-process rather than `--help` in a subprocess: the programs share their heavy imports (gRPC,
    pymongo, the Gemini SDK), so sixteen programs cost seconds instead of more than a minute.
    """

    def catch(self: argparse.ArgumentParser, *_: object, **__: object) -> None:
        raise _ParserCaught(self)

    argv = sys.argv
    sys.argv = [module]
    try:
        with mock.patch.object(argparse.ArgumentParser, "parse_known_args", catch), warnings.catch_warnings():
            # Running a module the suite already imported is what we want: its code, not a fresh copy.
            warnings.filterwarnings("ignore", "'.*' found in sys.modules", RuntimeWarning)
            runpy.run_module(module, run_name="__main__", alter_sys=False)
    except _ParserCaught as caught:
        return caught.parser
    finally:
        sys.argv = argv
    raise AssertionError(f"python -m {module} never parsed its arguments with argparse")


def _subcommands(module: str) -> dict[str, argparse.ArgumentParser]:
    return {
        name: sub
        for action in _parser(module)._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
    }


def _options(module: str, subcommand: str) -> set[str]:
    """The long options `python -m module [subcommand]` accepts."""
    parser = _subcommands(module)[subcommand] if subcommand else _parser(module)
    return {o for action in parser._actions for o in action.option_strings if o.startswith("--")}


def test_every_quoted_python_module_exists_and_runs() -> None:
    missing = []
    for doc, module, _ in _quoted_python_commands():
        if module == "pytest":
            continue
        spec = importlib.util.find_spec(module)
        runnable = spec is not None and (
            not spec.submodule_search_locations or importlib.util.find_spec(module + ".__main__") is not None
        )
        if not runnable:
            missing.append(f"{doc}: python -m {module}")
    assert not missing, missing


def test_every_quoted_subcommand_and_option_exists() -> None:
    """Checked against the program's own --help, so an option the docs show is one argparse accepts."""
    wrong = []
    for doc, module, rest in _quoted_python_commands():
        if module == "pytest" or "argparse" not in _module_source(module):
            continue  # not an argparse program: running it could do real work with the quoted arguments
        words = [w.strip("[]()\"'") for w in rest.split()]
        subcommand = ""
        if _subcommands(module) and words and SUBCOMMAND.fullmatch(words[0]):
            subcommand = words[0]
            if subcommand not in _subcommands(module):
                wrong.append(f"{doc}: python -m {module} {subcommand}")
                continue
        options = {w.split("=")[0] for w in words if OPTION.fullmatch(w.split("=")[0])}
        wrong += [
            f"{doc}: python -m {module} {subcommand} {o}"
            for o in sorted(options - _options(module, subcommand))
        ]
    assert not wrong, f"quoted but not accepted: {wrong}"


def test_every_quoted_dev_command_exists() -> None:
    script = (ROOT / "dev").read_text(encoding="utf-8")
    commands = set(re.findall(r"^\s*([a-z][a-z-]*)\)", script, re.MULTILINE))
    wrong = [
        f"{_rel(doc)}: ./dev {name}"
        for doc in DOCS
        for name in DEV.findall(doc.read_text(encoding="utf-8"))
        if name not in commands
    ]
    assert not wrong, f"./dev knows {sorted(commands)}; the docs also quote {wrong}"


def _widget(path: str) -> str:
    return (ROOT / "widget" / "src" / path).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("doc", "heading"),
    [(INTEGRATOR_GUIDE, "### Attributes"), (ROOT / "widget" / "README.md", "## Attributes")],
    ids=["integrator-guide", "widget-readme"],
)
def test_the_attribute_tables_list_exactly_the_widgets_attributes(doc: Path, heading: str) -> None:
    observed = re.search(r"observedAttributes = \[([^\]]*)\]", _widget("element.ts"))
    assert observed is not None
    attributes = set(re.findall(r'"([a-z-]+)"', observed.group(1)))
    section = _section(doc.read_text(encoding="utf-8"), heading)
    listed = {cell.strip("`") for cell in _table_first_cells(section)}
    assert listed == attributes


def test_integrator_guide_lists_exactly_the_events_the_widget_fires() -> None:
    element, conversation = _widget("element.ts"), _widget("conversation.ts")
    assert "CustomEvent(`assist-chat:${name}`" in element, "events are no longer named assist-chat:<name>"
    names = set(re.findall(r'this\.emit\("([a-z-]+)"', element))
    names |= set(re.findall(r'\{ name: "([a-z-]+)"; detail', conversation))
    section = _section(INTEGRATOR_GUIDE.read_text(encoding="utf-8"), "### What the element tells the page")
    listed = {cell.strip("`") for cell in _table_first_cells(section)}
    assert listed == {f"assist-chat:{name}" for name in names}


def test_integrator_guide_lists_exactly_the_theme_properties() -> None:
    host_rule = re.search(r":host\{([^}]*)\}", _widget("styles.ts"))
    assert host_rule is not None
    defined = set(re.findall(r"(--[a-z-]+):", host_rule.group(1)))
    section = _section(INTEGRATOR_GUIDE.read_text(encoding="utf-8"), "## 6. Theming")
    listed = {name for cell in _table_first_cells(section) for name in re.findall(r"--[a-z-]+", cell)}
    assert listed == defined


def test_integrator_guide_lists_exactly_the_http_routes() -> None:
    section = _section(INTEGRATOR_GUIDE.read_text(encoding="utf-8"), "## 7. The HTTP API")
    listed = {cell.strip("`") for cell in _table_first_cells(section)}
    assert listed == {f"{r.verb} {r.path}" for r in coordinator_routes()}


@pytest.mark.parametrize("guide", USER_GUIDES, ids=_rel)
def test_user_guide_lists_exactly_the_intents_the_assistant_knows(guide: Path) -> None:
    known = {common_pb2.Intent.Name(v).removeprefix("INTENT_") for v in common_pb2.Intent.values()}
    known.discard("UNSPECIFIED")
    rows = [line for line in guide.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    listed = {name for row in rows for name in re.findall(r"`([A-Z_]+)`", row.split("|")[-2])}
    assert listed == known
    task_questions = {common_pb2.Intent.Name(i).removeprefix("INTENT_") for i in TASK_QUESTIONS}
    assert task_questions <= listed
