"""The ``essop-sim`` command line: run | sweep | plot | validate | trace info | rtl | config.

Exit codes: 0 success, 1 an error in the input (one line on stderr; the traceback only with
``--debug``), 2 a usage error (argparse).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import EssopSimError, one_line, safe_text

RUN_EXAMPLE = """examples:
  essop-sim run                                   # shipped default config and trace
  essop-sim run --config configs/fp16_baseline.yaml -o results/fp16
  essop-sim run --set essop.bitstream_length=128 --set essop.array.rows=64 -o results/bl128
  essop-sim run --compare fp16 -o results/vs_fp16   # energy/area savings over FP16
  essop-sim run --compare fp16 --iso throughput    # FP16 scaled to ESSOP's time
"""
SWEEP_EXAMPLE = """examples:
  essop-sim sweep configs/sweeps/bl_array.yaml -o results/bl_array -j 2
  essop-sim sweep configs/sweeps/bl_array.yaml -o results/bl_array --dask local
  (re-running the same command resumes: finished points are not recomputed)
"""
PLOT_EXAMPLE = """examples:
  essop-sim plot results/bl_array                 # figures into results/bl_array/figures
  essop-sim plot results/run --format png pdf
"""
VALIDATE_EXAMPLE = """examples:
  essop-sim validate configs/essop_14nm.yaml
  essop-sim validate configs/essop_14nm.yaml --set essop.bitstream_length=256
"""
TRACE_EXAMPLE = """examples:
  essop-sim trace info essop_sim/data/traces/digits_cnn
"""
RTL_EXAMPLE = """examples:
  essop-sim rtl check                             # the CI subset of the RTL cross-check
  essop-sim rtl check --full                      # every edge case + 24 random configurations
  essop-sim rtl check --set essop.array.rows=4 --set essop.array.cols=4
                                                  # a config's tile on the shipped trace
  essop-sim rtl fp16                              # FP16 multiplier: 10,000 pairs, D = 4, 1, 7
  essop-sim rtl synth --tiles 2 4 8               # gate counts (Yosys; first run ~1 min)
(needs the rtl extra: pip install -e ".[rtl]")
"""
CONFIG_EXAMPLE = """examples:
  essop-sim config                                # every key, its default, unit and meaning
