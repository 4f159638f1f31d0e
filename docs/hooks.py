"""mkdocs hooks (mkdocs.yml `hooks:`): pages made from files that live outside docs/.

* `index.md` is README.md, so the user guide has one source that reads right on GitHub and on the
  site.
* `gallery/*.png` are the pictures of figures/gallery/, which README.md and docs/*.md show.
* `demos/NAME.md` are the jupytext notebooks notebooks/NAME.py (percent format), rendered without
  executing them: markdown cells as they are, code cells as Python blocks, then the demo's gallery
  picture (what the notebook draws). Why a hook and not mkdocs-jupyter: the notebooks live outside
  docs/ and are not executed for the site (execution is the tests' job, and would cost minutes),
  so a notebook is only markdown and code; reading it with jupytext (already the tests' notebook
  reader) avoids nbconvert and its stack, and keeps the build at a few seconds.

Links are written for GitHub (README.md links `docs/results.md#<heading>` and `figures/gallery/x.png`,
docs/*.md link `../README.md` and `../figures/gallery/x.png`); `on_page_markdown` maps them to the
site's paths, and mkdocs' own link validation (strict) then checks every one. In the API pages the
plain-text citations `docs/theory.md#<section>` of the docstrings become links.

The API reference: the lab's folders (models/, sde/, …) are imported as implicit_bias_lab.models,
implicit_bias_lab.sde, … through pyproject.toml's package-dir mapping (a wheel) or a `__path__`
entry added by implicit_bias_lab/__init__.py (a checkout). griffe, which reads the sources for
mkdocstrings, follows neither, so `on_config` lays the package out as a wheel would, in a
temporary folder of copies, and puts that folder first on the handler's `paths`. The docstrings
are then read from the sources without importing anything (no JAX start-up, no side effects).
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
import tomllib
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "figures" / "gallery"
NOTEBOOKS = ROOT / "notebooks"

PACKAGE = "implicit_bias_lab"
_TEMPORARY: list[Path] = []

# repository path of each generated page (links in it are relative to that path)
_SOURCE_OF: dict[str, str] = {"index.md": "README.md"}

_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
_CITATION = re.compile(r"(?<![\w/.\"'=#-])docs/(theory|results|guide)\.md(#[A-Za-z0-9_\-]+)?")


def _site_path(repo_path: str) -> str | None:
    """Where a repository file is in the site's docs tree, or None if it is not there."""
    if repo_path == "README.md":
        return "index.md"
    if repo_path.startswith("docs/"):
        return repo_path.removeprefix("docs/")
    if repo_path.startswith("figures/gallery/"):
        return "gallery/" + repo_path.removeprefix("figures/gallery/")
    m = re.fullmatch(r"notebooks/([\w\-]+)\.py", repo_path)
    return f"demos/{m.group(1)}.md" if m else None


def _notebook_markdown(path: Path) -> str:
    import jupytext

    notebook = jupytext.read(path)
    parts = []
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        elif cell.cell_type == "code" and cell.source.strip():
            parts.append("```python\n" + cell.source + "\n```")
        if i == 0:
            parts.append(
                f'!!! note "Notebook `notebooks/{path.name}`, shown without running it"\n'
                f"    Open it in Jupyter (jupytext reads the percent format) or run the same code with\n"
                f"    `ibl demo {path.stem}`; the picture at the end is the gallery's copy (`ibl gallery`)."
            )
    picture = GALLERY / f"{path.stem}.png"
    if picture.exists():
        parts.append(f"## What it draws\n\n![{path.stem}](../figures/gallery/{picture.name})")
    return "\n\n".join(parts) + "\n"


def _copy_sources(src: Path, dst: Path) -> None:
    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if not n.endswith(".py") and not (Path(folder, n) / "__init__.py").is_file()]

    shutil.copytree(src, dst, ignore=ignore)


@event_priority(100)  # before mkdocstrings' on_config, which creates the Python handler
def on_config(config):
    """A wheel-like copy of the package for griffe (see the module docstring)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = pyproject.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    tree = Path(tempfile.mkdtemp(prefix="ibl-api-"))
    _TEMPORARY.append(tree)
    _copy_sources(ROOT / PACKAGE, tree / PACKAGE)
    for name, folder in mapping.items():
        sub = name.removeprefix(PACKAGE + ".")
        if name.startswith(PACKAGE + ".") and "." not in sub:  # nested packages come with their folder
            _copy_sources(ROOT / folder, tree / PACKAGE / sub)
    python = config.plugins["mkdocstrings"].config.handlers.setdefault("python", {})
    python["paths"] = [str(tree), *python.get("paths", [])]
    return config


def on_shutdown() -> None:
    while _TEMPORARY:
        shutil.rmtree(_TEMPORARY.pop(), ignore_errors=True)


def on_build_error(error: Exception) -> None:
    on_shutdown()


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "index.md", content=(ROOT / "README.md").read_text(encoding="utf-8")))
    for picture in sorted(GALLERY.glob("*.png")):
        files.append(File.generated(config, f"gallery/{picture.name}", abs_src_path=str(picture)))
    for notebook in sorted(NOTEBOOKS.glob("*.py")):
        src_uri = f"demos/{notebook.stem}.md"
        _SOURCE_OF[src_uri] = f"notebooks/{src_uri.removeprefix('demos/')}"  # links written as from notebooks/
        files.append(File.generated(config, src_uri, content=_notebook_markdown(notebook)))
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    src_uri = page.file.src_uri
    repo_dir = posixpath.dirname(_SOURCE_OF.get(src_uri, "docs/" + src_uri))

    def relink(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"[a-z][a-z0-9+.\-]*:|#|/", target):  # URL, in-page anchor, absolute path
            return m.group(0)
        path, sep, anchor = target.partition("#")
        site = _site_path(posixpath.normpath(posixpath.join(repo_dir, path)))
        if site is None:
            return m.group(0)  # left for mkdocs' validation to report
        new = posixpath.relpath(site, posixpath.dirname(src_uri) or ".")
        return m.group(1) + new + sep + anchor + m.group(3)

    return _LINK.sub(relink, markdown)


def on_page_content(html: str, page, config, files: Files) -> str:
    if not page.file.src_uri.startswith("api/"):
        return html

    def link(m: re.Match) -> str:
        url = get_relative_url(f"{m.group(1)}/", page.url) + (m.group(2) or "")
        return f'<a href="{url}">{m.group(0)}</a>'

    return _CITATION.sub(link, html)
