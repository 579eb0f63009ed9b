"""Every relative link and every #anchor in the repository's Markdown resolves, as GitHub renders it:
a page can move or a heading can be renamed, but never leave a reader at a dead link (issue 16). This
replaces tests that pinned README wording; the documentation's facts are checked by the tests of the
behaviour they describe."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
# Links to this repository's own files on GitHub (the alerts' runbook URL) are checked like relative ones.
OWN_BLOB_URL = "https://github.com/bike-sharing/ai-service/blob/main/"
# Pages another part of the work adds. Links to them may dangle until that part is merged: the test
# below fails as soon as one exists, so the exception goes with the merge that brings the page.
AWAITED: frozenset[str] = frozenset()

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s()]+(?:\([^\s()]*\)[^\s()]*)*)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]*)\"", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"<a\b[^>]*?\b(?:name|id)=\"([^\"]*)\"", re.IGNORECASE)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
LINE_ANCHOR = re.compile(r"^L(\d+)(?:-L(\d+))?$")


def listed_files(root: Path) -> set[str]:
    """Tracked files and new ones not ignored: what a clone of the branch would hold."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    )
    return {name for name in listing.stdout.decode("utf-8").split("\0") if name}


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (links and headings there are not rendered)."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None:
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = None
        else:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's heading id: rendered text, lowercase, punctuation other than '-' and '_' removed,
    each space a '-' (github-slugger)."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown page offers: one per heading (duplicates get -1, -2, ...) and
    explicit <a name/id> anchors."""
    found: set[str] = set()
    seen: Counter[str] = Counter()
    for line in prose_lines(text):
        heading = ATX_HEADING.match(line)
        if heading:
            base = slug(heading.group(1))
            found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
            seen[base] += 1
        found.update(HTML_ANCHOR.findall(line))
    return found


def link_targets(text: str) -> list[str]:
    targets: list[str] = []
    for line in prose_lines(text):
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            targets.append(definition.group(1))
            continue
        without_code = INLINE_CODE.sub("", line)
        targets += INLINE_LINK.findall(without_code)
        targets += HTML_LINK.findall(without_code)
    return [target.removeprefix("<").removesuffix(">") for target in targets]


def resolve(page: str, target: str) -> tuple[str, str] | None:
    """The repository path and the anchor a link from `page` points at; None for another site."""
    if target.startswith(OWN_BLOB_URL):
        relative, base = target.removeprefix(OWN_BLOB_URL), PurePosixPath()
    elif SCHEME.match(target) or target.startswith("//"):
        return None  # another site: not ours to check offline
    else:
        relative, base = target, PurePosixPath(page).parent
    location, _, anchor = relative.partition("#")
    location = unquote(location.split("?", 1)[0])
    if not location:
        return page, unquote(anchor)
    parts: list[str] = []
    for part in (base / location).parts:
        if part == ".." and not parts:
            return "<outside the repository>/" + location.lstrip("./"), unquote(anchor)
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts), unquote(anchor)


def anchor_problem(root: Path, path: str, anchor: str) -> str | None:
    """Why `anchor` is not in the file at `path`: headings in Markdown, #L<n> lines elsewhere."""
    text = (root / path).read_text("utf-8")
    if path.endswith(".md"):
        return None if anchor in anchors(text) else f"{path} has no heading #{anchor}"
    lines = LINE_ANCHOR.match(anchor)
    if lines and int(lines.group(2) or lines.group(1)) <= len(text.splitlines()):
        return None
    return f"{path} has no line anchor #{anchor}"


def broken_links(root: Path, page: str, files: set[str]) -> list[str]:
    """What in `page` (a path relative to `root`) does not resolve, one line per dead link."""
    directories = {str(parent) for name in files for parent in PurePosixPath(name).parents}
    problems: list[str] = []
    for target in link_targets((root / page).read_text("utf-8")):
        resolved = resolve(page, target)
        if resolved is None or resolved[0] in AWAITED:
            continue
        path, anchor = resolved
        if path not in files and path not in directories:
            problems.append(f"{target}: no file {path}")
        elif anchor and path in files and (problem := anchor_problem(root, path, anchor)):
            problems.append(f"{target}: {problem}")
        elif anchor and path not in files:
            problems.append(f"{target}: {path} is a directory, it has no #{anchor}")
    return problems


FILES = listed_files(REPOSITORY)
PAGES = sorted(name for name in FILES if name.endswith(".md") and (REPOSITORY / name).is_file())


@pytest.mark.parametrize("page", PAGES)
def test_every_link_and_anchor_resolves(page: str) -> None:
    assert broken_links(REPOSITORY, page, FILES) == []


