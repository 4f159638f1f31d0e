"""Discrete Adam approaches its slow flow with v as a state, not the quasi-static closure, as η falls
(experiments.adam_flow_agreement), and the figure shows one line per flow."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from implicit_bias_lab.experiments.adam_flow_agreement import PRESETS, Config, measure
from implicit_bias_lab.experiments.config import ConfigError
from implicit_bias_lab.figures.adam_flow_agreement import adam_flow_agreement_figure


@pytest.fixture(scope="module")
def tiny():
    return measure(Config(**PRESETS["tiny"]))  # d = 20, κ = 2, 12 instances, η = 0.02 → 0.005


def test_discrete_adam_approaches_the_v_state_flow(tiny):
    state, quasi = tiny["flows"]["state"], tiny["flows"]["quasi_static"]
    # end points: a weak-order approximation gets closer as η falls (measured 0.196 → 0.099)
    assert state["median_distance"][-1] < 0.7 * state["median_distance"][0]
    # and closer than the closure, which is a different limit (measured 0.099 vs 0.124)
    assert state["median_distance"][-1] < quasi["median_distance"][-1]
    # recovery decisions: the trend and a share ≥ 0.9 at the smallest η (measured 0.83 → 1.0)
    assert state["agreement"][-1] >= state["agreement"][0]
    assert state["agreement"][-1] >= 0.9
    assert tiny["flow_status"]["state"] == {"ok": tiny["instances"]}


def test_figure_has_one_line_per_flow(tiny):
    fig = adam_flow_agreement_figure(tiny, title="tiny")
    ax_share, ax_dist = fig.axes
    labels = lambda ax: [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]  # noqa: E731
    assert labels(ax_share) == ["v as a state (c₂ finite)", "quasi-static v (c₂ → ∞)", "0.9"]
    assert labels(ax_dist)[:2] == ["v as a state (c₂ finite)", "quasi-static v (c₂ → ∞)"]
    for ax in (ax_share, ax_dist):
        assert ax.get_xlabel() and ax.get_ylabel()
        assert len(ax.get_legend().get_texts()) == len(labels(ax))
    np.testing.assert_allclose(ax_share.get_lines()[0].get_ydata(), tiny["flows"]["state"]["agreement"])


@pytest.mark.parametrize("override", [dict(etas=()), dict(etas=(0.02, float("nan"))), dict(adam_c2=-1.0), dict(d=0)])
def test_bad_config_is_rejected(override):
    with pytest.raises(ConfigError):
        Config(**override)
