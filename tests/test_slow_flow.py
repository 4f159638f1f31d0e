"""Slow flows under label noise (sde.slow, sde.slow_diagonal), float64.

Routes compared: the general Li–Wang–Arora drift ½∂²Φ[cH] vs the label-noise ODE −(c/4)P_∥∇tr H;
the generic (Hessian-based) slow_velocity vs the diagonal-net closed forms (docs/theory.md#63-sgd-and-adam-flows); the corrected Adam velocity vs the adaptive Slow SDE drift ½∂²Φ_S[S·cH·S] (change of variables);
integrated flows vs the phase-1 closed form θ_j² = θ_j(0)² − t.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_bias_lab import models
from implicit_bias_lab.sde import manifold as mf
from implicit_bias_lab.sde import slow
from implicit_bias_lab.sde import slow_diagonal as sd
from implicit_bias_lab.sde.status import RunStatus


@functools.lru_cache(maxsize=None)
def diag_instance(seed=0, n=3, d=4, gaussian=True):
    """A diagonal net with θ on Γ (labels y := Xw(θ)), all |θ_j| in [0.4, 1.4], random signs."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) if gaussian else rng.choice([-1.0, 1.0], (n, d))
    theta = rng.uniform(0.4, 1.4, 2 * d) * rng.choice([-1.0, 1.0], 2 * d)
    net = models.DiagonalNet(d)
    X, theta = jnp.asarray(X), jnp.asarray(theta)
    prob = models.SquaredLossProblem(net, X, X @ net.effective_weights(theta))
    return prob, theta


@eqx.filter_jit
def jacobian_of(prob, z):
    return prob.jacobian(z)


def toy_points():
    """(name, loss_fn, ζ ∈ Γ, jacobian J(ζ)) for the product toy, the noisy ellipse and a diagonal net."""
    out = []
    prob = models.ProductToy().problem()
    for a in (0.6, 1.7):
        z = jnp.array([a, 1.0 / a])
        out.append(("product", prob.loss, z, jacobian_of(prob, z)))
    ell = models.NoisyEllipse(1.0, 0.5)
    pe = ell.problem()
    for ang in (0.4, 2.3):
        z = ell.point_on_manifold(ang)
        out.append(("ellipse", pe.loss, z, jacobian_of(pe, z)))
    pd, th = diag_instance()
    out.append(("diagnet", pd.loss, th, jacobian_of(pd, th)))
    return out


NSAVE = 3  # one save grid for all integrations: one compilation per optimizer
POINTS = toy_points()
IDS = [f"{p[0]}{i}" for i, p in enumerate(POINTS)]


@pytest.mark.parametrize("case", POINTS, ids=IDS)
def test_label_noise_reduction(case):
    """½∂²Φ[cH] (three-term LWA formula) = −(c/4)P_∥∇tr H = slow_velocity('sgd') to 1e-10."""
    _, loss_fn, z, _ = case
    c = 0.37
    H = mf.hessian(loss_fn, z)
    drift = slow.slow_sde_drift(loss_fn, z, c * H)
    ode = -0.25 * c * mf.tangent_projector(H) @ mf.grad_trace_hessian(loss_fn, z)
    assert float(jnp.max(jnp.abs(ode))) > 1e-3
    np.testing.assert_allclose(drift, ode, atol=1e-10, rtol=0)
    np.testing.assert_allclose(slow.slow_velocity(loss_fn, z, noise_scale=c, optimizer="sgd"), ode, atol=1e-10, rtol=0)
    # the diffusion vanishes under label noise: P_∥(cH)^{1/2} = 0
    np.testing.assert_allclose(slow.slow_sde_diffusion(loss_fn, z, c * H), 0.0, atol=1e-7)


