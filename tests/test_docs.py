"""Documentation hygiene: no citation of notes outside the repository; every
`docs/theory.md#anchor` (or results.md, guide.md) cited in a tracked file names a heading of that
page; every relative link and picture of README.md and docs/*.md resolves, anchors included, with
slugs that GitHub and the mkdocs site agree on; every gallery picture is shown somewhere.
`make docs` (mkdocs --strict) checks the same links again in the built site."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THEORY = ROOT / "docs" / "theory.md"
DOCS = ROOT / "docs"
GALLERY = ROOT / "figures" / "gallery"

# Citations of notes that never shipped with the repository. Case-sensitive substrings.
FORBIDDEN = ("shared/science", "slow_sde.md", "slow_sde_details", "linear_nets_and_quadratics")

# Files exempt from the check (none: every file cites docs/theory.md or a paper).
EXCLUDED_FOR_NOW: tuple[str, ...] = ()

ANCHOR_RE = re.compile(r"docs/theory\.md#([A-Za-z0-9_\-]+)")


def slugify(heading: str) -> str:
    """GitHub/mkdocs-style anchor of a heading: lowercase, drop punctuation except hyphens and
    spaces, spaces → hyphens ('6.4 Finite-time extinction' → '64-finite-time-extinction')."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def theory_anchors() -> set[str]:
    anchors, in_code = set(), False
    for line in THEORY.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            anchors.add(slugify(m.group(1)))
    return anchors


def tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = []
    for name in out.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or name == "tests/test_docs.py":
            continue
        try:
            path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary (figures, archives)
        files.append(path)
    return files


def test_slugify_matches_github():
    assert slugify("6. Diagonal net") == "6-diagonal-net"
    assert slugify("4.3 Corrected adaptive Slow SDE") == "43-corrected-adaptive-slow-sde"
    assert slugify("Adam's slow flow with v as a state") == "adams-slow-flow-with-v-as-a-state"


def test_theory_headings_are_ascii_and_unique():
    headings = [ln for ln in THEORY.read_text(encoding="utf-8").splitlines() if re.match(r"#{1,6}\s", ln)]
    assert all(h.isascii() for h in headings), [h for h in headings if not h.isascii()]
    slugs = [slugify(re.sub(r"^#+\s+", "", h)) for h in headings]
    assert len(slugs) == len(set(slugs))


def test_no_citation_of_missing_notes():
    hits = []
    for path in tracked_text_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel in EXCLUDED_FOR_NOW:
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(s in line for s in FORBIDDEN):
                hits.append(f"{rel}:{i}: {line.strip()}")
    assert not hits, "cite docs/theory.md instead:\n" + "\n".join(hits)


def test_theory_anchors_resolve():
    anchors = theory_anchors()
    missing = []
    for path in tracked_text_files() + [THEORY]:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for anchor in ANCHOR_RE.findall(line):
                if anchor not in anchors:
                    missing.append(f"{path.relative_to(ROOT).as_posix()}:{i}: #{anchor}")
    # in-page links of docs/theory.md itself
    for anchor in re.findall(r"\]\(#([A-Za-z0-9_\-]+)\)", THEORY.read_text(encoding="utf-8")):
        if anchor not in anchors:
            missing.append(f"docs/theory.md: #{anchor}")
    assert not missing, "unknown docs/theory.md anchors:\n" + "\n".join(missing)


# --- every page of the documentation: README.md (the user guide) and docs/*.md -------------------

DOC_CITATION_RE = re.compile(r"docs/([A-Za-z0-9_\-]+)\.md#([A-Za-z0-9_\-]+)")
LINK_RE = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def mkdocs_slugify(heading: str) -> str:
    """The site's anchor of a heading: Python-Markdown's toc.slugify (NFKD, ASCII only, runs of
    hyphens and spaces → one hyphen)."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, in_code = [], False
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code:
            out.append((i, line))
    return out


def headings(path: Path) -> list[str]:
    return [m.group(1) for _, line in prose_lines(path) if (m := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line))]


def anchors_of(path: Path) -> set[str]:
    return {slugify(h.replace("`", "")) for h in headings(path)}


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_headings_give_the_same_anchor_on_github_and_the_site(page):
    heads = [h.replace("`", "") for h in headings(page)]
    assert all(h.isascii() for h in heads), [h for h in heads if not h.isascii()]
    differ = [h for h in heads if slugify(h) != mkdocs_slugify(h)]
    assert not differ, f"GitHub and mkdocs slug these differently (avoid ' - ', '=', doubled spaces): {differ}"
    slugs = [slugify(h) for h in heads]
    assert len(slugs) == len(set(slugs)), sorted({s for s in slugs if slugs.count(s) > 1})


def test_doc_citations_resolve():
    """`docs/NAME.md#anchor` in any tracked file (docstrings, README) names a heading of that page."""
    missing = []
    for path in [*tracked_text_files(), *doc_pages()]:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for name, anchor in DOC_CITATION_RE.findall(line):
                page = DOCS / f"{name}.md"
                if not page.is_file() or anchor not in anchors_of(page):
                    missing.append(f"{path.relative_to(ROOT).as_posix()}:{i}: docs/{name}.md#{anchor}")
    assert not missing, "unknown documentation anchors:\n" + "\n".join(missing)


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_and_pictures_resolve(page):
    broken = []
    for i, line in prose_lines(page):
        for target in LINK_RE.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"[a-z][a-z0-9+.\-]*:", target):
                continue  # a URL
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            where = f"{page.relative_to(ROOT).as_posix()}:{i}: {target}"
            if not dest.exists():
                broken.append(where + " (no such file)")
            elif not dest.is_relative_to(ROOT):
                broken.append(where + " (outside the repository)")
            elif anchor and (dest.suffix != ".md" or anchor not in anchors_of(dest)):
                broken.append(where + " (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_gallery_picture_is_shown():
    """A picture in figures/gallery/ that no page shows is dead weight (or a lost result)."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in doc_pages())
    unshown = [p.name for p in sorted(GALLERY.glob("*.png")) if f"figures/gallery/{p.name}" not in text]
    assert not unshown, f"gallery pictures shown on no page of README.md or docs/: {unshown}"


def test_readme_is_a_user_guide():
    """The measured findings live in docs/results.md, each with its command; README.md points there
    and keeps to the guide (the two commands, calling ibl after make run, the gallery)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for needed in ("make run", "make test", ".venv/bin/ibl", "source .venv/bin/activate", "docs/results.md"):
        assert needed in readme, needed
    assert len(readme.encode()) < 16_000, "README.md grows past a user guide: move findings to docs/results.md"