"""


def _baselines(args: argparse.Namespace, config) -> list[str]:
    """The baselines named by --compare (comma-separated, repeatable) and --compare-fp16."""
    from .datapaths.registry import get_datapath
    from .errors import ConfigError

    names = [n.strip() for text in args.compare for n in text.split(",") if n.strip()]
    if args.compare_fp16:
        names.append("fp16")
    names = list(dict.fromkeys(names))
    for name in names:
        get_datapath(name, "--compare")
        if name == config.datapath:
            raise ConfigError("--compare", "datapath", name,
                              f"a baseline other than the configured datapath {name!r}")
    return names


def _output(args: argparse.Namespace) -> str:
    """``--output``, refused when empty (it would silently mean the current directory)."""
    from .errors import ConfigError

    if args.output is not None and not args.output.strip():
        raise ConfigError("--output", "-o", args.output, "a directory path (not empty)")
    return args.output


def _check_work(args: argparse.Namespace, trace) -> None:
    """Refuse a run too large for this machine (unless --force); say how long a long one takes."""
    from .limits import check_work, notice

    est = check_work(trace.records, not args.no_numerics, str(trace.path), force=args.force)
    if notice(est) and not args.quiet:
        print(notice(est), file=sys.stderr)


def _with_datapath_columns(columns: tuple, config) -> tuple:
    """The datapath's ``table_columns`` (per-record values, e.g. a precision) inserted after
    the design column."""
    from .datapaths.registry import datapath_of

    datapath = datapath_of(config)
    extra = tuple((f"{datapath.name}_{key}", head, fmt)
                  for key, head, fmt in datapath.table_columns)
    at = next((i + 1 for i, c in enumerate(columns) if c[0] == "label"), len(columns))
    return tuple(columns[:at]) + extra + tuple(columns[at:])


def _run(args: argparse.Namespace) -> int:
    from ._numba_cache import load_numba_without_scipy
    from .compare import baseline_config, compare, compare_columns, compare_legend
    from .config import load_config
    from .first_use import announce_compilation
    from .report.io import write_table
    from .report.text import RUN_COLUMNS, format_table, totals_line
    from .simulate import resolve_trace, simulate

    _output(args)
    config = load_config(args.config, args.set)
    names = _baselines(args, config)
    trace = resolve_trace(args.trace, args.layers, args.steps)  # loaded and verified once
    _check_work(args, trace)
    load_numba_without_scipy()
    announce_compilation()

    def progress(done: int, total: int, row: dict) -> None:
        if not args.quiet:
            print(f"  [{done}/{total}] {safe_text(row['layer'])} step {row['step']}: "
                  f"{row['cycles']:,} cycles", file=sys.stderr)

    report = simulate(config, trace, numerics=not args.no_numerics, progress=progress)
    rows, columns = report.rows, RUN_COLUMNS
    if names:
        baselines = {}
        for name in names:
            base, factor = baseline_config(config, name, iso=args.iso, trace=trace,
                                           design_time=sum(r["time_s"] for r in report.rows))
            baselines[name] = simulate(base, trace, numerics=not args.no_numerics)
            report.meta.setdefault("baselines", {})[name] = {
                "iso": args.iso, "parallelism_factor": factor,
                "config": baselines[name].meta["config"]}
        rows, columns = compare(report, baselines), compare_columns(names)
    columns = _with_datapath_columns(columns, config)
    out = Path(args.output)
    existing = [p.name for p in (out / "report.csv", out / "report.json") if p.exists()]
    write_table(rows, out, "report", report.meta)
    if existing:   # said once the new set is in place (a failed write leaves the old one)
        print(f"essop-sim: replaced the existing report in {out} ({', '.join(existing)})",
              file=sys.stderr)
    print(safe_text(format_table(rows, columns)))
    if names:
        print(compare_legend(rows, names))
    print(totals_line(rows))
    print(f"wrote {out / 'report.csv'} and {out / 'report.json'} "
          f"({report.meta['wall_time_s']:.2f} s)")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from ._numba_cache import load_numba_without_scipy
    from .first_use import announce_compilation
    from .sweep import run_sweep

    load_numba_without_scipy()
    announce_compilation()
    started = time.perf_counter()
    table = run_sweep(args.spec, _output(args), jobs=args.jobs, dask=args.dask,
                      progress=not args.no_progress, resume=not args.fresh, force=args.force,
                      dask_timeout=args.dask_timeout)
    print(f"wrote {table} ({time.perf_counter() - started:.1f} s)")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from .report.plots import plot_results

    written = plot_results(args.results, _output(args), formats=tuple(args.format), only=args.only,
                           point_id=args.point)
    for path in written:
        print(path)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .config import config_digest, load_config
    from .cost import table_for

    config = load_config(args.config, args.set)
    table_for(config)  # the cost table it names exists and is one
    with_overrides = f" with {', '.join(args.set)}" if args.set else ""
    print(f"{args.config}{with_overrides}: ok (datapath {config.datapath}, "
          f"config digest {config_digest(config)})")
    return 0


def _trace_info(args: argparse.Namespace) -> int:
    from .trace.info import trace_info

    print(safe_text(trace_info(args.path)))
    return 0


def _config(args: argparse.Namespace) -> int:
    from .config import HardwareConfig, describe
    from .config.render import _scalar as yaml_scalar
    from .datapaths.registry import REGISTRY

    kinds = ", ".join(f"{name} ({type(p).__name__})" for name, p in REGISTRY.plugins().items())
    print(f"# registered datapaths and stages: {kinds}")
    for key, default, unit, doc in describe(HardwareConfig):
        unit_text = f" [{unit}]" if unit else ""
        print(f"{key} = {yaml_scalar(default)}{unit_text}\n    {doc}")
    return 0


def _rtl_check(args: argparse.Namespace) -> int:
    from .rtl.commands import check_command  # raises a one-line error without amaranth

    return check_command(args)


def _rtl_fp16(args: argparse.Namespace) -> int:
    from .rtl.commands import fp16_command

    return fp16_command(args)


def _rtl_synth(args: argparse.Namespace) -> int:
    from .rtl.commands import synth_command

    return synth_command(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    from . import __version__
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="essop-sim", formatter_class=fmt,
        description="Bit-exact, cycle-accurate simulator of stochastic-computing (ESSOP) "
                    "weight-update hardware beside a pipelined FP16 baseline.",
        epilog=RUN_EXAMPLE)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"essop-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="replay a trace through one configuration",
                         formatter_class=fmt, epilog=RUN_EXAMPLE)
    run.add_argument("--config", "-c", help="hardware YAML, a pipe, or '-' for standard input "
                     "(default: the shipped "
                     "configs/essop_14nm.yaml defaults)")
    run.add_argument("--trace", "-t", help="trace directory (default: the shipped "
                     "essop_sim/data/traces/digits_cnn, installed with the package)")
    run.add_argument("--output", "-o", default="results/run", help="output directory "
                     "(default: results/run)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key, e.g. essop.bitstream_length=128 (repeatable)")
    run.add_argument("--layers", nargs="+", metavar="LAYER", help="only these layers")
    run.add_argument("--steps", nargs="+", type=int, metavar="STEP", help="only these steps")
    run.add_argument("--no-numerics", action="store_true",
                     help="timing and cost only (error columns become nan)")
    run.add_argument("--compare", action="append", default=[], metavar="NAME[,NAME...]",
                     help="also replay the same records through these registered datapaths "
                          "(same memory, clock, seed and cost table) and report energy, area, "
                          "time and area x time ratios against each, per row (repeatable)")
    run.add_argument("--compare-fp16", action="store_true",
                     help="the same as --compare fp16")
    run.add_argument("--iso", choices=["none", "throughput", "area"], default="none",
                     help="size each baseline as configured (none), or scale its parallelism "
                          "until its time on the trace (throughput) or its compute area (area) "
                          "is at most the design's")
    run.add_argument("--quiet", "-q", action="store_true", help="no per-record progress")
    run.add_argument("--force", action="store_true",
                     help="run even beyond the memory limit (docs/reliability.md)")
    run.set_defaults(func=_run)

    sweep = sub.add_parser("sweep", help="run a grid of configurations (resumable, parallel)",
                           formatter_class=fmt, epilog=SWEEP_EXAMPLE)
    sweep.add_argument("spec", help="sweep spec YAML")
    sweep.add_argument("--output", "-o", required=True, help="output directory")
    sweep.add_argument("--jobs", "-j", type=int, default=1, help="local worker processes")
    sweep.add_argument("--dask", metavar="ADDRESS", help="run on Dask: 'local' for a "
                       "LocalCluster, or a scheduler address")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.add_argument("--fresh", action="store_true",
                       help="recompute every point instead of resuming from OUT/points "
                            "(and discard another spec's points found there)")
    sweep.add_argument("--force", action="store_true",
                       help="run even beyond the work limits (docs/reliability.md)")
    sweep.add_argument("--dask-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="wait this long for a Dask scheduler and its first worker "
                            "(default 10)")
    sweep.set_defaults(func=_sweep)

    plot = sub.add_parser("plot", help="draw the figures of a run or sweep",
                          formatter_class=fmt, epilog=PLOT_EXAMPLE)
    plot.add_argument("results", help="a run/sweep output directory or its CSV table")
    plot.add_argument("--output", "-o", help="figure directory (default: RESULTS/figures)")
    plot.add_argument("--format", nargs="+", default=["png", "svg"],
                      choices=["png", "svg", "pdf"], help="figure formats")
    plot.add_argument("--only", nargs="+", metavar="FIGURE",
                      help="draw only these figures (cycles_vs_bl, utilization, error_vs_bl, "
                           "energy_area, cycle_breakdown, and the datapaths' own, e.g. "
                           "bitserial_precision; an unknown name lists them all)")
    plot.add_argument("--point", metavar="POINT_ID",
                      help="the sweep point (its point_id) of the per-configuration figures, "
                           "energy_area and cycle_breakdown (default: the point with BL=64 and "
                           "a 32x32 array when present, else the first point with a bitstream "
                           "length, else the first point)")
    plot.set_defaults(func=_plot)

    validate = sub.add_parser("validate", help="check a hardware config file",
                              formatter_class=fmt, epilog=VALIDATE_EXAMPLE)
    validate.add_argument("config", help="hardware YAML, a pipe, or '-' for standard input")
    validate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="override a key before checking")
    validate.set_defaults(func=_validate)

    trace = sub.add_parser("trace", help="inspect gradient traces", formatter_class=fmt,
                           epilog=TRACE_EXAMPLE)
    trace_sub = trace.add_subparsers(dest="trace_command", metavar="ACTION", required=True)
    info = trace_sub.add_parser("info", help="layers, shapes, steps, sizes and statistics",
                                formatter_class=fmt, epilog=TRACE_EXAMPLE)
    info.add_argument("path", help="trace directory")
    info.set_defaults(func=_trace_info)

    rtl = sub.add_parser("rtl", help="RTL of the hardware blocks: cross-checks and synthesis "
                         "(needs the rtl extra)", formatter_class=fmt, epilog=RTL_EXAMPLE)
    rtl_sub = rtl.add_subparsers(dest="rtl_command", metavar="ACTION", required=True)
    check = rtl_sub.add_parser("check", help="simulate the ESSOP tile's RTL cycle by cycle "
                               "against the numerics and the event model",
                               formatter_class=fmt, epilog=RTL_EXAMPLE)
    check.add_argument("--full", action="store_true",
                       help="the full case set instead of the CI subset")
    check.add_argument("--random", type=int, default=24, metavar="N",
                       help="seeded random configurations in the full set (default 24)")
    check.add_argument("--only", nargs="+", metavar="CASE", help="only these cases")
    check.add_argument("--config", "-c", help="instead of the case set: this hardware YAML's "
                       "tile on the trace's first record (the Python simulator takes about a "
                       "minute for a 32x32 tile; --set essop.array.rows=4 is quicker)")
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (implies the config's tile, as --config)")
    check.add_argument("--trace", "-t", help="trace for --config (default: the shipped one)")
    check.add_argument("--tile", type=int, default=0, help="row-major tile index (default 0)")
    check.add_argument("--max-k", type=int, default=8, help="outer products of the record "
                       "to check (default 8)")
    check.set_defaults(func=_rtl_check)

    fp16 = rtl_sub.add_parser("fp16", help="simulate the FP16 multiplier and MAC RTL against "
                              "the binary16 numerics and the pipeline latency",
                              formatter_class=fmt, epilog=RTL_EXAMPLE)
    fp16.add_argument("--pairs", type=int, default=10_000, help="random operand pairs "
                      "(default 10000)")
    fp16.add_argument("--seed", type=int, default=0, help="operand seed (default 0)")
    fp16.add_argument("--depths", type=int, nargs="+", metavar="D", help="pipeline depths "
                      "(default: the config's fp16.pipeline_depth, 1 and 7)")
    fp16.add_argument("--mac-k", type=int, default=64, help="products per element of the "
                      "multiply-accumulate check (8 x 8 elements; default 64)")
    fp16.add_argument("--config", "-c", help="hardware YAML (for fp16.pipeline_depth)")
    fp16.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override a config key")
    fp16.set_defaults(func=_rtl_fp16)

    synth = rtl_sub.add_parser("synth", help="gate counts of the FP16 blocks and ESSOP tiles "
                               "(Yosys), beside the cost table", formatter_class=fmt,
                               epilog=RTL_EXAMPLE)
    synth.add_argument("--depths", type=int, nargs="+", metavar="D", help="FP16 pipeline "
                       "depths (default: the config's fp16.pipeline_depth and 7)")
    synth.add_argument("--tiles", type=int, nargs="*", default=[], metavar="N",
                       help="ESSOP tiles of N x N cells to synthesise (e.g. 2 4 8)")
    synth.add_argument("--cells", action="store_true", help="also print cells by type")
    synth.add_argument("--config", "-c", help="hardware YAML of the tiles (default: shipped)")
    synth.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key")
    synth.set_defaults(func=_rtl_synth)

    config = sub.add_parser("config", help="list every configuration key",
                            formatter_class=fmt, epilog=CONFIG_EXAMPLE)
    config.set_defaults(func=_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``essop-sim`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except EssopSimError as exc:
        if args.debug:
            raise
        print(f"essop-sim: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("essop-sim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `essop-sim trace info T | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # output on a full, read-only or missing file system, ...
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"essop-sim: error: {one_line(where + (exc.strerror or str(exc)))}",
              file=sys.stderr)
        return 1


def console() -> None:
    """The ``essop-sim`` console script (and ``python -m essop_sim.cli``): :func:`main`, then
    the process ends without the interpreter's teardown when nothing else is running
    (:mod:`.quick_exit`; 0.1-0.2 s of a warm run)."""
    try:
        code = main()
    except SystemExit as stop:  # argparse: --help, --version, usage errors
        if not isinstance(stop.code, int):
            raise
        code = stop.code
    from .quick_exit import leave

    leave(code)


if __name__ == "__main__":
    console()
