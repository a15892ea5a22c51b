"""A host with several devices fits exactly as a host with one, and both fit correctly.

The solver runs its lanes on the default device: splitting them over virtual CPU devices with
jax.shard_map gave no speed-up here (XLA ran both on one thread; benchmarks/README.md), so the
split was dropped. This guards that nothing in fitting depends on the device count, and holds
both against SciPy's least_squares on the same objective (so two equally wrong fits fail).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from reference import scipy_huber_least_squares

from distlaw import fitting
from distlaw.fitting import solver
from distlaw.laws import EPOCH_CHINCHILLA, HOFFMANN_CHINCHILLA, LAWS
from distlaw.laws.synthetic import chinchilla_table

SCRIPT = """
import json, jax
jax.config.update("jax_enable_x64", True)
from distlaw import fitting
from distlaw.fitting import starts
from distlaw.laws import LAWS, EPOCH_CHINCHILLA
from distlaw.laws.synthetic import chinchilla_table
spec = LAWS["chinchilla"]
data = fitting.fit_data(spec, chinchilla_table(EPOCH_CHINCHILLA, 100, noise=0.01, seed=2))
result = fitting.fit(spec, data, starts.design_starts(spec, 96), delta=1e-3)
print(json.dumps({"devices": len(jax.devices()), "objective": result.objective,
                  "params": result.params.tolist()}))
"""


def _run(n_devices: int) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n_devices}"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_devices_give_the_same_fit_as_one_and_as_scipy():
    """Bit-identical fits on one and two devices, and the oracle for both: SciPy least_squares
    (TRF, loss='huber', f_scale=delta, the same box) on the same table ends at the same optimum."""
    one, two = _run(1), _run(2)
    assert (one["devices"], two["devices"]) == (1, 2)
    assert two["objective"] == one["objective"]
    assert two["params"] == one["params"]

    spec, delta = LAWS["chinchilla"], 1e-3
    # The script's table.
    data = fitting.fit_data(spec, chinchilla_table(EPOCH_CHINCHILLA, 100, noise=0.01, seed=2))
    box = fitting.constraints(spec)
    starts = np.array([np.asarray(spec.from_natural(p)) for p in (EPOCH_CHINCHILLA, HOFFMANN_CHINCHILLA)])
    best, residuals = scipy_huber_least_squares(spec, data, starts, delta, box.lower, box.upper)
    scipy_value = float(np.sum(solver.huber(residuals(best.x), delta)))
    ours = np.array(one["params"])
    ours_value = float(np.sum(solver.huber(residuals(ours), delta)))
    assert one["objective"] == pytest.approx(ours_value, rel=1e-10)
    assert ours_value <= scipy_value * (1 + 1e-9) + 1e-15
    np.testing.assert_allclose(ours, best.x, rtol=1e-5, atol=1e-5)
