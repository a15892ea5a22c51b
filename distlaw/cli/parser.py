"""The ``distlaw`` argument parser: one small function per subcommand.

Choices, defaults and help come from :mod:`distlaw.laws.catalog` (the law names, their
formulas, the scenarios, the fitting defaults, the compute model's settings), which imports
no JAX, so ``distlaw --help`` stays instant and never lists a law the library does not know.
Each subcommand's ``func`` is the ``cmd_*`` function of :mod:`distlaw.cli.commands` that runs it.
"""

from __future__ import annotations

import argparse

from ..report.kinds import ATLAS_FIGURES, FIT_FIGURES
from ..laws.catalog import (
    DEFAULT_CI,
    DEFAULT_HUBER_DELTA,
    DEFAULT_MAX_ITERATIONS,
    LAW_INFO,
    LAW_NAMES,
    PAPER_ARCHITECTURE,
    PLAN_SCENARIOS,
    RESIDUALS,
    SYNTHETIC,
)
from ..version import __version__

# The Python API's argument names -> this CLI's flags, where they differ from "--name-with-dashes";
# library errors name the argument (DistlawError.argument) and the CLI shows the flag instead.
FLAGS = {"budgets": "--budget", "fixed": "--fix", "ties": "--tie", "column_map": "--map", "scenarios": "--scenario"}


def flag(argument: str) -> str:
    """The command-line flag for a Python API argument name (``teacher_loss`` -> ``--teacher-loss``)."""
    return FLAGS.get(argument, "--" + argument.replace("_", "-"))


class _LawChoices(tuple):
    """The built-in law names, shown in help and errors, that also admit ``PATH.py:FUNCTION``
    (a user's law; :mod:`distlaw.laws.user` checks it)."""

    def __contains__(self, value) -> bool:
        path, colon, function = str(value).rpartition(":")
        return tuple.__contains__(self, value) or bool(colon and path.endswith(".py") and function)


def _laws_epilog() -> str:
    lines = ["laws:"]
    for name in LAW_NAMES:
        info = LAW_INFO[name]
        lines.append(f"  {name:<17} {info.formula}")
        lines.append(f"  {'':<17} inputs {', '.join(info.inputs)} -> {info.target}; "
                     f"presets {', '.join(info.presets)}; {info.source}")
    return "\n".join(lines)


def _table_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="run tables: CSV, Parquet, JSON Lines files or folders")
    p.add_argument("--map", action="append", metavar="CANONICAL=SOURCE",
                   help="rename a column of a foreign log, e.g. params='Model Size'")
    p.add_argument("--where", metavar="EXPR", help="keep the rows matching a pandas query")


