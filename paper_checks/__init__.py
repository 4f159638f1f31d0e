"""A catalogue of the theory's claims, each checked symbolically (sympy) and numerically (the lab).

Adding a claim means adding one module to `paper_checks/claims/` that defines

    CLAIM = "one-line statement"
    SOURCE = "paper, section, equation"
    def check(size: str) -> CheckResult | list[CheckResult]   # size: "small" (tests) or "full"

Modules are discovered automatically, in name order. `run_checks` (behind `make check` and
`ibl check`) runs them all, prints a table and writes it as Markdown into the run directory.
"""

from __future__ import annotations

from implicit_bias_lab.paper_checks.catalogue import CheckResult, discover_claims, format_table, run_checks

__all__ = ["CheckResult", "discover_claims", "format_table", "run_checks"]
