"""Which slow flow is the limit of discrete Adam on sparse regression: v as a state, or quasi-static v?

For the instances of a sparse-recovery config, from the GD landing point (Adam's v₀ at its fixed
point c·diag H), discrete Adam with 1 − β₂ = c₂η² runs for the slow time T = adam_slow_time·α² at
each η of `etas` (k = T/η² steps), and is compared with two flows over the same T:
* `state` — Li–Wen–Lyu's slow SDE with v as a state, dv/dt = c₂(c·diag H − v)
  (sde.slow_diagonal_state; docs/theory.md#6-diagonal-net);
* `quasi_static` — the closure v = c·diag H (c₂ → ∞), integrated to stationarity
  (sde.slow_diagonal.integrate_adam_flow_stepped).
Reported per η and flow: the share of instances where the recovery decisions agree and the median
end-point distance ‖w_discrete − w_flow‖. The flow that is the limit has a distance that falls
with η (∝ η for a weak-order-1 approximation) and an agreement that rises towards 1.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from implicit_bias_lab.experiments import sparse_recovery as sr
from implicit_bias_lab.experiments.config import ConfigError, check_range
from implicit_bias_lab.experiments.io import write_manifest
from implicit_bias_lab.models.sparse_regression import population_test_loss
from implicit_bias_lab.sde.slow_diagonal import effective_weights
from implicit_bias_lab.precision import enable_x64

DESCRIPTION = "Discrete Adam against its slow flows on sparse regression: v as a state vs the quasi-static closure, against η"
FLOWS = ("state", "quasi_static")


@dataclass(frozen=True)
class Config:
    d: int = 30
    kappa: int = 3
    n: tuple[int, ...] = (8, 10, 12)
    seeds: int = 8
    etas: tuple[float, ...] = (0.02, 0.01, 0.005)
    init_scale: float = 0.5
    label_noise: float = 3.0
    b1: float = 0.9
    adam_c2: float = 5.0
    eps: float = 0.0
    adam_slow_time: float = 30.0
    dead_floor: float = 1e-3
    recovery_threshold: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if not self.etas or any(not 0 < e < 1 for e in self.etas):
            raise ConfigError(f"config key 'etas' must list learning rates in (0, 1), got {self.etas}")
        check_range("adam_c2", self.adam_c2, 0, low_open=True)
        check_range("init_scale", self.init_scale, 0, low_open=True)
        self.sparse_recovery(max(self.etas))  # the sparse-recovery config validates the rest

    def sparse_recovery(self, eta: float) -> sr.Config:
        """The sparse-recovery config of one η (one chunk holding every instance)."""
        return sr.Config(
            d=self.d, kappa=self.kappa, n=self.n, seeds=self.seeds, optimizers=("adam",), methods=("discrete", "slow", "slow_qs"),
            init_scale=self.init_scale, label_noise=self.label_noise, lr_adam=eta, b1=self.b1, adam_c2=self.adam_c2,
            eps=self.eps, adam_slow_time=self.adam_slow_time, dead_floor=self.dead_floor, gd_steps=4000, lr_sgd=0.02,
            recovery_threshold=self.recovery_threshold, chunk_size=len(self.n) * self.seeds, block_size=8, seed=self.seed,
        )


PRESETS: dict[str, dict] = {
    # the setting where the closure's gap was first measured: d = 30, κ = 3, δ = 3, c₂ = 5, T = 30α²
    "default": {},
    # the sparse-recovery default preset's instances (d = 200, κ = 5, n = 15…40, 8 seeds)
    "sparse-recovery-default": dict(d=200, kappa=5, n=(15, 20, 25, 30, 40), etas=(0.02, 0.01)),
    "tiny": dict(d=20, kappa=2, n=(6, 8), seeds=6, etas=(0.02, 0.005)),
}


def measure(config: Config) -> dict:
    """Agreement shares and median end-point distances per (flow, η); the flows do not depend on η."""
    base = config.sparse_recovery(max(config.etas))
    chunk = sr.instances(base)
    landing = sr.gd_landing(base, chunk)
    net_w = lambda th: np.asarray(effective_weights(jnp.asarray(th, jnp.float64)))  # noqa: E731
    flows = {}
    for flow in FLOWS:
        theta, status, data = sr.slow_end_points(base, "adam", chunk, landing, quasi_static=flow == "quasi_static")
        flows[flow] = (net_w(theta), status)
    w_star = np.stack([np.asarray(d.w_star, np.float64) for d in data])
    recovered = lambda w: np.asarray(population_test_loss(w, w_star)) < config.recovery_threshold  # noqa: E731
    out = {"etas": list(config.etas), "instances": len(chunk), "flows": {}, "flow_recovery": {}, "discrete_recovery": {}, "flow_status": {}}
    for flow, (w_flow, status) in flows.items():
        out["flow_recovery"][flow] = float(np.mean(recovered(w_flow)))
        out["flow_status"][flow] = {sr.STATUS_NAMES[int(s)]: int(np.sum(status == s)) for s in np.unique(status)}
        out["flows"][flow] = {"agreement": [], "median_distance": []}
    for eta in config.etas:
        cfg = dataclasses.replace(base, lr_adam=eta)
        sim, _ = sr.discrete_simulation(cfg, "adam", chunk, lambda: landing)
        w_disc = net_w(sim.theta)
        out["discrete_recovery"][str(eta)] = float(np.mean(recovered(w_disc)))
        for flow, (w_flow, _) in flows.items():
            out["flows"][flow]["agreement"].append(float(np.mean(recovered(w_disc) == recovered(w_flow))))
            out["flows"][flow]["median_distance"].append(float(np.median(np.linalg.norm(w_disc - w_flow, axis=1))))
    return out


def run(config: Config, out_dir: Path) -> dict:
    enable_x64()  # the flows, projections and Hessian traces need float64
    from implicit_bias_lab.figures.adam_flow_agreement import plot_adam_flow_agreement

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = measure(config)
    (out_dir / "results.json").write_text(json.dumps(result, indent=1))
    figs = plot_adam_flow_agreement(result, out_dir, title=f"d={config.d}, κ={config.kappa}, n={list(config.n)}, {config.seeds} seeds, c₂={config.adam_c2:g}")
    result["figure"] = [str(f) for f in figs]
    write_manifest(out_dir, config, wall_time_s=time.perf_counter() - t0, extra={"summary": result})
    return result