def _add_fit(sub, commands) -> None:
    fit = sub.add_parser("fit", help="fit a law to run tables", epilog=_laws_epilog(),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _table_options(fit)
    fit.add_argument("--law", required=True, choices=_LawChoices(LAW_NAMES), metavar="LAW",
                     help=f"a built-in law ({', '.join(LAW_NAMES)}; `distlaw laws` lists them) or a "
                          "law of your own, PATH.py:FUNCTION (see the README)")
    fit.add_argument("-o", "--output", required=True, metavar="FIT.json")
    fit.add_argument("--huber-delta", type=float, default=DEFAULT_HUBER_DELTA,
                     help=f"Huber delta on the residuals (default {DEFAULT_HUBER_DELTA:g}, the paper's; "
                          "inf: least squares)")
    fit.add_argument("--max-iterations", type=int, metavar="N",
                     help=f"iteration limit of each start (default {DEFAULT_MAX_ITERATIONS}; FIT.json "
                          "'stopped_early' says when it bit)")
    fit.add_argument("--residuals", choices=RESIDUALS, default=RESIDUALS[0],
                     help="log Lhat - log L (default, the paper's) or Lhat - L (curve_fit on the loss)")
    fit.add_argument("--starts", help="'paper' (the paper's grid), N (distlaw's design of N), or a CSV of starts "
                                      "(default: " + ", ".join(f"{n} {LAW_INFO[n].default_starts}"
                                                               for n in LAW_NAMES) + ")")
    fit.add_argument("--seed", type=int, default=0, help="seed of the start design and the bootstrap")
    fit.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a coefficient fixed")
    fit.add_argument("--tie", action="append", metavar="NAME=OTHER",
                     help="fit one shared value for two coefficients, e.g. beta=alpha (repeatable)")
    fit.add_argument("--bounds", action="append", metavar="NAME=LO:HI",
                     help="override a coefficient's box in natural form (LO: or :HI for one side; repeatable)")
    fit.add_argument("--bootstrap", type=int, metavar="B", help="B bootstrap resamples for intervals")
    fit.add_argument("--ci", type=float, default=DEFAULT_CI, help=f"interval coverage (default {DEFAULT_CI:g})")
    fit.add_argument("--holdout", metavar="EXPR", help="fit on the other runs, report error on these")
    fit.add_argument("--group-by", metavar="COL[,COL]", help="fit every group in one batched call")
    fit.add_argument("--warm-start", metavar="OLD.json", help="also start from an earlier fit")
    fit.add_argument("--run-id", metavar="COLUMN",
                     help="the column naming each row's training run (tables of checkpoints): the bootstrap "
                          "resamples whole runs, and the summary counts runs and rows")
    fit.add_argument("--overestimate-weight", type=float, default=1.0, metavar="W",
                     help="residuals where the law predicts a higher loss than observed count W times "
                          "(fitted with optax's L-BFGS; default 1: symmetric)")
    fit.add_argument("--prior", action="append", metavar="NAME=MEAN:SD",
                     help="a Gaussian prior on a coefficient, natural units, e.g. E=1.7:0.05 (repeatable; "
                          "fitted with optax's L-BFGS)")
    fit.add_argument("--weights", metavar="COLUMN",
                     help="a column of run weights (>= 0): the objective is sum_i w_i Huber(r_i)")
    fit.add_argument("--chunk-rows", type=int, metavar="N",
                     help="runs per chunk of the normal equations on large tables (default: sized from memory)")
    needs = [n for n in LAW_NAMES if LAW_INFO[n].needs_supervised]
    fit.add_argument("--supervised", metavar="FIT.json|paper",
                     help=f"supervised law for Ltilde_S (required with --law {'/'.join(needs)}): a supervised "
                          "or chinchilla FIT.json, paper (Table 6), or a table of supervised runs to fit first")
    fit.set_defaults(func=commands.cmd_fit)


def _add_predict(sub, commands) -> None:
    predict = sub.add_parser("predict", help="add a predicted_loss column to run tables")
    predict.add_argument("fit", metavar="FIT.json", help="a fit file or a preset (paper)")
    _table_options(predict)
    predict.add_argument("-o", "--output", required=True, metavar="OUT")
    predict.add_argument("--interval", type=float, metavar="LEVEL",
                         help="add confidence_lo/hi (the law's value) and prediction_lo/hi (a new run's loss) at "
                              "this coverage, e.g. 0.9, from the fit's bootstrap replicates (fit with --bootstrap)")
    predict.set_defaults(func=commands.cmd_predict)


def _add_generate(sub, commands) -> None:
    generate = sub.add_parser("generate", help="write a synthetic run table drawn from a published law")
    generate.add_argument("kind", choices=tuple(SYNTHETIC))
    generate.add_argument("-o", "--output", required=True)
    generate.add_argument("--runs", type=int, default=240)
    generate.add_argument("--noise", type=float,
                          help="standard deviation of the log loss noise (default: "
                               + ", ".join(f"{k} {noise:g}" for k, (_, noise) in SYNTHETIC.items())
                               + "; at 0.01 a distillation table's weak-to-strong extrapolation is no longer "
                                 "pinned down)")
    generate.add_argument("--seed", type=int, default=0)
    generate.set_defaults(func=commands.cmd_generate)


def _add_isoflop(sub, commands) -> None:
    isoflop = sub.add_parser("isoflop", help="compute-optimal exponents from isoFLOP minima (Chinchilla's "
                                             "Approach 2, Akima argmin as in Porian et al.)")
    _table_options(isoflop)
    isoflop.add_argument("--bootstrap", type=int, default=1000, metavar="B",
                         help="resamples of the budgets for the intervals (default 1000; 0 for none)")
    isoflop.add_argument("--seed", type=int, default=0, help="seed of the budget resampling")
    isoflop.add_argument("--ci", type=float, default=DEFAULT_CI, help=f"interval coverage (default {DEFAULT_CI:g})")
    isoflop.add_argument("--method", choices=("akima", "parabola"), default="akima",
                         help="per-budget minimum: akima (Porian et al.'s spline argmin, the default) or parabola "
                              "(Hoffmann et al.'s vertex of a least-squares parabola of loss over log N)")
    isoflop.add_argument("-o", "--output", metavar="OUT.json", help="write the minima and exponents as JSON")
    isoflop.set_defaults(func=commands.cmd_isoflop)


def _add_plan(sub, commands) -> None:
    plan = sub.add_parser("plan", help="compute-optimal allocation: distill or train, how big a teacher, "
                                       "how many tokens")
    plan.add_argument("--student-params", help="N_S: list (3e8,1e9) or range (1e8:1e10:5); required with a "
                                               "distillation fit")
    plan.add_argument("--budget", required=True, help="C in FLOPs: list or range (1e20:1e25:11)")
    plan.add_argument("--scenario", default="all", choices=("all", *PLAN_SCENARIOS))
    plan.add_argument("--fit", default="paper", help="a distillation FIT.json, or paper (default); or a fit of a "
                                                    "law of params and tokens (chinchilla, supervised, kaplan, your "
                                                    "own): compute-optimal N*, D*, L* per budget")
    plan.add_argument("--students", type=float, default=1.0,
                      help="students sharing the teacher's pretraining (delta_pre = 1/k)")
    plan.add_argument("--logit-cost", type=float, default=1.0,
                      help="delta_lgt of the scenarios that pay for logits: 1 = a forward pass per student "
                           "token; less for cached or quantized logits")
    plan.add_argument("--teacher-params", type=float, help="an existing teacher's size N_T (adds existing-teacher rows)")
    plan.add_argument("--teacher-tokens", type=float, help="an existing teacher's tokens D_T")
    plan.add_argument("--teacher-loss", type=float, help="an existing teacher's measured loss L_T")
    plan.add_argument("--json", action="store_true", help="a JSON array, one object per problem")
    plan.add_argument("--interval", type=float, default=0.9, metavar="LEVEL",
                      help="with a fit made with --bootstrap: student_loss_lo/hi and allocation percentiles at this "
                           "coverage, and p_distill_better per row (default 0.9)")
    plan.add_argument("--six-nd", action="store_true", help="F(N) = 2N (the 6ND rule) instead of Eq. 69")
    plan.add_argument("--n-ctx", type=float, default=PAPER_ARCHITECTURE.n_ctx, help="context length for F(N)")
    plan.add_argument("--n-vocab", type=float, default=PAPER_ARCHITECTURE.n_vocab, help="vocabulary size for F(N)")
    plan.add_argument("--aspect-ratio", type=float, default=PAPER_ARCHITECTURE.rho,
                      help="d_model / n_layers for F(N)")
    plan.set_defaults(func=commands.cmd_plan)


def _add_atlas(sub, commands) -> None:
    atlas = sub.add_parser("atlas", help="evaluate a sweep's grids into partitioned Parquet (resumable)")
    atlas.add_argument("sweep", help="a sweep file (TOML), e.g. sweeps/paper.toml")
    atlas.add_argument("-o", "--output", help="output folder (default: the sweep's 'output' key)")
    atlas.add_argument("--dry-run", action="store_true", help="print rows, bytes and time; write nothing")
    atlas.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    atlas.add_argument("--distributed", action="store_true",
                       help="join a jax.distributed cluster; each process writes its share of the files")
    atlas.add_argument("--coordinator", metavar="HOST:PORT", help="with --distributed: process 0's address")
    atlas.add_argument("--process-index", type=int, default=0, help="this process's share (with --process-count)")
    atlas.add_argument("--process-count", type=int, default=1, help="processes splitting the atlas")
    atlas.set_defaults(func=commands.cmd_atlas)


def _add_query(sub, commands) -> None:
    query = sub.add_parser("query", help="look up every column of an atlas's loss table at points inside its grid "
                                         "(interpolated in log space)",
                           epilog="The points are the cartesian product of the lists given (every combination, the "
                                  "last axis varying fastest); a point outside the grid is refused (no extrapolation).")
    query.add_argument("atlas", help="an atlas folder written by `distlaw atlas`")
    query.add_argument("--student-params", required=True, help="N_S: list (3e8,1e9) or range (1e8:1e10:5)")
    query.add_argument("--student-tokens", required=True, help="D_S: list or range")
    query.add_argument("--teacher-params", help="N_T: list or range (atlases over teacher sizes)")
    query.add_argument("--teacher-tokens", help="D_T: list or range (atlases over teacher sizes)")
    query.add_argument("--teacher-loss", help="L_T: list or range (atlases over teacher loss)")
    query.add_argument("--columns", metavar="A,B", help="columns to return (default: all)")
    query.add_argument("--method", choices=["cubic", "linear"], default="cubic",
                       help="tensor-product cubic spline (default; 2e-5 relative on the paper atlas) or "
                            "multilinear (7e-4, 10x faster)")
    query.add_argument("--json", action="store_true", help="a JSON array, one object per point")
    query.set_defaults(func=commands.cmd_query)


def _add_plot(sub, commands) -> None:
    plot = sub.add_parser("plot", help="draw an atlas (contours, capacity-gap, budget-split) or a fit's report "
                                       "figure (law, isoflop, residuals, ...) as PNG, SVG or PDF")
    plot.add_argument("atlas", metavar="ATLAS|FIT.json", help="an atlas folder written by `distlaw atlas`, or a fit")
    plot.add_argument("--kind", required=True, choices=[*ATLAS_FIGURES, *FIT_FIGURES])
    plot.add_argument("-o", "--output", required=True, metavar="FIG.png")
    plot.add_argument("--student-params", type=float, help="student size for budget-split (nearest in the atlas)")
    plot.add_argument("--runs", nargs="+", metavar="RUNS", help="with a FIT.json: the run tables it was fitted to")
    plot.add_argument("--map", action="append", metavar="CANONICAL=SOURCE", help="as for `distlaw fit`")
    plot.add_argument("--where", metavar="EXPR", help="as for `distlaw fit`")
    plot.set_defaults(func=commands.cmd_plot)


def _add_suggest(sub, commands) -> None:
    suggest = sub.add_parser("suggest", help="which runs to train next: those that most narrow a target's "
                                             "prediction under a FLOP cap")
    suggest.add_argument("fit", metavar="FIT.json", help="a fit of a law of params and tokens")
    suggest.add_argument("--runs", nargs="+", required=True, metavar="RUNS", help="the run tables in hand")
    suggest.add_argument("--target", action="append", required=True, metavar="params=N,tokens=D|compute-optimal:C|FILE.csv",
                         help="what to pin down: the loss at a point (repeat, or a CSV of points, for a region: "
                              "their average variance) or the compute-optimal size at budget C")
    suggest.add_argument("--count", type=int, required=True, help="runs to suggest")
    suggest.add_argument("--max-flops", type=float, required=True, help="total FLOPs of the suggested runs (6ND)")
    for name in ("min-params", "max-params", "min-tokens", "max-tokens", "min-tokens-per-param",
                 "max-tokens-per-param"):
        suggest.add_argument(f"--{name}", type=float, help="per-run limit (default: the runs' range, widened)")
    suggest.add_argument("--candidates", metavar="POOL.csv",
                         help="choose from these runs (params, tokens, optional cost in FLOPs) instead of a grid")
    suggest.add_argument("--exclude", metavar="SCHEDULED.csv", help="runs already scheduled: counted as in hand")
    suggest.add_argument("--criterion", choices=("auto", "linearized", "bootstrap"), default="auto",
                         help="the target's variance at the fitted law (linearized), or over the fit's bootstrap "
                              "replicates (bootstrap: a fit made with --bootstrap; sees what one linearization "
                              "misses); auto (default): bootstrap for a distillation fit with replicates")
    suggest.add_argument("-o", "--output", required=True, metavar="NEXT.csv")
    suggest.set_defaults(func=commands.cmd_suggest)


def _add_report(sub, commands) -> None:
    report = sub.add_parser("report", help="a fit's report as one self-contained HTML page (figures inline)")
    report.add_argument("fit", metavar="FIT.json", help="a fit file")
    _table_options(report)
    report.add_argument("-o", "--output", required=True, metavar="REPORT.html")
    report.set_defaults(func=commands.cmd_report)


def _add_laws(sub, commands) -> None:
    laws = sub.add_parser("laws", help="list the built-in laws: formula, inputs, coefficients, boxes, presets, source")
    laws.add_argument("--json", action="store_true", help="a JSON array, one object per law")
    laws.set_defaults(func=commands.cmd_laws)


def _add_demo(sub, commands) -> None:
    demo = sub.add_parser("demo", help="the built-in default: fit tables drawn from the paper's laws")
    demo.add_argument("-o", "--output", default="distlaw-demo", help="folder for tables and fits")
    demo.set_defaults(func=commands.cmd_demo)


SUBCOMMANDS = (_add_fit, _add_predict, _add_generate, _add_isoflop, _add_plan, _add_atlas, _add_query, _add_plot,
               _add_report, _add_suggest, _add_laws, _add_demo)


def build_parser(commands, description: str) -> argparse.ArgumentParser:
    """The whole parser; ``commands`` is the module whose ``cmd_*`` functions run the subcommands."""
    parser = argparse.ArgumentParser(prog="distlaw", description=description)
    parser.add_argument("--version", action="version", version=f"distlaw {__version__}")
    parser.add_argument("--debug", action="store_true", help="on an unexpected error, show the full traceback")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub, commands)
    return parser
