"""Documentation hygiene: no citation of notes outside the repository, and every
`docs/theory.md#anchor` cited in a tracked file names a heading of docs/theory.md."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THEORY = ROOT / "docs" / "theory.md"

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
