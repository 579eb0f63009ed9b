"""One source for every key: Pulumi.yaml's config block and docs/configuration.md are generated from
the declarations (infra/settings.py, function/labeling/config.py) by `make configuration`, and what
Pulumi hands the program from Pulumi.yaml is what the program itself defaults to."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.configuration import CONFIGURATION_MD, PULUMI_YAML, rendered
from infra.settings import CONFIG_KEYS, DEFAULT_REGION, DEFAULTS, KEYS, Key, load_settings
from labeling.config import VARIABLES, Variable


@pytest.mark.parametrize("path", [PULUMI_YAML, CONFIGURATION_MD], ids=lambda path: path.name)
def test_the_generated_reference_is_current(path: Path) -> None:
    on_disk, expected = path.read_text(), rendered(path)
    difference = "".join(
        difflib.unified_diff(
            on_disk.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            "on disk",
            "from the declarations",
        )
    )
    assert on_disk == expected, (
        f"{path.name} is out of date: run `make configuration`\n{difference}"
    )


def test_pulumi_yaml_hands_the_program_its_own_defaults() -> None:
    """Pulumi fills every unset key from Pulumi.yaml's default, as text (a YAML false as "false")."""
    config = yaml.safe_load(PULUMI_YAML.read_text())["config"]
    assert config["gcp:region"] == {"value": DEFAULT_REGION}
    declared = {name: entry for name, entry in config.items() if ":" not in name}
    assert list(declared) == list(CONFIG_KEYS)
    as_pulumi_sends = {
        name: str(entry["default"]).lower()
        if isinstance(entry["default"], bool)
        else str(entry["default"])
        for name, entry in declared.items()
    }
    assert as_pulumi_sends == DEFAULTS
    assert load_settings("p", None, as_pulumi_sends) == load_settings("p", None, {})


def _numbers(text: str) -> set[float]:
    return {float(number) for number in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text)}


def _declared_numbers(declaration: Key[Any] | Variable[Any]) -> set[float]:
    """A declaration's default and the ends of its range, where they are numbers."""
    numbers = _numbers(declaration.default or "")
    for end in (getattr(declaration.kind, "low", None), getattr(declaration.kind, "high", None)):
        if isinstance(end, (int, float)) and math.isfinite(end):
            numbers.add(float(end))
    return numbers


def test_no_meaning_restates_a_declared_range_or_default() -> None:
    """The generated tables show each default and range from its declaration; a meaning that writes
    one again goes stale when the declaration changes ("1 to 50 ... at most 100")."""
    declarations: tuple[Key[Any] | Variable[Any], ...] = (*KEYS, *VARIABLES)
    restated = {
        declaration.name: sorted(_numbers(declaration.meaning) & _declared_numbers(declaration))
        for declaration in declarations
    }
    assert {name: numbers for name, numbers in restated.items() if numbers} == {}, (
        "these meanings restate their declared default or range: say it in words (the default, "
        "the largest value) or drop it; the tables show the numbers"
    )
