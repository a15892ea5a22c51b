"""A host with several devices fits exactly as a host with one.

The solver runs its lanes on the default device: splitting them over virtual CPU devices with
jax.shard_map gave no speed-up here (XLA ran both on one thread; benchmarks/README.md), so the
split was dropped. This guards that nothing in fitting depends on the device count.
"""

import json
import os
import subprocess
import sys

SCRIPT = """
import json, jax
jax.config.update("jax_enable_x64", True)
from distlaw import fitting, starts
from distlaw.laws import LAWS, EPOCH_CHINCHILLA
from distlaw.synthetic import chinchilla_table
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


def test_two_devices_give_the_same_fit_as_one():
    one, two = _run(1), _run(2)
    assert (one["devices"], two["devices"]) == (1, 2)
    assert two["objective"] == one["objective"]
    assert two["params"] == one["params"]
