"""The batched solver's own pieces, against NumPy: the step's linear solve, the Huber terms, and
the pool's narrowing for wide (accelerator) pools."""

import jax
import numpy as np
import pytest

from distlaw import fitting
from distlaw.fitting import solver, starts
from distlaw.laws import EPOCH_CHINCHILLA, LAWS
from distlaw.laws.synthetic import chinchilla_table

CHIN = LAWS["chinchilla"]


@pytest.mark.parametrize("k", [1, 2, 5, 9])
def test_step_solve_matches_numpy(k):
    rng = np.random.default_rng(k)
    solve = jax.jit(solver.solve_spd)
    for _ in range(10):
        m = rng.normal(size=(k, k))
        system = m @ m.T + 1e-3 * np.eye(k)  # symmetric positive definite, as the damped step's
        rhs = rng.normal(size=k)
        np.testing.assert_allclose(solve(system, rhs), np.linalg.solve(system, rhs), rtol=1e-8, atol=1e-10)


def test_huber_matches_its_two_branches():
    residual = np.array([-3e-3, -1e-3, -2e-4, 0.0, 5e-4, 1e-3, 0.2])
    delta = 1e-3
    expected = np.where(np.abs(residual) <= delta, 0.5 * residual**2, delta * (np.abs(residual) - 0.5 * delta))
    np.testing.assert_allclose(solver.huber(residual, delta), expected, rtol=1e-15, atol=0)


def test_narrowing_a_wide_pool_changes_no_result(monkeypatch):
    """A 512-lane pool narrows 8x for its last lanes; every start must end where it ends in a
    pool that never narrows (lanes are independent, so to rounding)."""
    frame = chinchilla_table(EPOCH_CHINCHILLA, 80, noise=0.02, seed=5)
    data = fitting.fit_data(CHIN, {c: frame[c].to_numpy() for c in frame.columns})
    stacked = jax.tree.map(lambda x: np.asarray(x)[None], data)
    box = fitting.constraints(CHIN)
    grid = box.reduce(starts.paper_starts(CHIN)[::5])  # 900 starts: two pool loads, then a tail
    run = lambda width: solver.minimize_starts(box.objective(1e-3), grid, np.zeros(len(grid), int), stacked,
                                               box.lower, box.upper, solver.SolverConfig(width=width))
    gathers = []
    monkeypatch.setattr(solver, "_gather_lanes", lambda *a, _f=solver._gather_lanes: gathers.append(1) or _f(*a))
    narrowed = run(512)
    assert gathers, "the 512-lane pool never narrowed: the test would compare nothing"
    gathers.clear()
    plain = run(128)
    assert not gathers
    np.testing.assert_array_equal(narrowed.status, plain.status)
    np.testing.assert_allclose(narrowed.value, plain.value, rtol=1e-12)
    np.testing.assert_array_equal(narrowed.steps, plain.steps)
