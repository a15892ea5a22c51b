"""A fit report a person can look at: the runs against the law, residuals, held-out runs, the
coefficients with their intervals, the bootstrap, and the compute-optimal frontier.

    >>> from distlaw.report import fit_report
    >>> report = fit_report("fit.json", "runs.csv")            # doctest: +SKIP
    >>> report.to_html("report.html")                         # one self-contained page
    >>> figure = report.figure("residuals")                   # a matplotlib Figure

Figures are ``matplotlib.figure.Figure`` objects made directly (never pyplot): nothing changes
matplotlib's backend or settings. The HTML page holds every figure inline as SVG, each in a
``<figure>`` with a ``<figcaption>``, and fetches nothing from the network.

Kinds (``FIGURES``; those a fit cannot have are left out: no holdout, no bootstrap, a
distillation fit has no supervised frontier):
  law            the runs against the fitted law: loss against compute 6ND coloured by model
                 size, the law's curve for several sizes and its compute-optimal frontier; for
                 distillation, student loss against teacher loss per student size with the
                 law's capacity-gap curves;
  isoflop        the law's isoFLOP curves (loss against size at fixed compute) and their minima,
                 with the runs nearest each budget (laws of params and tokens);
  residuals      log residuals against each input and against compute; runs on the Huber tail
                 (|r| > delta) and held-out runs marked;
  holdout        held-out runs: observed against predicted loss, with their relative errors;
  bootstrap      the replicates' distribution of every coefficient, with the point fit;
  correlations   pairwise correlations of the replicates' coefficients (logs of scale constants);
  frontier       the compute-optimal N*(C) and D*(C) with the replicates' 90% band.
"""

from __future__ import annotations

import html
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.files import atomic_path

from .kinds import FIT_FIGURES as FIGURES
BAND = 0.9  # coverage of the frontier's band


def fit_report(fit, runs, *, column_map=None, where: str | None = None) -> FitReport:
    """The report of ``fit`` (a FIT.json path or a :class:`~distlaw.fitting.scaling_law.FitResult`)
    on the run tables ``runs`` (the ones it was fitted to, as ``distlaw fit`` read them)."""
    return FitReport(fit, runs, column_map=column_map, where=where)