@pytest.mark.parametrize("gaussian", [True, False], ids=["gauss", "pm1"])
def test_sgd_velocity_diagonal_closed_form(gaussian):
    """slow_velocity('sgd') on a diagonal net = −2c P_∥(m⊙u, m⊙v), P_∥ = I − Jᵀ(JJᵀ)⁺J."""
    prob, th = diag_instance(1, 3, 4, gaussian)
    c = 0.8
    m = jnp.mean(prob.X**2, axis=0)
    P = mf.tangent_projector_from_jacobian(prob.jacobian(th))
    closed = -2 * c * P @ (jnp.concatenate([m, m]) * th)
    vel = slow.slow_velocity(prob.loss, th, noise_scale=c, optimizer="sgd")
    np.testing.assert_allclose(vel, closed, atol=1e-12, rtol=0)
    np.testing.assert_allclose(sd.sgd_flow_velocity(prob.X, th, c), closed, atol=1e-12, rtol=0)
    # −(c/4)∇tr H = −2c(m⊙u, m⊙v): the models' closed form of ∇tr H
    np.testing.assert_allclose(mf.grad_trace_hessian(prob.loss, th), prob.model.grad_trace_hessian_on_manifold(th, prob.X), atol=1e-12)


@eqx.filter_jit
def grad_trace_sqrt_diag_hessian(loss_fn, z):
    return jax.grad(lambda x: jnp.sum(jnp.sqrt(jnp.diagonal(jax.hessian(loss_fn)(x)))))(z)


ADAM_POINTS = [p for p in POINTS if p[0] != "product"]  # product toy left out only to save compile time


@pytest.mark.parametrize("case", ADAM_POINTS, ids=[i for i, p in zip(IDS, POINTS) if p[0] != "product"])
def test_adam_quasi_static_velocity(case):
    """slow_velocity('adam', v=None) = −(√c/2)∂Φ_S S∇tr Diag(H)^{1/2}, S = (c·diag H)^{-1/2}, for two c
    (independent of c); it equals ½∂²Φ_S[S·cH·S] (adaptive Slow SDE drift) and is tangent (J·vel = 0),
    while the printed form −(c/2)S∂Φ_S S∇³L[S] is not."""
    name, loss_fn, z, J = case
    H = mf.hessian(loss_fn, z)
    ref = None
    for c in (0.3, 1.9):
        S = 1.0 / jnp.sqrt(c * jnp.diagonal(H))
        Q = mf.oblique_projector(J.T, S)
        expected = -0.5 * np.sqrt(c) * Q @ (S * grad_trace_sqrt_diag_hessian(loss_fn, z))
        vel = slow.slow_velocity(loss_fn, z, noise_scale=c, optimizer="adam")
        np.testing.assert_allclose(vel, expected, atol=1e-10, rtol=0)
        np.testing.assert_allclose(slow.adam_slow_sde_drift(loss_fn, z, c * H, S), vel, atol=1e-10, rtol=0)
        np.testing.assert_allclose(J @ vel, 0.0, atol=1e-12)
        if ref is None:
            ref = vel
        else:
            np.testing.assert_allclose(vel, ref, atol=1e-12, rtol=0)
        if name == "diagnet":  # explicit v: the same as v=None at v = c·diag H
            np.testing.assert_allclose(
                slow.slow_velocity(loss_fn, z, noise_scale=c, optimizer="adam", v=c * jnp.diagonal(H)), vel, atol=1e-12
            )
    printed = slow.adam_printed_velocity(loss_fn, z, 0.3, 1.0 / jnp.sqrt(0.3 * jnp.diagonal(H)))
    assert float(jnp.max(jnp.abs(J @ printed))) > 1e-3 * float(jnp.max(jnp.abs(printed)))
    if name == "diagnet":
        np.testing.assert_allclose(ref, -0.5 / z, atol=1e-12)  # phase 1: θ̇_j = −1/(2θ_j)
        np.testing.assert_allclose(sd.adam_flow_velocity(diag_instance()[0].X, z, 0.3), ref, atol=1e-12)


