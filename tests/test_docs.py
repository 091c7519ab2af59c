"""The README and docs/ tell the truth: links and anchors resolve, and every command, verb, option, make target,
file, module, test and URL they name exists."""

from __future__ import annotations

import argparse
import importlib
import re
from functools import cache
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ARCHITECTURE = ROOT / "docs" / "architecture.md"

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target) and ![alt](target), nested ones too
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
MANAGE = re.compile(r"manage\.py\s+([\w-]+)((?:\s+[^\s`]+)*)")
MAKE = re.compile(r"(?<![\w-])make\s+([a-z][\w-]*)")
PY_PATH = re.compile(r"(?<![\w./-])((?:[\w-]+/)+[\w-]+\.py)\b")
URL_PATH = re.compile(r"(?<![\w.:/])(/(?:api|admin|media)/[^\s`'\"(),;]*)")
TEST_NAME = re.compile(r"(?<![\w/.-])(test_\w*[a-z])(?![\w.<])")  # a test function, not a file


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def code(text: str) -> list[str]:
    """The text of every fenced block (a line per command) and every inline code span."""
    blocks = [line for block in FENCE.findall(text) for line in block.splitlines()[1:-1]]
    prose = FENCE.sub("", text)
    return blocks + [span.replace("\n", " ") for span in CODE_SPAN.findall(prose)]


def prose(text: str) -> str:
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    heading = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return frozenset(found)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_and_image_points_to_a_file_and_heading_that_exist(page):
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page_id(page)}: " + "; ".join(broken)


def test_the_readme_is_a_landing_page_and_maps_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme) < 12_000, "the README is a landing page; the manual lives in docs/"
    for section in ("**What they need.**", "**What they do.**", "make run", "make test", "make demo"):
        assert section in readme
    linked = {target.partition("#")[0] for target in LINK.findall(readme)}
    missing = [page_id(p) for p in PAGES[1:] if page_id(p) not in linked]
    assert not missing, f"docs pages the README's map does not link: {missing}"


@cache
def parser_for(command: str) -> argparse.ArgumentParser:
    return load_command_class(get_commands()[command], command).create_parser("manage.py", command)


def parsers_named(parser: argparse.ArgumentParser, words: list[str], shown: str, problems: list[str]):
    """The parsers that `words` (what follows a command in the docs) lead to through its verbs ("a|b": either);
    a verb the parser does not offer is added to `problems`."""
    if not words or not re.fullmatch(r"[a-z][\w-]*(\|[a-z][\w-]*)*", words[0]):
        return [parser]  # an option, a placeholder (ID, <task-id>, NAME) or nothing: no verb named
    positional = next((a for a in parser._actions if not a.option_strings and a.dest != "help"), None)
    if positional is None or positional.choices is None:
        return [parser]  # the command takes free arguments, not verbs
    reached = []
    for verb in words[0].split("|"):
        if verb not in positional.choices:
            problems.append(f"`{shown}`: {verb!r} is not one of {sorted(positional.choices)}")
        elif isinstance(positional, argparse._SubParsersAction):
            reached += parsers_named(positional.choices[verb], words[1:], shown, problems)
        else:
            reached.append(parser)
    return reached


def command_mentions(text: str) -> list[tuple[str, list[str]]]:
    """(command, following words) for every `manage.py X ...` and every code span that starts with a command."""
    mentions = []
    for snippet in code(text):
        # "stats | health" and "list | add NAME" are alternatives of one verb position
        snippet = re.sub(r"\s+\|\s+", "|", snippet)
        for name, rest in MANAGE.findall(snippet):
            mentions.append((name, rest.split()))
        first, *rest = snippet.split() or [""]
        if first in get_commands() and "manage.py" not in snippet:
            mentions.append((first, rest))
    return mentions


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_manage_py_command_verb_and_option_named_exists(page):
    commands = get_commands()
    problems = []
    for name, words in command_mentions(page.read_text()):
        words = words[: words.index("#")] if "#" in words else words  # a shell comment ends the command
        shown = " ".join(["manage.py", name, *words])
        if name not in commands:
            problems.append(f"`{shown}`: no command {name!r}")
            continue
        parsers = parsers_named(parser_for(name), words, shown, problems)
        for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", " ".join(words)):
            if parsers and not any(option in p._option_string_actions for p in parsers):
                problems.append(f"`{shown}`: no option {option}")
    assert not problems, f"{page_id(page)}: " + "; ".join(problems)


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_make_target_named_exists(page):
    named = {target for snippet in code(page.read_text()) for target in MAKE.findall(snippet)}
    missing = named - make_targets()
    assert not missing, f"{page_id(page)} names make targets the Makefile lacks: {sorted(missing)}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_python_file_and_test_named_exists(page):
    snippets = code(page.read_text())
    missing = [path for s in snippets for path in PY_PATH.findall(s) if not (ROOT / path).exists()]
    tests_source = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    missing += [
        name for s in snippets for name in TEST_NAME.findall(s) if not re.search(rf"def {name}\b", tests_source)
    ]
    assert not missing, f"{page_id(page)} names files or tests that do not exist: {missing}"


