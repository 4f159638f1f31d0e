"""Discovery, running and reporting of the claim modules in `paper_checks/claims/`."""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import time
import traceback
from pathlib import Path
from types import ModuleType

from implicit_bias_lab.experiments.io import atomic_write_text
from implicit_bias_lab.precision import enable_x64

SIZES = ("small", "full")


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One row of the table: what was checked, the symbolic verdict, the numeric error against its
    tolerance. `passed` requires the symbolic side to hold (when there is one) and
    numeric_error <= tolerance."""

    claim: str
    source: str
    symbolic: str
    numeric_error: float
    tolerance: float
    symbolic_ok: bool = True
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.symbolic_ok and math.isfinite(self.numeric_error) and self.numeric_error <= self.tolerance


def discover_claims() -> dict[str, ModuleType]:
    from implicit_bias_lab.paper_checks import claims as pkg

    out = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"implicit_bias_lab.paper_checks.claims.{info.name}")
        for attr in ("CLAIM", "SOURCE", "check"):
            if not hasattr(mod, attr):
                raise TypeError(f"implicit_bias_lab.paper_checks.claims.{info.name} must define {attr}")
        out[info.name] = mod
    return out


def run_claim(name: str, mod: ModuleType, size: str) -> list[CheckResult]:
    try:
        result = mod.check(size)
    except Exception as err:  # a crashing check is a failed row, not a crashed catalogue
        return [CheckResult(mod.CLAIM, mod.SOURCE, f"error: {err!r}", math.inf, 0.0, False, traceback.format_exc(limit=3))]
    return list(result) if isinstance(result, (list, tuple)) else [result]


def format_table(rows: list[tuple[str, CheckResult]]) -> str:
    """A Markdown table: claim, source, symbolic result, numeric error, tolerance, pass/fail."""
    lines = [
        "| module | claim | source | symbolic | numeric error | tolerance | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        cells = [name, r.claim, r.source, r.symbolic, f"{r.numeric_error:.3g}", f"{r.tolerance:.3g}", "pass" if r.passed else "FAIL"]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)


def run_checks(size: str = "full", out_dir: str | Path | None = None, only: list[str] | None = None) -> bool:
    """Run every claim (or those in `only`), print the table, write `checks.md`; True if all pass."""
    enable_x64()  # the checks' numerics run in float64
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    claims = discover_claims()
    if only:
        unknown = sorted(set(only) - set(claims))
        if unknown:
            raise ValueError(f"unknown claim(s) {unknown}; known: {sorted(claims)}")
        claims = {k: v for k, v in claims.items() if k in only}
    rows: list[tuple[str, CheckResult]] = []
    t0 = time.perf_counter()
    for name, mod in claims.items():
        for result in run_claim(name, mod, size):
            rows.append((name, result))
    table = format_table(rows)
    passed = sum(r.passed for _, r in rows)
    summary = f"{passed} passed, {len(rows) - passed} failed"
    print(table)
    print(f"\n{summary}  ({time.perf_counter() - t0:.1f} s, size={size})")
    if out_dir is not None:
        out = Path(out_dir)
        notes = [f"- **{name}**: {r.note}" for name, r in rows if r.note]
        text = f"# Paper checks (size={size})\n\n{table}\n\n{summary}\n" + ("\n## Notes\n" + "\n".join(notes) + "\n" if notes else "")
        atomic_write_text(out / "checks.md", text)
        print(f"table written to {out / 'checks.md'}")
    return passed == len(rows)
