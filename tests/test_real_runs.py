"""Published numbers on the shipped real run tables, reproduced with the authors' protocols
(distlaw/data/SOURCES.md gives each protocol and number)."""

import math

import numpy as np
import pytest

from distlaw import ScalingLaw, datasets, fitting
from distlaw.laws import LAWS, predict_loss

DC = LAWS["data_constrained"]
MUENNIGHOFF = DC.presets["muennighoff"]
BASE = ("E", "A", "B", "alpha", "beta")


def _r2(observed, predicted):
    """sklearn.metrics.r2_score, written out: 1 - SS_res / SS_tot."""
    return 1.0 - np.sum((observed - predicted) ** 2) / np.sum((observed - observed.mean()) ** 2)


@pytest.fixture(scope="module")
def muennighoff_fit_set():
    runs = datasets.load("muennighoff2023")
    return runs[runs.in_fitset_182.astype(bool)]


@pytest.mark.parametrize(("n", "d", "u", "published"), [
    (6.34e9, 242e9, 25e9, 2.2256440889984477),  # their README's examples
    (8.67e9, 178e9, 25e9, 2.2269634075087867),
])
def test_data_constrained_law_matches_muennighoffs_readme_examples(n, d, u, published):
    assert float(predict_loss(DC, DC.from_natural(MUENNIGHOFF), n, d, u)) == pytest.approx(published, rel=1e-14)


def test_r2_on_the_182_run_fit_set(muennighoff_fit_set):
    runs = muennighoff_fit_set
    assert len(runs) == 182
    data_constrained = predict_loss(DC, DC.from_natural(MUENNIGHOFF), runs.params, runs.tokens, runs.unique_tokens)
    chinchilla = LAWS["chinchilla"]
    plain = predict_loss(chinchilla, chinchilla.from_natural({k: MUENNIGHOFF[k] for k in BASE}), runs.params, runs.tokens)
    assert _r2(runs.loss.to_numpy(), np.asarray(data_constrained)) == pytest.approx(0.7722046084968408, abs=1e-12)
    assert _r2(runs.loss.to_numpy(), np.asarray(plain)) == pytest.approx(0.4451684378759986, abs=1e-12)


def test_decay_constants_with_the_base_held_fixed(muennighoff_fit_set):
    """Their procedure: R_D*, R_N* fitted with the five base coefficients fixed, Huber 1e-3 on
    log residuals. Started at the published values the fit stays at a local optimum within
    0.3% of them (15.387756, 5.309743); distlaw's multi-start finds a lower one elsewhere in the
    same flat valley (SOURCES.md has no starting grid for this step, so which optimum their
    L-BFGS reached depends on where it started)."""
    runs = muennighoff_fit_set
    data = fitting.fit_data(DC, {c: runs[c].to_numpy() for c in ("params", "tokens", "unique_tokens", "loss")})
    fixed = {k: MUENNIGHOFF[k] for k in BASE}
    published = np.asarray(DC.from_natural(MUENNIGHOFF))[None]
    local = fitting.fit(DC, data, published, delta=1e-3, fixed=fixed)
    assert local.natural["R_D"] == pytest.approx(15.387756, rel=3e-3)
    assert local.natural["R_N"] == pytest.approx(5.309743, rel=3e-3)
    best = fitting.fit(DC, data, delta=1e-3, fixed=fixed)
    assert best.objective < local.objective * (1 - 1e-4)  # a genuinely lower optimum
    assert not best.on_bound


def test_gadre_extrapolation_errors_with_their_protocol():
    """Gadre et al.: rpj, the 5-run fit set, C4 eval loss, L = E + A N^-a + B D^-a (one exponent),
    least squares on the loss itself (scipy's curve_fit); relative errors 0.7103% (1B, M=640)
    and 0.7320% (7B, M=20), reproduced within 0.05 percentage points."""
    runs = datasets.load("gadre2024")
    fit_set, targets = runs[runs.in_published_fit.astype(bool)], runs[runs.is_published_target.astype(bool)]
    law = ScalingLaw("chinchilla", huber_delta=math.inf, residuals="linear", ties={"beta": "alpha"})
    report = law.fit(fit_set)
    errors = 100 * np.abs(report.predict(targets) - targets.loss.to_numpy()) / targets.loss.to_numpy()
    published = {"rpj-open_lm_1b-32.0": 0.7103, "rpj-open_lm_7b-1.0": 0.7320}
    for name, error in zip(targets.name, errors, strict=True):
        assert error == pytest.approx(published[name], abs=0.05), name
    # Their coefficients: alpha*N^b with alpha = 166.2, b = -0.27285; E = 1.8366.
    assert report.params["A"] == pytest.approx(166.2109784749555, rel=1e-4)
    assert report.params["alpha"] == pytest.approx(0.27285070026508734, rel=1e-4)
    assert report.params["E"] == pytest.approx(1.8366483598543952, rel=1e-5)
