"""One vocabulary for how a run ended, shared by the discrete engine, the SDE routes, the slow flows
and the experiments' datasets (`results.nc` stores these codes and their lower-case names).

Codes 0–5 are what a finished run can be; the flows also use RUNNING inside their loops, and report
MAX_TIME (reached its time horizon: the normal end of a fixed-horizon flow) and MAX_PHASES (ran out of
steps), which an experiment maps to OK or NOT_CONVERGED as its protocol says.
"""

from __future__ import annotations

import enum


class RunStatus(enum.IntEnum):
    RUNNING = -1  # inside a flow's loop only
    OK = 0  # finished as intended (a flow: stationary)
    DIVERGED = 1  # |θ| beyond the divergence threshold
    NONFINITE = 2  # NaN or inf
    NOT_CONVERGED = 3  # finite, but not where the protocol requires (off Γ, budget reached)
    FAILED = 4  # a solve failed (rank loss without fallback, a solver error)
    STIFF = 5  # an adaptive solver needed more steps than allowed
    MAX_TIME = 6  # a flow reached its time horizon
    MAX_PHASES = 7  # a flow ran out of steps/phases before its horizon


#: code → lower-case name, as stored in datasets
STATUS_NAMES: dict[int, str] = {int(s): s.name.lower() for s in RunStatus}

__all__ = ["STATUS_NAMES", "RunStatus"]