class FitReport:
    """See the module docstring. ``kinds`` lists the figures this fit has."""

    def __init__(self, fit, runs, *, column_map=None, where: str | None = None):
        from ..fitting.scaling_law import FitResult
        from ..io.runs import read_runs
        from ..laws import user

        self.fit = fit if isinstance(fit, FitResult) else FitResult.load(fit)
        self.source = str(fit) if not isinstance(fit, FitResult) else "the fit"
        self.record = self.fit.record
        self.spec = user.resolve(self.record["law"])
        self.frame = read_runs(runs, required=(*self.spec.input_columns, self.spec.target_column),
                               column_map=column_map, where=where).frame.reset_index(drop=True)
        self.frame["predicted_loss"] = self.fit.predict(self.frame)
        self.observed = self.frame[self.spec.target_column].to_numpy()
        self.residual = np.log(self.frame["predicted_loss"].to_numpy()) - np.log(self.observed)
        holdout = self.record.get("holdout")
        self.held = (self.frame.eval(holdout["expression"]).to_numpy(dtype=bool) if holdout
                     else np.zeros(len(self.frame), dtype=bool))
        self.params_tokens = self.spec.input_columns[:2] == ("params", "tokens")
        self.distillation = self.spec.needs_supervised
        samples = self.record.get("bootstrap_samples") or {}
        self.samples = (pd.DataFrame(samples["values"], columns=samples["names"]) if samples.get("values")
                        else None)
        self.kinds = [kind for kind in FIGURES if self._has(kind)]

    def _has(self, kind: str) -> bool:
        if kind == "isoflop":
            return self.params_tokens and self.spec.input_columns == ("params", "tokens")
        if kind == "holdout":
            return bool(self.held.any())
        if kind in ("bootstrap", "correlations"):
            return self.samples is not None and len(self.samples) >= 2
        if kind == "frontier":
            return self.spec.input_columns == ("params", "tokens")
        return True

    # -- figures ---------------------------------------------------------------------------------

    def figure(self, kind: str):
        """The figure ``kind`` (see ``FIGURES``) as a matplotlib ``Figure``."""
        if kind not in FIGURES:
            raise InputError(f"kind {kind!r}: choose one of {', '.join(FIGURES)}", argument="kind")
        if kind not in self.kinds:
            raise InputError(f"{self.source}: this fit has no {kind!r} figure (it has {', '.join(self.kinds)})",
                             argument="kind")
        return getattr(self, f"_{kind}")()

    def caption(self, kind: str) -> str:
        delta = self.record.get("huber_delta")
        captions = {
            "law": ("Runs against the fitted law. Student loss against teacher loss for each student size "
                    "(points, coloured by N_S) and the law's capacity-gap curve at that size and the runs' "
                    "median tokens (lines)." if self.distillation else
                    "Runs against the fitted law: loss against training compute 6ND, coloured by model size; "
                    "lines are the law at five of the runs' sizes, the dashed line its compute-optimal "
                    "frontier L*(C)."),
            "isoflop": "The law's isoFLOP curves: loss against model size at fixed compute 6ND (lines), their "
                       "minima (stars), and the runs within 15% of each budget (points).",
            "residuals": f"Log residuals log(predicted / observed) against each input and against compute. "
                         f"Crosses: runs on the Huber tail (|r| > delta = {delta}), counted linearly by the fit; "
                         "squares: held-out runs, not fitted.",
            "holdout": f"Held-out runs ({self.record.get('holdout', {}).get('expression', '')}): observed against "
                       "predicted loss; the dotted line is perfect prediction. Their relative errors are "
                       "summarized above.",
            "bootstrap": f"The bootstrap distribution of every coefficient ({0 if self.samples is None else len(self.samples)} "
                         "replicates; scale constants on log axes); the red line is the point fit.",
            "correlations": "Pairwise correlations of the bootstrap replicates' coefficients (logs of scale "
                            "constants): strongly correlated pairs trade off against each other.",
            "frontier": f"The compute-optimal model size N*(C) and tokens D*(C) under the fitted law "
                        f"(compute 6ND), with the {BAND:.0%} band of the bootstrap "
                        "replicates where the fit has them.",
        }
        return captions[kind]

    def _scatter_colour(self, ax, x, y, size, **kwargs):
        from matplotlib.colors import LogNorm

        points = ax.scatter(x, y, c=size, cmap="viridis", norm=LogNorm(), s=14, **kwargs)
        return points

    def _law(self):
        figure = _new_figure(figsize=(7.5, 4.8))
        ax = figure.add_subplot()
        if self.distillation:
            self._law_distillation(ax)
        else:
            self._law_supervised(ax, figure)
        return figure

    def _law_supervised(self, ax, figure):
        n = self.frame[self.spec.input_columns[0]].to_numpy()
        d = self.frame[self.spec.input_columns[1]].to_numpy()
        compute = 6 * n * d
        points = self._scatter_colour(ax, compute, self.observed, n, zorder=3)
        figure.colorbar(points, ax=ax, label="model size N (parameters)")
        grid = np.geomspace(compute.min() / 2, compute.max() * 4, 120)
        if self.spec.input_columns == ("params", "tokens"):
            for size in np.quantile(n, [0.05, 0.3, 0.5, 0.7, 0.95]):
                ax.plot(grid, self.fit.predict((np.full_like(grid, size), grid / (6 * size))), lw=1, color="0.55")
            optimum = self._optimum(grid)
            ax.plot(grid, optimum.loss, "--", color="crimson", lw=1.4, label="compute-optimal L*(C)")
            ax.legend(loc="upper right", fontsize=8)
        ax.set(xscale="log", yscale="log", xlabel="training compute 6ND (FLOPs)",
               ylabel=f"{self.spec.target_column} (nats per token)", title=f"{self.record['law']}: runs and the law",
               ylim=(0.92 * self.observed.min(), 1.15 * self.observed.max()))
        _plain_log_ticks(ax)

    def _law_distillation(self, ax):
        n_s = self.frame["student_params"].to_numpy()
        l_t = self.frame["teacher_loss"].to_numpy()
        self._scatter_colour(ax, l_t, self.observed, n_s, zorder=3)
        sizes = np.unique(n_s)
        for size in sizes[np.linspace(0, len(sizes) - 1, min(4, len(sizes))).astype(int)]:
            members = n_s == size
            d_s = float(np.median(self.frame["student_tokens"].to_numpy()[members]))
            teacher = np.linspace(l_t.min() * 0.95, l_t.max() * 1.05, 100)
            ax.plot(teacher, self.fit.predict((np.full_like(teacher, size), np.full_like(teacher, d_s), teacher)),
                    lw=1, label=f"N_S = {size:.3g}, D_S = {d_s:.3g}")
        ax.legend(fontsize=7)
        ax.set(xlabel="teacher loss L_T (nats per token)", ylabel="student loss L_S (nats per token)",
               title="distillation: runs and the law's capacity-gap curves")

    def _optimum(self, budgets, params=None):
        from ..laws.compute import Architecture
        from ..planning.optimize import compute_optimal

        params = self.spec.from_natural(self.record["params"]) if params is None else params
        best = compute_optimal(self.spec, params, np.asarray(budgets, dtype=np.float64), Architecture(six_nd=True))
        return type(best)(*(np.asarray(a) for a in best))

    def _isoflop(self):
        figure = _new_figure(figsize=(7.5, 4.8))
        ax = figure.add_subplot()
        n, d = (self.frame[c].to_numpy() for c in ("params", "tokens"))
        compute = 6 * n * d
        budgets = np.unique(np.round(np.log10(compute), 1))
        budgets = 10.0 ** budgets[np.linspace(0, len(budgets) - 1, min(6, len(budgets))).astype(int)]
        colours = [f"C{k}" for k in range(len(budgets))]
        optimum = self._optimum(budgets)
        for k, (c, colour) in enumerate(zip(budgets, colours, strict=True)):
            sizes = np.geomspace(n.min() / 3, n.max() * 3, 150)
            ax.plot(sizes, self.fit.predict((sizes, c / (6 * sizes))), color=colour, lw=1, label=f"C = {c:.2g}")
            ax.plot(optimum.params[k], optimum.loss[k], "*", color=colour, ms=12, mec="k", mew=0.5)
            near = np.abs(np.log(compute / c)) < np.log(1.15)
            ax.scatter(n[near], self.observed[near], color=colour, s=12)
        ax.set(xscale="log", yscale="log", xlabel="model size N (parameters)", ylabel="loss (nats per token)",
               title="isoFLOP curves of the law and their minima",
               ylim=(0.92 * self.observed.min(), 1.3 * self.observed.max()))
        _plain_log_ticks(ax)
        ax.legend(fontsize=7)
        return figure

    def _residuals(self):
        columns = list(self.spec.input_columns)
        compute = (6 * self.frame[columns[0]] * self.frame[columns[1]]).to_numpy()
        panels = [(c, self.frame[c].to_numpy()) for c in columns] + [("compute 6ND", compute)]
        figure = _new_figure(figsize=(3.2 * len(panels), 3.4))
        delta = self.record.get("huber_delta") or math.inf
        tail = (np.abs(self.residual) > delta) & ~self.held
        fitted = ~self.held & ~tail
        for k, (name, x) in enumerate(panels):
            ax = figure.add_subplot(1, len(panels), k + 1)
            ax.scatter(x[fitted], self.residual[fitted], s=10, color="C0", label="fitted")
            ax.scatter(x[tail], self.residual[tail], s=18, marker="x", color="crimson", label="Huber tail")
            if self.held.any():
                ax.scatter(x[self.held], self.residual[self.held], s=16, marker="s", facecolor="none",
                           edgecolor="C2", label="held out")
            ax.axhline(0, color="0.3", lw=0.8)
            if np.all(x > 0) and x.max() / x.min() > 20:
                ax.set_xscale("log")
            ax.set(xlabel=name, ylabel="log residual" if k == 0 else None)
            if k == 0:
                ax.legend(fontsize=7)
        figure.tight_layout()
        return figure

    def _holdout(self):
        figure = _new_figure(figsize=(5, 4.6))
        ax = figure.add_subplot()
        observed, predicted = self.observed[self.held], self.frame["predicted_loss"].to_numpy()[self.held]
        ax.scatter(predicted, observed, s=16, color="C2")
        lo, hi = min(observed.min(), predicted.min()), max(observed.max(), predicted.max())
        ax.plot([lo, hi], [lo, hi], ":", color="0.3")
        ax.set(xlabel="predicted loss", ylabel="observed loss", title="held-out runs")
        return figure

    def _scaled_samples(self) -> pd.DataFrame:
        """Replicates with scale constants as logs (their natural axis)."""
        out = self.samples.copy()
        for name in out.columns:
            if name in self.spec.info.scale:
                out[name] = np.log(out[name])
                out = out.rename(columns={name: f"log {name}"})
        return out

    def _bootstrap(self):
        names = list(self.samples.columns)
        cols = min(4, len(names))
        rows = math.ceil(len(names) / cols)
        figure = _new_figure(figsize=(3.0 * cols, 2.5 * rows))
        for k, name in enumerate(names):
            ax = figure.add_subplot(rows, cols, k + 1)
            values = self.samples[name].to_numpy()
            log = name in self.spec.info.scale and np.all(values > 0)
            ax.hist(np.log10(values) if log else values, bins=30, color="C0", alpha=0.8)
            point = self.record["params"][name]
            ax.axvline(math.log10(point) if log else point, color="crimson", lw=1.2)
            ax.set_title(f"log10 {name}" if log else name, fontsize=9)
            ax.tick_params(labelsize=7)
        figure.tight_layout()
        return figure

    def _correlations(self):
        scaled = self._scaled_samples()
        matrix = np.corrcoef(scaled.to_numpy().T)
        names = list(scaled.columns)
        figure = _new_figure(figsize=(1.0 + 0.75 * len(names), 0.6 + 0.7 * len(names)))
        ax = figure.add_subplot()
        image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
        figure.colorbar(image, ax=ax, label="correlation")
        figure.tight_layout()
        return figure

    def _frontier(self):
        n, d = (self.frame[c].to_numpy() for c in ("params", "tokens"))
        budgets = np.geomspace(6 * (n * d).min() / 2, 6 * (n * d).max() * 100, 60)
        point = self._optimum(budgets)
        figure = _new_figure(figsize=(9, 3.8))
        bands = None
        if self.samples is not None and len(self.samples) >= 2:
            runs = [self._optimum(budgets, self.spec.from_natural(dict(row))) for _, row in self.samples.iterrows()]
            bands = {name: np.quantile(np.stack([getattr(r, name) for r in runs]), [(1 - BAND) / 2, (1 + BAND) / 2],
                                       axis=0) for name in ("params", "tokens")}
        for k, (name, label) in enumerate((("params", "compute-optimal size N*"), ("tokens", "compute-optimal tokens D*"))):
            ax = figure.add_subplot(1, 2, k + 1)
            ax.plot(budgets, getattr(point, name), color="C0", lw=1.5, label="point fit")
            if bands is not None:
                ax.fill_between(budgets, *bands[name], color="C0", alpha=0.25, lw=0, label=f"{BAND:.0%} band")
            ax.axvspan(6 * (n * d).min(), 6 * (n * d).max(), color="0.9", zorder=0, label="fitted compute")
            ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel=label)
            ax.legend(fontsize=7)
        figure.tight_layout()
        return figure

    # -- the page -------------------------------------------------------------------------------

    def coefficient_rows(self) -> list[dict]:
        """One row per coefficient: value, interval, standard error, box, flags."""
        record = self.record
        rows = []
        for name, value in record["params"].items():
            flags = [flag for flag, present in (("fixed", name in record.get("fixed", {})),
                                                 (f"tied to {record.get('ties', {}).get(name)}",
                                                  name in record.get("ties", {})),
                                                 ("on a bound", name in record.get("on_bound", [])),
                                                 ("not identified", name in record.get("unidentified", [])))
                     if present]
            rows.append({"name": name, "value": value, "interval": record.get("intervals", {}).get(name),
                         "std_error": record.get("std_errors", {}).get(name),
                         "bounds": record.get("bounds", {}).get(name), "flags": flags})
        return rows

    def to_html(self, path: str | Path) -> Path:
        """Write the report as one self-contained HTML page (atomically); returns the path."""
        path = Path(path)
        text = self.html()
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
        return path

    def html(self) -> str:
        record = self.record
        parts = [f"<h1>Fit report: {html.escape(str(record['law']))}</h1>",
                 f"<p>{html.escape(self.spec.formula)} &mdash; {html.escape(str(self.spec.info.source))}</p>",
                 "<p>" + html.escape(
                     f"{record.get('n_runs')} runs fitted"
                     + (f" ({record['n_rows']} rows)" if "n_rows" in record else "")
                     + f"; objective {record.get('objective')!r} (summed Huber, delta = {record.get('huber_delta')});"
                     f" {record.get('n_starts')} starts, {record.get('converged_fraction', 0):.0%} reached the best;"
                     f" sources: {', '.join(map(str, record.get('sources', [])))}") + "</p>",
                 self._table_html()]
        if record.get("holdout"):
            h = record["holdout"]
            parts.append(f"<p>Held out ({html.escape(h['expression'])}): {h['n']} runs, relative error mean "
                         f"{h['mean_abs_rel_error']:.3%}, max {h['max_abs_rel_error']:.3%}.</p>")
        for note in record.get("notes", []):
            parts.append(f"<p class='note'>Note: {html.escape(str(note))}</p>")
        for kind in self.kinds:
            parts.append(f"<figure id='{kind}'>{_svg(self.figure(kind))}"
                         f"<figcaption>{html.escape(self.caption(kind))}</figcaption></figure>")
        style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
                 "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                 "figure{margin:2em 0}figcaption{color:#444;font-size:0.9em;max-width:900px}"
                 "svg{max-width:100%;height:auto}.note{color:#8a5a00}")
        return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>distlaw fit report: {html.escape(str(record['law']))}</title><style>{style}</style></head>"
                f"<body>{''.join(parts)}<p><small>distlaw {html.escape(str(record.get('distlaw_version', '')))}"
                "</small></p></body></html>")

    def _table_html(self) -> str:
        head = ("<table id='coefficients'><tr><th>coefficient</th><th>value</th><th>interval"
                f" ({self.record.get('ci', 0.9):.0%})</th><th>std. error (optimizer space)</th><th>box</th>"
                "<th>flags</th></tr>")
        body = []
        for row in self.coefficient_rows():
            interval = "" if row["interval"] is None else f"[{row['interval'][0]:.6g}, {row['interval'][1]:.6g}]"
            se = "" if row["std_error"] is None else f"{row['std_error']:.3g}"
            box = "" if row["bounds"] is None else "[" + ", ".join("open" if v is None else f"{v:g}"
                                                                  for v in row["bounds"]) + "]"
            body.append(f"<tr><td>{html.escape(row['name'])}</td><td class='value'>{row['value']:.6g}</td>"
                        f"<td>{interval}</td><td>{se}</td><td>{box}</td><td>{html.escape(', '.join(row['flags']))}</td></tr>")
        return head + "".join(body) + "</table>"


