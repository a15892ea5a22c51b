"""The ``distlaw`` command line: parse, call the library, print. No numerics live here.

Every command parses its arguments, calls one library function, prints what it returns and
picks the exit code: 0 success; 2 a mistake in the input or the arguments (a
:class:`~distlaw.errors.DistlawError` or an ``OSError``: one line on stderr, nothing written);
1 anything else (a bug in distlaw: one line, ``--debug`` for the traceback); 130 interrupted.
This module imports neither JAX nor NumPy (a test checks), so ``distlaw --help`` is instant.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
from pathlib import Path

from ..errors import DistlawError, InputError
from .parser import build_parser, flag
from .runtime import configure_jax, configured, console_start_up, restore_jax


DESCRIPTION = ("distlaw: fit supervised and distillation scaling laws to training runs, and plan compute "
               "with them (Busbridge et al., ICML 2025)")


class UsageError(InputError):
    """A bad command-line argument: one line on stderr, exit code 2."""


def _parse_assignments(items, what: str) -> dict[str, str]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"{what} expects NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _parse_fixed(items) -> dict[str, float]:
    fixed = {}
    for name, value in _parse_assignments(items, "--fix").items():
        try:
            fixed[name] = float(value)
        except ValueError:
            raise UsageError(f"--fix {name}={value}: {value!r} is not a number") from None
    return fixed


def _parse_bounds(items) -> dict[str, tuple]:
    """``NAME=LO:HI`` (``LO:`` or ``:HI`` for one side) -> ``{name: (lo or None, hi or None)}``."""
    bounds = {}
    for name, value in _parse_assignments(items, "--bounds").items():
        lo, sep, hi = value.partition(":")
        try:
            if not sep:
                raise ValueError
            box = tuple(float(v) if v.strip() else None for v in (lo, hi))
        except ValueError:
            raise UsageError(f"--bounds {name}={value}: expected LO:HI, LO: or :HI with numbers") from None
        if any(v is not None and not math.isfinite(v) for v in box):
            raise UsageError(f"--bounds {name}={value}: leave a side empty for no bound, not inf or nan")
        bounds[name] = box
    return bounds


def _parse_priors(values) -> dict | None:
    """``["E=1.7:0.05", ...]`` -> ``{"E": (1.7, 0.05)}`` (the library checks names and values)."""
    if not values:
        return None
    priors = {}
    for value in values:
        name, eq, rest = value.partition("=")
        mean, colon, sd = rest.partition(":")
        try:
            if not (eq and colon and name.strip()):
                raise ValueError
            priors[name.strip()] = (float(mean), float(sd))
        except ValueError:
            raise UsageError(f"--prior {value}: expected NAME=MEAN:SD, e.g. E=1.7:0.05") from None
    return priors


def cmd_fit(args) -> int:
    configure_jax()
    from ..fitting.scaling_law import ScalingLaw

    law = ScalingLaw(args.law, huber_delta=args.huber_delta, residuals=args.residuals,
                     max_iterations=args.max_iterations, starts=args.starts, seed=args.seed,
                     fixed=_parse_fixed(args.fix), ties=_parse_assignments(args.tie, "--tie"),
                     bounds=_parse_bounds(args.bounds), supervised=args.supervised, chunk_rows=args.chunk_rows,
                     overestimate_weight=args.overestimate_weight, priors=_parse_priors(args.prior))
    report = law.fit(args.runs, where=args.where, column_map=_parse_assignments(args.map, "--map"),
                     holdout=args.holdout, group_by=args.group_by, bootstrap=args.bootstrap or 0, ci=args.ci,
                     warm_start=args.warm_start, run_id=args.run_id, weights=args.weights)
    record = report.record
    for note in record["notes"]:
        print(f"note: {note}")
    if "supervised_fit" in record:
        first = record["supervised_fit"]
        print(f"supervised law fitted first to {', '.join(first['sources'])}: {first['n_runs']} runs, "
              + ", ".join(f"{k}={v:.4g}" for k, v in first["params"].items()))
    if args.bootstrap:
        failed = record["bootstrap_failed"]
        print(f"bootstrap: {args.bootstrap} resamples x {1 + len(report.groups)} fit(s) in "
              f"{report.timings['bootstrap']:.1f}s"
              + (f"; {failed} replicate(s) failed in every start and are left out" if failed else ""))
    report.save(args.output)
    _print_summary(args.law, record, report.timings["fit"])
    print(f"wrote {args.output}")
    return 0


def _print_summary(law: str, record: dict, elapsed: float) -> None:
    rows = f" ({record['n_rows']} rows)" if "n_rows" in record else ""
    print(f"law: {law}   runs: {record['n_runs']}{rows}   starts: {record['n_starts']}   "
          f"fit time: {elapsed:.2f}s")
    if "screening" in record:
        screen = record["screening"]
        print(f"large table: {screen['starts']} starts screened on a stratified subsample of {screen['runs']} runs, "
              f"the best {screen['polished']} distinct optima polished on all of them")
    space = "log residuals" if record.get("residuals", "log") == "log" else "residuals in nats"
    how = "least squares" if record["huber_delta"] is None else f"summed Huber, delta={record['huber_delta']:g}"
    print(f"objective ({how} of {space}): {record['objective']:.10g}")
    print(f"starts reaching the best optimum: {record['converged_fraction']:.1%}")
    intervals = record.get("intervals", {})
    header = f"  {'coefficient':<12}{'value':>14}"
    if intervals:
        header += f"   {record['ci']:.0%} interval"
    print(header)
    for name, value in record["params"].items():
        line = f"  {name:<12}{value:>14.6g}"
        if name in intervals:
            lo, hi = intervals[name]
            line += f"   [{lo:.6g}, {hi:.6g}]"
        if name in record.get("fixed", {}):
            line += "   (fixed)"
        if name in record.get("ties", {}):
            line += f"   (tied to {record['ties'][name]})"
        if name in record["on_bound"]:
            line += "   (on a bound)"
        if name in record["unidentified"]:
            line += "   (not identified by the data)"
        print(line)
    for name, entry in record.get("derived", {}).items():
        se = entry.get("std_error")
        line = f"  {name:<12}{entry['value']:>14.6g}"
        if "interval" in entry:
            line += f"   [{entry['interval'][0]:.6g}, {entry['interval'][1]:.6g}]"
        line += f"   (a combination; standard error {se:.2g})" if se is not None else "   (a combination)"
        if entry.get("identified") is False:
            line += "   (not identified by the data)"
        print(line)
    if record.get("stopped_early"):
        print("note: the best start stopped at the iteration limit while still descending (a flat valley of the "
              "objective); the coefficients are where it stopped: rerun with a higher --max-iterations to go on")
    if record["on_bound"]:
        print(f"note: {', '.join(record['on_bound'])} ended on a bound of the box (FIT.json 'bounds'); the data "
              "push past it, so read the value as a limit, not an estimate (widen it with --bounds NAME=LO:HI)")
    if record["unidentified"]:
        print(f"warning: the data cannot pin down {', '.join(record['unidentified'])} (95% interval from the "
              "Huber sandwich wider than the value itself, or than a factor of 10 for E, A, B, d1); "
              "report combinations or fix them, not these values")
    if "holdout" in record:
        h = record["holdout"]
        print(f"held out ({h['expression']}): {h['n']} runs, relative error "
              f"max {h['max_abs_rel_error']:.3%}, mean {h['mean_abs_rel_error']:.3%}")
    for group in record.get("groups", []):
        key = ", ".join(f"{k}={v}" for k, v in group["key"].items())
        coefficients = ", ".join(f"{k}={v:.4g}" for k, v in group["params"].items())
        print(f"  group {key}: {group['n_runs']} runs, objective {group['objective']:.4g}: {coefficients}")


def cmd_predict(args) -> int:
    configure_jax()
    from ..fitting.scaling_law import FitResult
    from ..io.runs import write_table

    fit = FitResult.load(args.fit)
    for message in fit.messages:
        print(f"note: {message}")
    frame = fit.predictions(args.runs, column_map=_parse_assignments(args.map, "--map"), where=args.where,
                            interval=args.interval)
    write_table(frame, args.output)
    print(f"wrote {len(frame)} predictions to {args.output}"
          + (f" with {args.interval:.0%} confidence and prediction intervals" if args.interval else ""))
    return 0


def cmd_suggest(args) -> int:
    configure_jax()
    from ..io.runs import write_table
    from ..planning.design import Z90, Limits, suggest

    limits = Limits(args.min_params, args.max_params, args.min_tokens, args.max_tokens, args.min_tokens_per_param,
                    args.max_tokens_per_param)
    result = suggest(args.fit, args.runs, args.target, args.count, args.max_flops, limits=limits,
                     candidates=args.candidates, exclude=args.exclude, criterion=args.criterion)
    write_table(result.runs, args.output)
    for target in result.targets:
        print(f"target: {target}")
    print(f"{len(result.runs)} runs, {result.total_flops:.3g} FLOPs of {args.max_flops:.3g}; written to {args.output}")
    print(f"linearized sd of the target: {result.target_sd_now:.4g} now, {result.target_sd_after:.4g} after "
          f"({result.target_sd_after / result.target_sd_now:.0%}); 90% interval width x"
          f"{math.exp(2 * Z90 * result.target_sd_now):.4f} now, x{math.exp(2 * Z90 * result.target_sd_after):.4f} after")
    return 0


def cmd_report(args) -> int:
    configure_jax()
    from ..report.fit_report import fit_report

    report = fit_report(args.fit, args.runs, column_map=_parse_assignments(args.map, "--map"), where=args.where)
    path = report.to_html(args.output)
    print(f"wrote {path}: {len(report.kinds)} figures ({', '.join(report.kinds)}) and the coefficient table")
    return 0


def cmd_laws(args) -> int:
    """The built-in laws, as text or JSON (no JAX: this is the catalog)."""
    from ..laws.catalog import describe_laws

    laws = describe_laws()
    if args.json:
        print(json.dumps(laws, indent=1))
        return 0
    for law in laws:
        print(f"{law['law']}: {law['formula']}")
        print(f"  source: {law['source']}")
        print(f"  inputs: {', '.join(law['inputs'])} -> {law['target']}"
              + ("  (Ltilde_S from a supervised law: --supervised)" if law["needs_supervised"] else ""))
        print(f"  starts: {law['default_starts']} (design), {law['paper_starts']:,} (--starts paper)")
        presets = law["presets"]
        print(f"  {'coefficient':<12}{'box':>24}  {'fitted as':<9}" + "".join(f"{p:>14}" for p in presets))
        for c in law["coefficients"]:
            box = "[" + ", ".join("open" if v is None else f"{v:g}" for v in c["bounds"]) + "]"
            print(f"  {c['name']:<12}{box:>24}  {'log' if c['log'] else 'value':<9}"
                  + "".join(f"{c['presets'][p]:>14.6g}" for p in presets))
        print()
    print("A law of your own: --law PATH.py:FUNCTION (README, \"Laws of your own\").")
    return 0


def cmd_generate(args) -> int:
    configure_jax()
    from ..io.runs import write_table
    from ..laws.synthetic import generate

    frame = generate(args.kind, n_runs=args.runs, noise=args.noise, seed=args.seed)
    write_table(frame, args.output)
    print(f"wrote {len(frame)} synthetic {args.kind} runs to {args.output}")
    return 0


def cmd_demo(args) -> int:
    """The built-in demonstration: tables drawn from the published laws, fitted back, compared."""
    configure_jax()
    from ..fitting.demo import demo, recovered

    fits = demo(args.output)
    for law, result in fits.items():
        print(f"$ fit of {law} runs drawn from Table 6 -> {Path(args.output) / f'{law}_fit.json'}")
        for note in result.notes:
            print(f"note: {note}")
        _print_summary(law, result.record, result.timings["fit"])
    print("\nrecovered against published (Table 6):")
    for law, pairs in recovered(fits).items():
        print(f"  {law}: " + ", ".join(f"{k} {fitted:.4g} ({published:.4g})" for k, (fitted, published) in pairs.items()))
    return 0


def cmd_plan(args) -> int:
    configure_jax()
    import json

    from ..laws.compute import Architecture
    from ..io.values import parse_values
    from ..planning.plans import plan_records

    arch = Architecture(n_ctx=args.n_ctx, n_vocab=args.n_vocab, rho=args.aspect_ratio, six_nd=args.six_nd)
    budgets = parse_values(args.budget, "budgets")
    sizes = parse_values(args.student_params, "student_params") if args.student_params else None
    rows = plan_records(sizes, budgets, fit=args.fit,
                        scenarios=args.scenario, arch=arch, students=args.students, logit_cost=args.logit_cost,
                        teacher_loss=args.teacher_loss, teacher_params=args.teacher_params,
                        teacher_tokens=args.teacher_tokens, interval=args.interval)
    if args.json:
        print(json.dumps(rows, indent=1, allow_nan=False))
        return 0
    print(f"laws: {args.fit}; compute model: {'6ND' if args.six_nd else 'Eq. 69'}"
          f"{f'; teacher shared by {args.students:g} students' if args.students != 1 else ''}")
    if rows and "compute_optimal" in rows[0]:  # a law of params and tokens: supervised plans
        _print_law_plan(rows)
    else:
        _print_plan(rows, budgets)
    return 0


def _print_law_plan(rows: list[dict]) -> None:
    print(f"law: {rows[0]['law']}")
    print(f"{'budget':>9} {'':<16} {'N':>9} {'D':>9} {'D/N':>8} {'L':>8}  on bound")
    for row in rows:
        label = "compute-optimal" if row["compute_optimal"] else "this size"
        print(f"{row['budget']:>9.3g} {label:<16} {row['params']:>9.3g} {row['tokens']:>9.3g} "
              f"{row['tokens_per_param']:>8.3g} {row['loss']:>8.4f}  {'yes' if row['on_bound'] else ''}")


def _print_plan(rows: list[dict], budgets: list[float]) -> None:
    print(f"{'N_S':>9} {'budget':>9} {'scenario':<22} {'D_S':>9} {'N_T':>9} {'D_T':>9} {'L_T':>7} "
          f"{'L_S':>7} {'superv.':>7} {'vs sup.':>8}  split student/logits/teacher  on bound")
    for c in budgets:
        ref = next((r for r in rows if r["budget"] == c and "compute_optimal_loss" in r), None)
        if ref is None:
            continue
        if ref["compute_optimal_loss"] is None:
            print(f"{'':>9} {c:>9.3g} {'(compute-optimal sup.)':<22} none: the budget cannot train any model "
                  "within the size and token bounds")
            continue
        print(f"{'':>9} {c:>9.3g} {'(compute-optimal sup.)':<22} {ref['compute_optimal_tokens']:>9.3g} "
              f"N*={ref['compute_optimal_params']:.3g} (D*/N*={ref['compute_optimal_tokens'] / ref['compute_optimal_params']:.1f})"
              f"{'':>4}{ref['compute_optimal_loss']:>7.4f}")

    def g(row, key):
        value = row[key]
        return "-" if value is None else f"{value:.3g}"

    for row in rows:
        # As the JSON says: a supervised row whose budget cannot buy 1e6 tokens is infeasible too.
        if row["student_loss"] is None or (row["scenario"] == "supervised" and row.get("feasible") is False):
            print(f"{row['student_params']:>9.3g} {row['budget']:>9.3g} {row['scenario']:<22} "
                  "infeasible: the budget cannot train the student on 1e6 tokens")
            continue
        split = row["flops_split"]
        split_text = "/".join(f"{100 * split[k]:.0f}%" for k in ("student", "logits", "pretraining"))
        print(f"{row['student_params']:>9.3g} {row['budget']:>9.3g} {row['scenario']:<22} {g(row, 'student_tokens'):>9} "
              f"{g(row, 'teacher_params'):>9} {g(row, 'teacher_tokens'):>9} "
              f"{'-' if row['teacher_loss'] is None else format(row['teacher_loss'], '.4f'):>7} "
              f"{row['student_loss']:>7.4f} {row['supervised_loss']:>7.4f} "
              f"{row['student_loss'] - row['supervised_loss']:>+8.4f}  {split_text:<28} "
              f"{','.join(row['on_bound']) or '-'}"
              + (f"  L_S in [{row['student_loss_lo']:.4f}, {row['student_loss_hi']:.4f}], "
                 f"P(distill better) {row['p_distill_better']:.2f}"
                 if row.get("p_distill_better") is not None and row.get("student_loss_lo") is not None else "")
              + ("  (no model within 1e30 FLOPs reaches this L_T: a bound, not a plan)"
                 if row.get("teacher_reachable") is False else ""))


def cmd_isoflop(args) -> int:
    from ..fitting.isoflop import isoflop

    result = isoflop(args.runs, where=args.where, column_map=_parse_assignments(args.map, "--map"),
                     bootstrap=args.bootstrap, seed=args.seed, ci=args.ci, method=args.method)
    record = result.record
    for note in record["notes"]:
        print(f"note: {note}")
    print(f"isoFLOP minima (Chinchilla's Approach 2): {record['n_runs']} runs, {record['n_budgets']} budgets, "
          f"{record['n_budgets_interior']} with an interior minimum")
    print(f"  {'budget C':>10} {'sizes':>5}  {'N sampled':<19} {'N*':>10} {'D*':>10} {'L*':>8}  minimum")
    for row in record["minima"]:
        where = f"interior ({row['method']})" if row["interior"] else "at an end of N sampled: not fitted"
        sampled = f"{row['smallest_params']:.3g}-{row['largest_params']:.3g}"
        print(f"  {row['budget']:>10.4g} {row['n_points']:>5}  {sampled:<19} {row['compute_optimal_params']:>10.4g} "
              f"{row['compute_optimal_tokens']:>10.4g} {row['compute_optimal_loss']:>8.4f}  {where}")
    intervals = any(e["interval"] for e in record["exponents"].values())
    ci = f"   {record['ci']:.0%} interval, {record['bootstrap']} budget resamples" if intervals else ""
    print(f"  {'exponent':<16}{'value':>9}{ci}")
    for name, label in (("a", "N* ~ C^a"), ("b", "D* ~ C^b"), ("c", "L* ~ C^c")):
        e = record["exponents"][name]
        interval = f"   [{e['interval'][0]:.4f}, {e['interval'][1]:.4f}]" if e["interval"] else ""
        r2 = f"   R^2 {e['r2']:.4f}" if e["r2"] is not None else ""
        print(f"  {name}  {label:<12}{e['value']:>9.4f}{interval}{r2}")
    if args.output:
        result.save(args.output)
        print(f"wrote {args.output}")
    return 0


def cmd_atlas(args) -> int:
    configure_jax()
    from ..atlas.folder import atlas_estimate, build_atlas, join_processes

    # First: jax.distributed must start before any JAX computation.
    process = join_processes(args.process_index, args.process_count, args.distributed, args.coordinator)
    if args.dry_run:
        estimate = atlas_estimate(args.sweep, output=args.output)
        for name, size in estimate["tables"].items():
            print(f"{name} atlas: {size['rows']:,} rows x {size['columns']} columns, at most "
                  f"{size['max_bytes'] / 1e9:.2f} GB uncompressed, about {size['seconds']:.0f}s on 2 CPU cores")
        print(f"output: {estimate['output']}")
        return 0
    atlas = build_atlas(args.sweep, output=args.output, progress=args.progress or None, process=process)
    for note in atlas.notes:
        print(f"note: {note}")
    for name in atlas.tables:
        print(f"{name} atlas: {atlas.rows(name):,} rows in {len(atlas.files(name))} files under {atlas.path / name}")
    print(f"wrote {atlas.manifest_path} in {atlas.seconds:.1f}s")
    first = atlas.tables[0] if atlas.tables else "loss"  # name only the tables this atlas has
    print(f"read it with: distlaw.Atlas('{atlas.path}').to_pandas('{first}') (tables: {', '.join(atlas.tables)}), "
          f"pandas.read_parquet('{atlas.path / first}') or duckdb \"SELECT * FROM '{atlas.path}/{first}/**/*.parquet'\"")
    return 0


def cmd_plot(args) -> int:
    from ..report.kinds import FIT_FIGURES

    if args.kind in FIT_FIGURES:  # a figure of a fit's report
        if not args.runs:
            raise UsageError(f"--kind {args.kind} draws a fit: give its run tables with --runs")
        configure_jax()
        from ..report.fit_report import plot_fit

        path = plot_fit(args.atlas, args.runs, args.kind, args.output,
                        column_map=_parse_assignments(args.map, "--map"), where=args.where)
        print(f"wrote {path}")
        return 0
    from ..report.atlas_figures import plot

    path = plot(args.atlas, args.kind, args.output, student_params=args.student_params)
    print(f"wrote {path}")
    return 0


def cmd_query(args) -> int:
    import json

    from ..atlas.folder import query_records
    from ..io.values import parse_values

    if args.teacher_loss is not None and (args.teacher_params is not None or args.teacher_tokens is not None):
        raise UsageError("give --teacher-params and --teacher-tokens, or --teacher-loss, not both")
    points = {}
    for name in ("student_params", "student_tokens", "teacher_params", "teacher_tokens", "teacher_loss"):
        text = getattr(args, name)
        points[name] = None if text is None else parse_values(text, name)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    rows = query_records(args.atlas, **points, columns=columns, method=args.method)
    if args.json:
        print(json.dumps(rows, indent=1, allow_nan=False))
        return 0
    names = list(rows[0])
    widths = [max(len(name), 11) for name in names]
    print("  ".join(f"{name:>{w}}" for name, w in zip(names, widths, strict=True)))
    for row in rows:
        print("  ".join(f"{'-' if row[n] is None else format(row[n], '.7g'):>{w}}"
                        for n, w in zip(names, widths, strict=True)))
    return 0


def error_line(err: DistlawError) -> str:
    """The one line a library error becomes: the API's argument name shown as this CLI's flag."""
    message = str(err)
    argument = getattr(err, "argument", None)
    if argument and message.startswith(argument):
        message = flag(argument) + message[len(argument):]
    return f"distlaw: error: {message}"


def main(argv=None) -> int:
    parser = build_parser(sys.modules[__name__], DESCRIPTION)
    args = parser.parse_args(argv)
    outermost = not configured()  # `distlaw demo` calls main again for each step
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("distlaw: interrupted; nothing written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except DistlawError as err:
        print(error_line(err), file=sys.stderr)
        return 2
    except OSError as err:  # a folder that cannot be created, a file that cannot be written
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"distlaw: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except Exception as err:  # anything else is distlaw's fault: one line, a hint
        if args.debug:
            raise
        print(f"distlaw: internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback, "
              "and please report it)", file=sys.stderr)
        return 1
    finally:
        if outermost:
            restore_jax()


def run() -> None:
    """The ``distlaw`` console script: :func:`main`, then exit without a final garbage collection.

    At exit the interpreter walks every object JAX and pandas created (0.2 s of a 1.5 s
    command, measured); nothing left needs finalizing, as outputs are written and closed by
    then, so the objects are moved out of the collector's reach first (``gc.freeze``). JAX's
    import runs with the collector paused for the same reason (:func:`runtime.console_start_up`).
    """
    console_start_up()
    code = main()
    sys.stdout.flush()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
