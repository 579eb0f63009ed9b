"""Every `make <command>` the documentation shows is a command the Makefile has: a renamed or removed
target fails here, not in a reader's terminal."""

from __future__ import annotations

import re

import pytest

from tests.test_docs_links import INLINE_CODE, PAGES, REPOSITORY

FENCED = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n(.*?)^ {0,3}\1", re.MULTILINE | re.DOTALL)
MAKE_COMMAND = re.compile(r"(?<![\w./-])make ((?:[A-Z_]+=\S+ )*)([a-z][a-z0-9-]*)")
TARGETS = set(
    re.findall(r"^([A-Za-z0-9_.-]+):", (REPOSITORY / "Makefile").read_text("utf-8"), re.MULTILINE)
)


def documented_commands(text: str) -> set[str]:
    """The make targets named in code: fenced blocks and inline code spans."""
    code = [block for _, block in FENCED.findall(text)]
    code += [span.group(0) for span in INLINE_CODE.finditer(FENCED.sub("", text))]
    return {match.group(2) for snippet in code for match in MAKE_COMMAND.finditer(snippet)}


@pytest.mark.parametrize("page", PAGES)
def test_every_documented_make_command_exists(page: str) -> None:
    named = documented_commands((REPOSITORY / page).read_text("utf-8"))
    assert sorted(named - TARGETS) == []


def test_documented_commands_are_found_in_code_only() -> None:
    text = (
        "Run `make deploy STACK=dev` and\n```sh\nmake smoke\nmake PULUMI=x preview\n```\nmake sure."
    )
    assert documented_commands(text) == {"deploy", "smoke", "preview"}