def _new_figure(**kwargs):
    """A matplotlib ``Figure`` of its own: no pyplot, no global backend or state touched."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("reports and plots need matplotlib: pip install 'distlaw[plot]'") from None
    return Figure(**kwargs)


def _plain_log_ticks(ax) -> None:
    """Loss axes on a log scale read as plain numbers (2.5, 3), not powers of ten."""
    from matplotlib.ticker import FormatStrFormatter

    from matplotlib.ticker import NullFormatter

    low, high = ax.get_ylim()
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    # Within a decade the minor ticks are the only ones: label them; across decades they crowd.
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g") if high / low < 10 else NullFormatter())


def _svg(figure) -> str:
    """The figure as inline SVG (its XML prologue dropped), the same bytes every time: no date,
    and element ids salted by a constant (``rc_context`` restores matplotlib's setting after)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "distlaw"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def plot_fit(fit, runs, kind: str, output: str | Path, *, column_map=None, where: str | None = None) -> Path:
    """One figure of the fit report as PNG, SVG or PDF (by ``output``'s suffix), written atomically."""
    figure = fit_report(fit, runs, column_map=column_map, where=where).figure(kind)
    output = Path(output)
    with atomic_path(output) as tmp:
        figure.savefig(tmp, dpi=120, bbox_inches="tight", format=output.suffix.lstrip(".").lower() or "png")
    return output
