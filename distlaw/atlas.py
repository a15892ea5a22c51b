"""Atlases: the fitted laws evaluated over dense grids, chunk by chunk (pure JAX; no I/O here).

A loss-atlas row is one grid point (N_S, D_S, N_T, D_T) or (N_S, D_S, L_T): the teacher's loss
L_T = L(N_T, D_T), the student's supervised loss Ltilde_S = L(N_S, D_S), the distilled
student's loss L_S (Eq. 8), and the FLOPs of each scenario (Eq. 9). Rows enumerate the grid in
C order (the last axis fastest); one hive partition holds one student size. A chunk is a
contiguous block of one partition's rows, computed from its start index on the device, so no
host array ever holds the grid, and a 1e9-point grid runs in the memory of one chunk.

On several devices the chunk's rows are split over them with ``jax.sharding`` (the row index is
sharded, everything else follows); every row is computed by the same elementwise program, so
the rows are identical whatever the device count.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .compute import SCENARIOS, flops_from_forward, forward_flops
from .laws import distillation_log_loss, supervised_log_loss
from .planning import PlanningLaws


def flops_column(name: str) -> str:
    """``best-case`` -> ``flops_best_case``."""
    return "flops_" + name.replace("-", "_")


def quantile_column(q: float) -> str:
    """0.05 -> ``student_loss_p05``; 0.975 -> ``student_loss_p97_5``."""
    text = f"{100 * q:.10g}".replace(".", "_")
    return f"student_loss_p{text.zfill(2) if '_' not in text else text}"


def loss_columns(teacher_sizes: bool, quantiles=()) -> tuple[str, ...]:
    """Column order of the loss atlas (teacher sizes known, or teacher loss as an axis)."""
    inputs = (("student_params", "student_tokens", "teacher_params", "teacher_tokens") if teacher_sizes
              else ("student_params", "student_tokens"))
    flops = tuple(flops_column(s) for s in SCENARIOS) if teacher_sizes else (flops_column("best-case"),)
    return (*inputs, "teacher_loss", "supervised_loss", "student_loss", *map(quantile_column, quantiles), *flops)


def mesh_sharding(devices=None):
    """A 1-D sharding of rows over all visible devices (None on one device)."""
    devices = jax.devices() if devices is None else devices
    if len(devices) < 2:
        return None
    mesh = jax.sharding.Mesh(np.array(devices), ("rows",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("rows"))


@partial(jax.jit, static_argnames=("size", "sharding", "quantiles"))
def loss_chunk(laws: PlanningLaws, n_s, inner_axes, start, samples=None, *, size: int, sharding=None,
               quantiles=()) -> dict:
    """Rows ``start .. start + size`` of one student size's block of the loss atlas.

    Args:
      laws: the supervised and distillation coefficients and the compute model.
      n_s: the partition's student size N_S.
      inner_axes: (D_S, N_T, D_T) or (D_S, L_T) axis values.
      start: first row (within the partition); rows past the end repeat the last one and are
        dropped by the caller.
      samples: ``[B, 9]`` bootstrap replicates of the distillation coefficients (optimizer
        form); with ``quantiles``, L_S is evaluated under every replicate on the device and
        reduced to those quantiles (the supervised law, and so L_T and Ltilde_S, stay fixed).
    Returns:
      ``{column: array[size]}`` in float64.
    """
    shape = tuple(a.shape[0] for a in inner_axes)
    total = int(np.prod(shape))
    # Tabulate what depends on fewer than all axes once per chunk, then gather, so that per row
    # only what couples student and teacher remains (measured: the rows cost half as much as
    # evaluating the law per row). With p = the distillation coefficients (Eq. 8, in logs):
    #   per D_S:       Ltilde_S, u_S = (log Ltilde_S + log d1) / f1,
    #                  r_S = gamma' LSE(log A' - alpha' log N_S, log B' - beta' log D_S)
    #   per teacher:   L_T, u_T = log L_T / f1, k_T = -c0 log L_T
    #   per row:       L_S = L_T + exp(k_T - c1 f1 softplus(u_T - u_S) + r_S)
    p = laws.distillation
    log_n_s = jnp.log(n_s)
    d_s_axis = inner_axes[0]
    log_d_s_axis = jnp.log(d_s_axis)
    log_l_sup_axis = supervised_log_loss(laws.supervised, log_n_s, log_d_s_axis)
    reducible_axis = p.gamma * jnp.logaddexp(p.log_a - p.alpha * log_n_s, p.log_b - p.beta * log_d_s_axis)
    u_s_axis = (log_l_sup_axis + p.log_d1) / p.f1
    teacher_sizes = len(inner_axes) == 3
    if teacher_sizes:
        n_t_axis, d_t_axis = inner_axes[1], inner_axes[2]
        log_l_t_table = supervised_log_loss(laws.supervised, jnp.log(n_t_axis)[:, None], jnp.log(d_t_axis)[None, :])
        f_t_axis = forward_flops(n_t_axis, laws.arch)
    else:
        log_l_t_table = jnp.log(inner_axes[1])
    l_t_table, u_t_table, k_t_table = jnp.exp(log_l_t_table), log_l_t_table / p.f1, -p.c0 * log_l_t_table
    row = jnp.minimum(start + jnp.arange(size), total - 1)
    if sharding is not None:
        row = jax.lax.with_sharding_constraint(row, sharding)
    index = jnp.unravel_index(row, shape)
    teacher = (index[1], index[2]) if teacher_sizes else (index[1],)
    d_s = d_s_axis[index[0]]
    l_t = l_t_table[teacher]
    out = {"student_params": jnp.full_like(d_s, n_s), "student_tokens": d_s}
    if teacher_sizes:
        n_t, d_t = n_t_axis[index[1]], d_t_axis[index[2]]
        out.update(teacher_params=n_t, teacher_tokens=d_t)
    gap = -p.c1 * p.f1 * jax.nn.softplus(u_t_table[teacher] - u_s_axis[index[0]])
    out.update(teacher_loss=l_t, supervised_loss=jnp.exp(log_l_sup_axis)[index[0]],
               student_loss=l_t + jnp.exp(k_t_table[teacher] + gap + reducible_axis[index[0]]))
    if quantiles:
        params_type = type(laws.distillation)
        log_d_s, log_l_t = log_d_s_axis[index[0]], log_l_t_table[teacher]
        log_l_sup = log_l_sup_axis[index[0]]
        per_sample = jax.vmap(lambda q: distillation_log_loss(params_type(*q), log_n_s, log_d_s, log_l_t, log_l_sup))(
            samples)
        # Quantiles of L_S itself (interpolating between replicates in loss, not in log loss).
        values = jnp.quantile(jnp.exp(per_sample), jnp.asarray(quantiles), axis=0)
        out.update({quantile_column(q): v for q, v in zip(quantiles, values, strict=True)})
    f_s = forward_flops(n_s, laws.arch)
    for name, s in SCENARIOS.items():
        if teacher_sizes:
            out[flops_column(name)] = flops_from_forward(f_s, d_s, f_t_axis[index[1]], d_t, s.delta_lgt, s.delta_pre)
        elif name == "best-case":  # without teacher sizes only the free teacher can be costed
            out[flops_column(name)] = flops_from_forward(f_s, d_s, 0.0, 0.0, 0.0, 0.0)
    return out


def numpy_loss_rows(laws: PlanningLaws, n_s: float, inner_axes) -> dict:
    """The same rows as :func:`loss_chunk` for a whole partition, in plain NumPy (the obvious way).

    The benchmark's baseline and the tests' slow reference.
    """
    from .compute import forward_flops

    grids = np.meshgrid(*inner_axes, indexing="ij")
    d_s = grids[0].ravel()
    n = np.full_like(d_s, n_s)
    sup = {f: float(v) for f, v in zip(laws.supervised._fields, laws.supervised, strict=True)}
    dist = {f: float(v) for f, v in zip(laws.distillation._fields, laws.distillation, strict=True)}

    def supervised(n, d):
        return sup_e + (np.exp(sup["log_a"]) / n ** sup["alpha"] + np.exp(sup["log_b"]) / d ** sup["beta"]) ** sup["gamma"]

    sup_e = np.exp(sup["log_e"])
    l_sup = supervised(n, d_s)
    out = {"student_params": n, "student_tokens": d_s}
    if len(inner_axes) == 3:
        n_t, d_t = grids[1].ravel(), grids[2].ravel()
        out.update(teacher_params=n_t, teacher_tokens=d_t)
        l_t = supervised(n_t, d_t)
    else:
        l_t = grids[1].ravel()
    reducible = (np.exp(dist["log_a"]) / n ** dist["alpha"] + np.exp(dist["log_b"]) / d_s ** dist["beta"]) ** dist["gamma"]
    gap = (1 + (l_t / (l_sup * np.exp(dist["log_d1"]))) ** (1 / dist["f1"])) ** (-dist["c1"] * dist["f1"])
    out.update(teacher_loss=l_t, supervised_loss=l_sup, student_loss=l_t + l_t ** (-dist["c0"]) * gap * reducible)
    f_s = np.asarray(forward_flops(n_s, laws.arch))
    if len(inner_axes) == 3:
        f_t = np.asarray(forward_flops(out["teacher_params"], laws.arch))
        for name, s in SCENARIOS.items():
            out[flops_column(name)] = 3 * f_s * d_s + f_t * (s.delta_lgt * d_s + s.delta_pre * 3 * out["teacher_tokens"])
    else:
        out[flops_column("best-case")] = 3 * f_s * d_s
    return out


def iso_loss_lines(x, y, z, levels) -> list[tuple[float, int, np.ndarray, np.ndarray]]:
    """Iso-loss lines of ``z[i, j]`` over the grid ``x[j]``, ``y[i]`` (drawn in log10 x and y).

    Returns ``(level, path, xs, ys)`` per line piece, points in the grid's natural units. Lines
    are traced in log space (the atlases' axes are log-spaced), by contourpy's marching squares.
    """
    import contourpy

    generator = contourpy.contour_generator(np.log10(x), np.log10(y), np.ma.masked_invalid(z),
                                            line_type=contourpy.LineType.Separate)
    out = []
    for level in levels:
        for path, points in enumerate(generator.lines(float(level))):
            out.append((float(level), path, 10 ** points[:, 0], 10 ** points[:, 1]))
    return out