def test_adam_velocity_with_lagging_v_and_eps():
    """With a general v (S lagging) the corrected velocity is tangent, equals the diagonal-net closed
    form −2c∂Φ_S(m⊙S²⊙θ), and is not the quasi-static one."""
    prob, th = diag_instance()
    c = 0.5
    v = jnp.asarray(np.random.default_rng(5).uniform(0.5, 2.0, th.shape))
    vel = slow.slow_velocity(prob.loss, th, noise_scale=c, optimizer="adam", v=v)
    np.testing.assert_allclose(prob.jacobian(th) @ vel, 0.0, atol=1e-12)
    np.testing.assert_allclose(sd.adam_flow_velocity(prob.X, th, c, v=v), vel, atol=1e-12)
    assert float(jnp.max(jnp.abs(vel - slow.slow_velocity(prob.loss, th, noise_scale=c, optimizer="adam")))) > 1e-2
    eps = 0.3
    S = 1.0 / (jnp.sqrt(v) + eps)
    np.testing.assert_allclose(
        slow.adam_label_noise_velocity(prob.loss, th, c, S), sd.adam_flow_velocity(prob.X, th, c, v=v, eps=eps), atol=1e-12
    )


def test_integrate_adam_follows_phase1_closed_form():
    """integrate_slow_flow('adam', quasi-static, ε=0) and the s-form both follow θ_j² = θ_j(0)² − t."""
    prob, th = diag_instance()
    t_star = float(jnp.min(th**2))
    t1 = 0.8 * t_star
    sol = slow.integrate_slow_flow(prob.loss, th, t1, noise_scale=0.6, optimizer="adam", num_saves=NSAVE)
    closed = jax.vmap(lambda t: sd.adam_phase1_closed_form(th, t))(sol.times)
    np.testing.assert_allclose(sol.path, closed, atol=1e-7, rtol=0)
    assert float(jnp.max(sol.distance_to_manifold)) < 1e-8
    res = sd.integrate_adam_flow(prob.X, prob.y, th, jnp.asarray(t1))
    np.testing.assert_allclose(res.theta, sd.adam_phase1_closed_form(th, t1), atol=1e-10, rtol=0)
    assert int(res.status) == sd.MAX_TIME and int(res.num_phases) == 1
    # first extinction exactly at t* = min θ_j(0)²
    res = sd.integrate_adam_flow(prob.X, prob.y, th, jnp.asarray(t_star * 1.001))
    j = int(jnp.argmin(th**2))
    assert float(res.theta[j]) == 0.0 and int(res.num_phases) >= 2


def test_integrate_sgd_generic_matches_diagonal_closed_form():
    """Generic Hessian-based integrate_slow_flow('sgd') = diagonal-net closed-form SGD flow; stays on Γ."""
    prob, th = diag_instance()
    c, t1 = 0.5, 0.6
    sol = slow.integrate_slow_flow(prob.loss, th, t1, noise_scale=c, optimizer="sgd", num_saves=NSAVE)
    res = sd.integrate_sgd_flow(prob.X, prob.y, th, jnp.asarray(t1), noise_scale=c)
    assert float(jnp.max(jnp.abs(sol.path[-1] - th))) > 0.05  # it moved
    np.testing.assert_allclose(sol.path[-1], res.theta, atol=1e-6, rtol=0)
    assert float(jnp.max(sol.distance_to_manifold)) < 1e-7
    assert float(res.max_residual) < 1e-12
    assert float(prob.loss(sol.path[-1])) < 1e-24


def test_joint_adam_with_v_relaxes_to_quasi_static():
    """(ζ, v) jointly with v(0) = c·diag H(ζ0) and large c₂ stays close to the quasi-static flow; v
    tracks c·diag H."""
    prob, th = diag_instance()
    c, t1 = 0.6, 0.5 * float(jnp.min(th**2))
    qs = slow.integrate_slow_flow(prob.loss, th, t1, noise_scale=c, optimizer="adam", num_saves=NSAVE)
    jt = slow.integrate_slow_flow(prob.loss, th, t1, noise_scale=c, optimizer="adam", c2=1e4, num_saves=NSAVE)
    err = float(jnp.max(jnp.abs(jt.path[-1] - qs.path[-1])))
    assert err < 2e-3 and float(jnp.max(jnp.abs(jt.path[-1] - th))) > 0.1
    np.testing.assert_allclose(jt.v[-1], c * jnp.diagonal(mf.hessian(prob.loss, jt.path[-1])), rtol=2e-3)


