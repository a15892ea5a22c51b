"""The laws against REFERENCE.md's reference values, their limits, and jit/vmap behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distlaw.laws import LAWS, PAPER_DISTILLATION, PAPER_SUPERVISED, predict_loss, supervised_log_loss

RTOL = 1e-6  # REFERENCE.md section 6 gives 7 significant figures

SUPERVISED_REFERENCE = [(1e9, 2e10, 2.374692), (3e9, 1e11, 2.116994), (5.46e8, 5.12e11, 2.254211)]
DISTILLATION_REFERENCE = [
    (1e9, 2e10, 2.0, 2.276811),
    (1e9, 2e10, 2.3, 2.357475),
    (1e9, 2e10, 2.6, 2.600614),
    (3e9, 1e11, 1.9, 2.071670),
]

SUP = LAWS["supervised"].from_natural(PAPER_SUPERVISED)
DIST = LAWS["distillation"].from_natural(PAPER_DISTILLATION)


@pytest.mark.parametrize("n, d, expected", SUPERVISED_REFERENCE)
def test_supervised_reference(n, d, expected):
    assert float(predict_loss(LAWS["supervised"], SUP, n, d)) == pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("n, d, l_t, expected", DISTILLATION_REFERENCE)
def test_distillation_reference(n, d, l_t, expected):
    got = float(predict_loss(LAWS["distillation"], DIST, n, d, l_t, supervised=SUP))
    assert got == pytest.approx(expected, rel=RTOL)


def test_chinchilla_is_supervised_at_gamma_one():
    natural = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
    n, d = np.geomspace(1e7, 1e11, 7), np.geomspace(1e9, 1e13, 7)
    chin = predict_loss(LAWS["chinchilla"], LAWS["chinchilla"].from_natural(natural), n, d)
    sup = predict_loss(LAWS["supervised"], LAWS["supervised"].from_natural({**natural, "gamma": 1.0}), n, d)
    closed_form = natural["E"] + natural["A"] / n ** natural["alpha"] + natural["B"] / d ** natural["beta"]
    np.testing.assert_allclose(chin, closed_form, rtol=1e-12)
    np.testing.assert_allclose(sup, closed_form, rtol=1e-12)


def test_distillation_closed_form():
    """The log-space law equals Eq. 8 written out in natural space."""
    n, d, l_t = 7e8, 3e10, 2.2
    p = PAPER_DISTILLATION
    l_sup = float(predict_loss(LAWS["supervised"], SUP, n, d))
    bracket = (1 + (l_t / (l_sup * p["d1"])) ** (1 / p["f1"])) ** (-p["c1"] * p["f1"])
    expected = l_t + l_t ** (-p["c0"]) * bracket * (p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]) ** p["gamma"]
    got = float(predict_loss(LAWS["distillation"], DIST, n, d, l_t, supervised=SUP))
    assert got == pytest.approx(expected, rel=1e-12)


def test_distillation_limits():
    """Designed limits (section 4.3): large students and weak teachers give L_S -> L_T."""
    big = float(predict_loss(LAWS["distillation"], DIST, 1e16, 1e19, 2.0, supervised=SUP))
    assert big == pytest.approx(2.0, rel=1e-4)
    weak = float(predict_loss(LAWS["distillation"], DIST, 1e9, 2e10, 4.0, supervised=SUP))
    assert weak == pytest.approx(4.0, rel=1e-6)
    # Capacity gap: L_S against teacher loss is not monotone (U-shape).
    l_t = np.linspace(1.4, 2.6, 61)
    l_s = np.asarray(predict_loss(LAWS["distillation"], DIST, 1e9, 2e10, l_t, supervised=SUP))
    k = int(np.argmin(l_s))
    assert 0 < k < len(l_t) - 1


def test_loss_falls_with_size_and_tokens():
    n = np.geomspace(1e8, 1e11, 20)
    for spec_name, params in (("supervised", SUP),):
        losses = np.asarray(predict_loss(LAWS[spec_name], params, n, 1e11))
        assert np.all(np.diff(losses) < 0)
        losses = np.asarray(predict_loss(LAWS[spec_name], params, 1e9, n * 100))
        assert np.all(np.diff(losses) < 0)


@pytest.mark.parametrize("name", sorted(LAWS))
def test_jit_vmap_plain_agree_and_no_recompile(name):
    spec = LAWS[name]
    params = spec.from_natural(next(iter(spec.presets.values())))
    rng = np.random.default_rng(0)
    k = len(spec.input_columns) + (1 if name == "distillation" else 0)
    logs = [np.log(rng.uniform(1e8, 1e10, 16)), np.log(rng.uniform(1e9, 1e12, 16))]
    logs += [np.log(rng.uniform(1.8, 2.6, 16)) for _ in range(k - 2)]
    plain = np.asarray(spec.log_loss(params, *logs))
    jitted = jax.jit(spec.log_loss)
    np.testing.assert_allclose(jitted(params, *logs), plain, rtol=1e-13)
    mapped = jax.vmap(spec.log_loss, in_axes=(None,) + (0,) * k)(params, *logs)
    np.testing.assert_allclose(mapped, plain, rtol=1e-13)
    scalar = [float(spec.log_loss(params, *(x[i] for x in logs))) for i in range(3)]
    np.testing.assert_allclose(scalar, plain[:3], rtol=1e-13)
    # A second call with new values of the same shapes must not trace again.
    traces = []

    def counted(p, *x):
        traces.append(1)
        return spec.log_loss(p, *x)

    f = jax.jit(counted)
    f(params, *logs).block_until_ready()
    f(params, *[x + 0.01 for x in logs]).block_until_ready()
    assert len(traces) == 1


def test_natural_round_trip():
    for spec in LAWS.values():
        for preset in spec.presets.values():
            back = spec.to_natural(spec.from_natural(preset))
            for key, value in preset.items():
                assert back[key] == pytest.approx(value, rel=1e-12)


def test_supervised_log_form_matches_eq1():
    p = PAPER_SUPERVISED
    n, d = 2e9, 4e10
    eq1 = p["E"] + (p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]) ** p["gamma"]
    assert float(jnp.exp(supervised_log_loss(SUP, np.log(n), np.log(d)))) == pytest.approx(eq1, rel=1e-12)


def test_every_published_preset_lies_well_inside_its_default_box():
    """Well inside: a factor of 10 above a positive lower edge (scale constants, f1, d1), 0.2
    above a zero lower edge (the smallest published exponent is 0.28), a factor of 5 below any
    upper edge."""
    for spec in LAWS.values():
        assert set(spec.bounds) == set(spec.natural_names), spec.name
        for preset, values in spec.presets.items():
            for name, value in values.items():
                lo, hi = spec.bounds[name]
                where = (spec.name, preset, name, value, (lo, hi))
                assert lo is None or value >= (10 * lo if lo > 0 else 0.2), where
                assert hi is None or value <= hi / 5, where