def dotted_problem(dotted: str) -> str | None:
    """Why the dotted name `app.module[.attribute]` does not resolve, if it does not."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        module_path = ROOT.joinpath(*parts[:split])
        if module_path.with_suffix(".py").exists() or (module_path / "__init__.py").exists():
            break
    else:
        return f"{dotted}: no module"
    obj = importlib.import_module(".".join(parts[:split]))
    for attribute in parts[split:]:
        if not hasattr(obj, attribute):
            return f"{dotted}: {'.'.join(parts[:split])} has no {attribute!r}"
        obj = getattr(obj, attribute)
    return None


def test_every_module_and_name_in_the_architecture_page_exists():
    text = ARCHITECTURE.read_text()
    apps = "queue_app|jobs|proposals|applications|upwork_automation"
    paths = set(re.findall(rf"\b((?:{apps})/[\w/]*\.py)\b", text))
    dotted = set(re.findall(rf"\b((?:{apps})(?:\.[A-Za-z_]\w*)+)", text))
    assert len(paths) >= 8, "the architecture page names the modules it describes"
    folders = set(re.findall(rf"\b((?:{apps})/(?:\w+/)+)(?![\w.])", text))
    problems = [f"{path}: no file" for path in sorted(paths) if not (ROOT / path).is_file()]
    problems += [f"{folder}: no folder" for folder in sorted(folders) if not (ROOT / folder).is_dir()]
    problems += [problem for name in sorted(dotted) if (problem := dotted_problem(name.removesuffix(".py")))]
    # `path.py:name` names a function or class (or Class.method) defined in that module
    for path, name in re.findall(rf"\b((?:{apps})/[\w/]*\.py):([A-Za-z_][\w.]*\w)", text):
        module = path.removesuffix(".py").replace("/", ".")
        if (ROOT / path).exists() and (problem := dotted_problem(f"{module}.{name}")):
            problems.append(f"{path}:{name}: {problem}")
    assert not problems, "docs/architecture.md: " + "; ".join(problems)


def url_problem(path: str) -> str | None:
    """Why `path` (placeholders like {id} allowed) resolves to no view, if it does not."""
    if "…" in path or path.count("/") < 3:  # a prefix: "/api/queue/metrics/…", "/media/"
        return None
    stems = {re.sub(r"\{[^}]*\}", value, path) for value in ("1", "00000000-0000-0000-0000-000000000001", "x")}
    for candidate in stems:
        try:
            resolve(candidate.split("?")[0])
            return None
        except Resolver404:
            continue
    return f"{path}: no URL pattern matches"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_url_path_named_resolves_to_a_view(page):
    text = page.read_text()
    paths = {path for snippet in code(text) for path in URL_PATH.findall(snippet)}
    paths |= set(re.findall(r"http://127\.0\.0\.1:8000(/[^\s|)]*)", text))
    problems = [problem for path in sorted(paths) if (problem := url_problem(path))]
    assert not problems, f"{page_id(page)}: " + "; ".join(problems)


def test_the_scheduling_page_lists_every_default_schedule_with_its_cron():
    from queue_app.scheduling import default_schedules

    rows = {}
    for line in (ROOT / "docs" / "scheduling.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4:
            rows[cells[0]] = cells[2]
    for default in default_schedules():
        assert default.name in rows, f"docs/scheduling.md has no row for the default schedule {default.name}"
        documented = CODE_SPAN.search(rows[default.name]).group(1)
        assert documented in (default.cron_expression, default.cron_expression.format(hours="9-16", days="1-5"))