def test_jacobian_route_matches_hessian_route():
    """integrate_slow_flow with residual_fn (normal space range Jᵀ, n × n Gram solves, Gauss–Newton
    ∇³L[S]; docs/theory.md#42-preconditioned-projection) = the Hessian route on Γ: SGD against the
    diagonal-net closed form, Adam (ε > 0, v as a state) against the eigh-based flow, to the solver's
    tolerance; a residual_fn whose ½·mean(r²) is not the loss is rejected."""
    prob, th = diag_instance()
    c, t1 = 0.5, 0.6
    sol = slow.integrate_slow_flow(prob.loss, th, t1, noise_scale=c, optimizer="sgd", num_saves=NSAVE,
                                   residual_fn=prob.residuals)
    res = sd.integrate_sgd_flow(prob.X, prob.y, th, jnp.asarray(t1), noise_scale=c)
    np.testing.assert_allclose(sol.path[-1], res.theta, atol=1e-6, rtol=0)
    assert float(jnp.max(sol.distance_to_manifold)) < 1e-7
    t1 = 0.5 * float(jnp.min(th**2))
    kw = {"noise_scale": 0.6, "optimizer": "adam", "eps": 0.05, "c2": 20.0, "num_saves": NSAVE}
    ref = slow.integrate_slow_flow(prob.loss, th, t1, **kw)
    jac = slow.integrate_slow_flow(prob.loss, th, t1, residual_fn=prob.residuals, **kw)
    assert float(jnp.max(jnp.abs(ref.path[-1] - th))) > 0.05
    np.testing.assert_allclose(jac.path, ref.path, atol=1e-7, rtol=0)
    np.testing.assert_allclose(jac.v, ref.v, atol=1e-7, rtol=0)
    with pytest.raises(ValueError, match="residual_fn"):
        slow.integrate_slow_flow(prob.loss, th, t1, residual_fn=lambda z: 2.0 * prob.residuals(z), **kw)
    with pytest.raises(ValueError, match="extinction_floor"):
        slow.integrate_slow_flow(prob.loss, th, t1, extinction_floor=1.5, **kw)
    with pytest.raises(ValueError, match="extinction_floor"):
        slow.integrate_slow_flow(prob.loss, th, t1, extinction_floor=1e-8, retract=False, **kw)


def test_s_form_invariants_and_vmap():
    """s-form: X(s_u − s_v) = y at all times, coordinates dead at t_a stay 0 at t_b > t_a, ends at a
    stationary point with ≤ n alive pairs; vmap over instances equals single runs."""
    rng = np.random.default_rng(7)
    n, d, B = 3, 4, 3  # the shapes of diag_instance(): the single run below reuses its compilation
    Xs = jnp.asarray(rng.standard_normal((B, n, d)))
    ths = jnp.asarray(rng.uniform(0.2, 1.2, (B, 2 * d)) * rng.choice([-1.0, 1.0], (B, 2 * d)))
    ys = jnp.einsum("bnd,bd->bn", Xs, sd.effective_weights(ths))
    run = jax.vmap(lambda X, y, th, t: sd.integrate_adam_flow(X, y, th, t), in_axes=(0, 0, 0, None))
    t_a, t_b = 0.25, 50.0
    ra, rb = run(Xs, ys, ths, jnp.asarray(t_a)), run(Xs, ys, ths, jnp.asarray(t_b))
    assert np.all(np.asarray(ra.max_residual) < 1e-10) and np.all(np.asarray(rb.max_residual) < 1e-10)
    dead_a = np.asarray(ra.theta) == 0.0
    assert dead_a.sum() > 0
    assert np.all(np.asarray(rb.theta)[dead_a] == 0.0)
    assert np.all(np.asarray(rb.status) == sd.CONVERGED)
    alive_b = (np.asarray(rb.theta) != 0.0).reshape(B, 2, d)
    assert np.all(~(alive_b[:, 0] & alive_b[:, 1]))  # u_i v_i = 0 at stationarity
    assert np.all(alive_b.sum(axis=(1, 2)) <= n)
    single = sd.integrate_adam_flow(Xs[1], ys[1], ths[1], jnp.asarray(t_b))
    np.testing.assert_allclose(single.theta, rb.theta[1], atol=1e-12)
    # stationary: the θ-form velocity vanishes on the alive coordinates of the end point
    th_end = rb.theta[1]
    alive = th_end != 0
    sdot = sd.adam_s_velocity(Xs[1], th_end**2, alive)
    assert float(jnp.max(jnp.abs(sdot))) < 1e-8