def test_awaited_pages_are_still_missing() -> None:
    arrived = sorted(page for page in AWAITED if (REPOSITORY / page).exists())
    assert arrived == [], (
        f"{arrived} exist now: remove them from AWAITED so their links are checked"
    )


def test_the_readme_and_the_docs_index_are_checked() -> None:
    assert "README.md" in PAGES
    assert "docs/runbook.md" in PAGES
    readme_links = link_targets((REPOSITORY / "README.md").read_text("utf-8"))
    assert [target for target in readme_links if target.startswith("docs/")], "no docs/ links found"


def orphans(root: Path, files: set[str]) -> list[str]:
    """The docs/ pages and policy/README.md that README.md does not link to."""
    indexed = {
        resolved[0]
        for target in link_targets((root / "README.md").read_text("utf-8"))
        if (resolved := resolve("README.md", target)) is not None
    }
    pages = {name for name in files if re.fullmatch(r"docs/[^/]+\.md", name)} | {"policy/README.md"}
    return sorted((pages & files) - indexed)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    """A page no index reaches is one a reader never finds (issue 16: the README indexes docs/)."""
    assert orphans(REPOSITORY, FILES) == [], "add each to the README's Documentation table"


# The checker itself: GitHub's slugs, and that it reports what it must.


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Dead letters", "dead-letters"),
        ("Versioning (`schema_version`)", "versioning-schema_version"),
        (
            "What a gen2 build needs (and why not `roles/run.builder`)",
            "what-a-gen2-build-needs-and-why-not-rolesrunbuilder",
        ),
        (
            "`cloudfunctionsv2.Function` or `cloudrunv2.Service`?",
            "cloudfunctionsv2function-or-cloudrunv2service",
        ),
        ("Reading the function's logs", "reading-the-functions-logs"),
        ("Vision → Quotas", "vision--quotas"),
        ("See [the runbook](runbook.md)", "see-the-runbook"),
    ],
)
def test_slugs_follow_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected


def test_duplicate_headings_get_numbered_anchors() -> None:
    assert anchors("# Notes\n## Notes\n### Notes\n") == {"notes", "notes-1", "notes-2"}


def test_headings_and_links_inside_code_blocks_do_not_count() -> None:
    text = "```\n# not a heading\n[not](a-link.md)\n```\n# Real\n`[code](x.md)` [real](y.md)\n"
    assert anchors(text) == {"real"}
    assert link_targets(text) == ["y.md"]


def test_the_checker_reports_dead_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "code.py").write_text("one\ntwo\n")
    (tmp_path / "docs" / "runbook.md").write_text("# Runbook\n## Dead letters\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/runbook.md#dead-letters) [ok](src/code.py#L2) [ok](src/) [ok](#title)\n"
        f"[ok]({OWN_BLOB_URL}docs/runbook.md#runbook) [ok](https://example.com/x.md#nope)\n"
        "[gone](docs/missing.md) [bad anchor](docs/runbook.md#dead-letter)\n"
        "[bad line](src/code.py#L3) [outside](../elsewhere.md)\n"
        f"[own bad]({OWN_BLOB_URL}docs/runbook.md#push-backlog) [self](#nothing)\n# Title\n"
    )
    files = {"README.md", "docs/runbook.md", "src/code.py"}
    assert broken_links(tmp_path, "README.md", files) == [
        "docs/missing.md: no file docs/missing.md",
        "docs/runbook.md#dead-letter: docs/runbook.md has no heading #dead-letter",
        "src/code.py#L3: src/code.py has no line anchor #L3",
        "../elsewhere.md: no file <outside the repository>/elsewhere.md",
        f"{OWN_BLOB_URL}docs/runbook.md#push-backlog: docs/runbook.md has no heading #push-backlog",
        "#nothing: README.md has no heading #nothing",
    ]


def test_a_link_to_an_ignored_file_is_dead(tmp_path: Path) -> None:
    """A file only this machine has (a download, a build output) is missing on GitHub."""
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "model.bin").write_text("x")
    (tmp_path / "README.md").write_text("[model](.cache/model.bin)\n")
    assert broken_links(tmp_path, "README.md", {"README.md"}) == [
        ".cache/model.bin: no file .cache/model.bin"
    ]


def test_an_orphan_page_is_reported(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("[deploy](docs/deploy.md#steps) [pack](policy/README.md)\n")
    files = {
        "README.md",
        "docs/deploy.md",
        "docs/orphan.md",
        "docs/sub/deep.md",
        "policy/README.md",
    }
    assert orphans(tmp_path, files) == ["docs/orphan.md"]
