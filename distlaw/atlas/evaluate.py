"""Atlases: the fitted laws evaluated over dense grids, chunk by chunk (pure JAX; no I/O here).

A loss-atlas row is one grid point (N_S, D_S, N_T, D_T) or (N_S, D_S, L_T): the teacher's loss
L_T = L(N_T, D_T), the student's supervised loss Ltilde_S = L(N_S, D_S), the distilled
student's loss L_S (Eq. 8), and the FLOPs of each scenario (Eq. 9). Rows enumerate the grid in
C order (the last axis fastest); one hive partition holds one student size. What a row needs
from fewer than all axes is tabulated once per partition (:func:`loss_tables`); a chunk is a
contiguous block of one partition's rows, combined from those tables on the device
(:func:`loss_chunk`), so no host array ever holds the grid, and a 1e9-point grid runs in the
memory of one chunk.

On several devices the chunk's rows are split over them with ``jax.sharding`` (the row index,
or the chunk's D_S slices, are sharded; everything else follows). Every row is the same few
additions and transcendentals of the same table entries, whether gathered or broadcast, so the
rows are identical, bit for bit, whatever the chunk layout and the device count.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..laws.compute import SCENARIOS, forward_flops
from ..laws.forms import distillation_log_loss, supervised_log_loss
from ..planning.optimize import PlanningLaws
from ..laws.precision import float64


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


# XLA's loop emitters on the CPU, as distlaw's solver programs (distlaw.fitting.programs):
# a 33M-row atlas's chunks cost 0.25 fewer CPU-seconds than with its fusion emitters, and the
# command 0.1-0.2 s less (benchmarks/README.md). A debug option of every backend's compiler;
# only the CPU's reads it.
ROW_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


@float64
@partial(jax.jit, compiler_options=ROW_COMPILER_OPTIONS)
def loss_tables(laws: PlanningLaws, n_s, inner_axes) -> dict:
    """Everything a loss-atlas row needs that depends on fewer than all of its axes, for one N_S.

    With p the distillation coefficients (Eq. 8, in logs) and F the forward FLOPs per token:
      per D_S (vectors):       D_S, Ltilde_S, u_S = (log Ltilde_S + log d1) / f1,
                               r_S = gamma' LSE(log A' - alpha' log N_S, log B' - beta' log D_S),
                               3 F(N_S) D_S (student training FLOPs), and per distinct
                               delta_lgt > 0, delta_lgt F(N_T) D_S as a [D_S, N_T] table
                               (teacher logits);
      per teacher ([N_T, D_T], or [L_T]):
                               N_T, D_T, L_T, u_T = log L_T / f1, k_T = -c0 log L_T, and per
                               distinct delta_pre > 0, 3 delta_pre F(N_T) D_T (teacher
                               pretraining FLOPs).
    Memory: O(D_S N_T + N_T D_T) values, a small part of a partition's D_S N_T D_T rows.
    A row then costs one softplus, one exp and a few additions (:func:`loss_chunk`): half of
    evaluating the law per row (measured). The tables are their own compiled program, called
    once per partition, so that their values cannot depend on how the rows are chunked: fused
    into the row program, XLA contracts their multiply-adds into FMAs differently for each chunk
    shape, and the last bit of a row would depend on the chunk layout and the device count.
    """
    p = laws.distillation
    d_s = inner_axes[0]
    log_n_s, log_d_s = jnp.log(n_s), jnp.log(d_s)
    log_l_sup = supervised_log_loss(laws.supervised, log_n_s, log_d_s)
    tables = {"n_s": jnp.asarray(n_s, float), "d_s": d_s, "log_d_s": log_d_s, "log_l_sup": log_l_sup,
              "l_sup": jnp.exp(log_l_sup), "u_s": (log_l_sup + p.log_d1) / p.f1,
              "r_s": p.gamma * jnp.logaddexp(p.log_a - p.alpha * log_n_s, p.log_b - p.beta * log_d_s),
              "student_flops": 3.0 * forward_flops(n_s, laws.arch) * d_s}
    if len(inner_axes) == 3:
        n_t, d_t = inner_axes[1], inner_axes[2]
        log_l_t = supervised_log_loss(laws.supervised, jnp.log(n_t)[:, None], jnp.log(d_t)[None, :])
        f_t = forward_flops(n_t, laws.arch)
        tables["n_t"] = jnp.broadcast_to(n_t[:, None], log_l_t.shape)
        tables["d_t"] = jnp.broadcast_to(d_t[None, :], log_l_t.shape)
        # One table per distinct nonzero share (a zero share adds nothing): two tables for Table 2.
        tables["logit_flops"] = {_share(s.delta_lgt): s.delta_lgt * d_s[:, None] * f_t[None, :]
                                 for s in SCENARIOS.values() if s.delta_lgt}
        tables["pretraining_flops"] = {_share(s.delta_pre): 3.0 * s.delta_pre * f_t[:, None] * d_t[None, :]
                                       for s in SCENARIOS.values() if s.delta_pre}
    else:
        log_l_t = jnp.log(inner_axes[1])
    tables.update(log_l_t=log_l_t, l_t=jnp.exp(log_l_t), u_t=log_l_t / p.f1, k_t=-p.c0 * log_l_t)
    return tables


@float64
@partial(jax.jit, static_argnames=("size", "aligned", "sharding", "quantiles"), donate_argnames=("recycled",),
         keep_unused=True, compiler_options=ROW_COMPILER_OPTIONS)
def loss_chunk(laws: PlanningLaws, tables: dict, start, samples=None, recycled=None, *, size: int,
               aligned: bool = False, sharding=None, quantiles=()) -> dict:
    """Rows ``start .. start + size`` of one student size's block of the loss atlas.

    Args:
      laws: the supervised and distillation coefficients and the compute model.
      tables: :func:`loss_tables` of the partition's student size N_S over the inner axes
        (D_S, N_T, D_T) or (D_S, L_T).
      start: first row (within the partition); rows past the end repeat the last one and are
        dropped by the caller.
      aligned: ``start`` is a multiple of ``size`` (the chunks tile the partition): chunks of
        whole D_S slices may then broadcast the tables instead of gathering them.
      samples: ``[B, 9]`` bootstrap replicates of the distillation coefficients (optimizer
        form); with ``quantiles``, L_S is evaluated under every replicate on the device and
        reduced to those quantiles (the supervised law, and so L_T and Ltilde_S, stay fixed).
      recycled: an earlier chunk's output (same size and columns) that nothing reads any more:
        donated, so this chunk's rows are written into its memory. Fresh buffers cost a page
        fault per 4 KiB on first touch: half the CPU time of a 33M-row atlas's rows (measured,
        benchmarks/README.md). Its values are never read; a buffer something still views (a
        NumPy array over it) is not reused, and the chunk gets a fresh one.
    Returns:
      ``{column: array[size]}`` in float64.
    """
    teacher_sizes = tables["l_t"].ndim == 2
    shape = (tables["d_s"].shape[0], *tables["l_t"].shape)
    block = math.prod(shape[1:])  # rows per D_S value
    n_devices = 1 if sharding is None else sharding.mesh.size
    whole_slices = size % block == 0 and math.prod(shape) % size == 0 and (size // block) % n_devices == 0
    if aligned and whole_slices and not quantiles:
        # Chunks of whole D_S slices (chunk_rows >= a partition, say) broadcast the tables over
        # the block: no per-row index arithmetic, and the same values bit for bit.
        per_d_s, per_teacher, finish = _broadcast_rows(shape, start // block, size // block, sharding)
    else:
        per_d_s, per_teacher, finish = _gathered_rows(shape, start, size, sharding)
    n_s = tables["n_s"]
    d_s = per_d_s(tables["d_s"])
    l_t = per_teacher(tables["l_t"])
    # Per row only what couples the student and the teacher (Eq. 8, see loss_tables):
    #   L_S = L_T + exp((k_T + r_S) + c softplus(u_T - u_S)),  c = -c1 f1.
    coupling = -laws.distillation.c1 * laws.distillation.f1
    out = {"student_params": finish(jnp.full_like(d_s, n_s)), "student_tokens": finish(d_s)}
    if teacher_sizes:
        out.update(teacher_params=finish(per_teacher(tables["n_t"])), teacher_tokens=finish(per_teacher(tables["d_t"])))
    exponent = (per_teacher(tables["k_t"]) + per_d_s(tables["r_s"])
                + coupling * jax.nn.softplus(per_teacher(tables["u_t"]) - per_d_s(tables["u_s"])))
    out.update(teacher_loss=finish(l_t), supervised_loss=finish(per_d_s(tables["l_sup"])),
               student_loss=finish(l_t + jnp.exp(exponent)))
    if quantiles:
        params_type = type(laws.distillation)
        log_d_s, log_l_t = per_d_s(tables["log_d_s"]), per_teacher(tables["log_l_t"])
        log_l_sup = per_d_s(tables["log_l_sup"])
        per_sample = jax.vmap(lambda q: distillation_log_loss(params_type(*q), jnp.log(n_s), log_d_s, log_l_t,
                                                              log_l_sup))(samples)
        # Quantiles of L_S itself (interpolating between replicates in loss, not in log loss).
        values = jnp.quantile(jnp.exp(per_sample), jnp.asarray(quantiles), axis=0)
        out.update({quantile_column(q): v for q, v in zip(quantiles, values, strict=True)})
    for name, scenario in SCENARIOS.items() if teacher_sizes else [("best-case", SCENARIOS["best-case"])]:
        # Eq. 9 as a sum of tabulated terms: only additions per row (no multiply to contract).
        flops = per_d_s(tables["student_flops"])
        if scenario.delta_lgt:
            flops = flops + per_d_s(tables["logit_flops"][_share(scenario.delta_lgt)])
        if scenario.delta_pre:
            flops = flops + per_teacher(tables["pretraining_flops"][_share(scenario.delta_pre)])
        out[flops_column(name)] = finish(flops)
    return out


def _share(delta: float) -> str:
    """A table key for a scenario's share of the teacher's logits or pretraining."""
    return repr(float(delta))


def _broadcast_rows(shape, first_slice, slices, sharding):
    """Row builders for a chunk of whole D_S slices: tables broadcast over the grid block.

    Returns ``(per_d_s, per_teacher, finish)``: a D_S-indexed table (or a [D_S, N_T] table),
    a teacher-indexed table, each shaped to broadcast over [slices, *teacher axes]; ``finish``
    flattens a block into the chunk's rows (sharded over the devices by slice).
    """
    ndim = len(shape)
    block_shape = (slices, *shape[1:])

    def per_d_s(table):
        table = jax.lax.dynamic_slice_in_dim(table, first_slice, slices)
        return table.reshape(table.shape + (1,) * (ndim - table.ndim))  # [slices, 1, 1] or [slices, N_T, 1]

    def per_teacher(table):
        return table[None]

    def finish(values):
        values = jnp.broadcast_to(values, block_shape)
        if sharding is not None:
            spec = jax.sharding.PartitionSpec("rows", *(None,) * (ndim - 1))
            values = jax.lax.with_sharding_constraint(values, jax.sharding.NamedSharding(sharding.mesh, spec))
        return values.reshape(-1)

    return per_d_s, per_teacher, finish


def _gathered_rows(shape, start, size, sharding):
    """Row builders for any chunk: each row gathers its table entries by its grid index.

    Rows past the grid's end repeat the last row (the caller drops them).
    """
    row = jnp.minimum(start + jnp.arange(size), math.prod(shape) - 1)
    if sharding is not None:
        row = jax.lax.with_sharding_constraint(row, sharding)
    index = jnp.unravel_index(row, shape)

    def per_d_s(table):
        return table[index[0]] if table.ndim == 1 else table[index[0], index[1]]

    def per_teacher(table):
        return table[index[1:]]

    def finish(values):
        return jnp.broadcast_to(values, (size,))

    return per_d_s, per_teacher, finish


def numpy_loss_rows(laws: PlanningLaws, n_s: float, inner_axes) -> dict:
    """The same rows as :func:`loss_chunk` for a whole partition, in plain NumPy (the obvious way).

    The benchmark's baseline and the tests' slow reference.
    """
    from ..laws.compute import forward_flops

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


# ---------------------------------------------------------------------------------------------
# Law atlases: one law of params and tokens (chinchilla, supervised, kaplan, a law of your own).

LAW_LOSS_COLUMNS = ("params", "tokens", "tokens_per_param", "loss", "training_flops")


@float64
def law_loss_rows(spec, params, n: float, tokens) -> dict:
    """One partition of a law atlas: L(N, D) at size ``n`` for every D of ``tokens`` (``spec``
    a LawSpec of params and tokens, ``params`` its optimizer-form coefficients); the training
    FLOPs 3 F(N) D are added by the writer, which knows the compute model."""
    tokens = jnp.asarray(tokens, dtype=jnp.float64)
    loss = jnp.exp(_law_log_loss(spec.log_loss, params, jnp.log(jnp.float64(n)), jnp.log(tokens)))
    return {"params": np.full(tokens.shape, float(n)), "tokens": np.asarray(tokens),
            "tokens_per_param": np.asarray(tokens) / float(n), "loss": np.asarray(loss)}


@partial(jax.jit, static_argnames=("log_loss",))
def _law_log_loss(log_loss, params, log_n, log_d):
    return log_loss(params, log_n, log_d)