def test_bad_inputs_raise():
    prob, th = diag_instance()
    with pytest.raises(ValueError, match="optimizer"):
        slow.slow_velocity(prob.loss, th, noise_scale=1.0, optimizer="lion")  # not a family (rmsprop is one now: sde.families)
    with pytest.raises(ValueError, match="noise_scale"):
        slow.slow_velocity(prob.loss, th, noise_scale=-0.1, optimizer="sgd")
    with pytest.raises(ValueError, match="noise_scale"):
        slow.slow_velocity(prob.loss, th, noise_scale=0.0, optimizer="adam")
    with pytest.raises(ValueError, match="not on Γ.*[Pp]roject"):
        slow.slow_velocity(prob.loss, th + 0.05, noise_scale=1.0, optimizer="sgd")
    with pytest.raises(ValueError, match="not on Γ"):
        slow.integrate_slow_flow(prob.loss, th + 0.05, 1.0, noise_scale=1.0, optimizer="adam")
    with pytest.raises(ValueError, match="optimizer"):
        slow.integrate_slow_flow(prob.loss, th, 1.0, noise_scale=1.0, optimizer="SGD")
    # singular Γ: the product toy at θ = 0 is a minimizer of ½(θ₀θ₁)² where rank H jumps (0 there, 1 nearby)
    toy_loss = lambda x: 0.5 * (x[0] * x[1]) ** 2  # noqa: E731
    with pytest.raises(ValueError, match="rank"):
        slow.slow_velocity(toy_loss, jnp.zeros(2), noise_scale=1.0, optimizer="sgd")


def test_adam_timescale_checks_the_theory_scaling():
    from implicit_bias_lab.sde.slow import adam_timescale

    assert adam_timescale(0.01, 1 - 20 * 0.01**2) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="outside the Adam slow-SDE scaling"):
        adam_timescale(0.01, 1 - 0.01)  # 1 − β₂ = η, the regime of the warning in docs/theory.md#102-rmsprop-and-adam-against-the-adam-slow-flow
    with pytest.raises(ValueError, match="learning_rate"):
        adam_timescale(-0.1, 0.99)
    with pytest.raises(ValueError, match="b2"):
        adam_timescale(0.1, 1.0)


def test_solver_failure_is_a_status_with_throw_false():
    """throw=False: a solve that runs out of steps ends with status STIFF and the path held at its last
    good state (finite; the saves before the failure equal the full solve's), never NaN; a solve that
    finishes is MAX_TIME with the path of throw=True, bit for bit; throw=True still raises."""
    prob, th = diag_instance()
    kw = {"noise_scale": 0.5, "optimizer": "sgd", "num_saves": NSAVE}
    full = slow.integrate_slow_flow(prob.loss, th, 0.6, **kw)
    quiet = slow.integrate_slow_flow(prob.loss, th, 0.6, throw=False, **kw)
    assert int(full.status) == int(quiet.status) == int(RunStatus.MAX_TIME)
    np.testing.assert_array_equal(quiet.path, full.path)
    for retract in (True, False):
        ref = slow.integrate_slow_flow(prob.loss, th, 0.6, retract=retract, **kw)
        budget = int(ref.num_steps) // 2 if not retract else 1  # mid-path / in the first interval
        cut = slow.integrate_slow_flow(prob.loss, th, 0.6, retract=retract, max_steps=budget, throw=False, **kw)
        assert int(cut.status) == int(RunStatus.STIFF), retract
        assert bool(jnp.all(jnp.isfinite(cut.path)))
        kept = int(jnp.sum(jnp.all(cut.path == ref.path, axis=1)))
        assert 1 <= kept < NSAVE, (retract, kept)
        np.testing.assert_array_equal(cut.path[kept:], jnp.broadcast_to(cut.path[kept - 1], cut.path[kept:].shape))
        with pytest.raises(Exception, match="max_steps|maximum number of solver steps"):
            slow.integrate_slow_flow(prob.loss, th, 0.6, retract=retract, max_steps=budget, **kw)
