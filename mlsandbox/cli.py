"""``mlsandbox``: the command line.

    mlsandbox study mlp                  # train the MLP in all four frameworks, write a report
    mlsandbox study mlp --data mnist --data-dir ../shared/data
    mlsandbox study mlp --data mnist --download      # fetch MNIST into the data directory
    mlsandbox study --list
    mlsandbox study                      # every study, one report: reports/all/report.html
    mlsandbox study --only parity,mlp --out reports/quick
    mlsandbox bench --repeat 3 -k mlp    # the speed table, one process per framework
    mlsandbox bench-report before.json after.json   # tables, charts, what got faster

Every flag is checked before anything is loaded or trained
(:func:`mlsandbox.studies.common.validate_config`, and ``--out`` by
:func:`mlsandbox.report.check_out_dir`); a refused value, missing data or a failed run
prints one ``error:`` line and exits 1, Ctrl-C prints ``interrupted`` and exits 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path


def _has_field(config_cls, name: str) -> bool:
    return any(f.name == name for f in dataclasses.fields(config_cls))


#: where the flags of ``mlsandbox study`` without a name land in the parsed namespace
ALL = "all_"


def build_parser() -> argparse.ArgumentParser:
    from mlsandbox import studies
    from mlsandbox.studies import overview

    parser = argparse.ArgumentParser(
        prog="mlsandbox",
        description="One network, four frameworks: train side by side and report.")
    parser.add_argument("--no-tuned-alloc", action="store_true",
                        help="do not re-run under the tuned allocator (see mlsandbox.alloc)")
    sub = parser.add_subparsers(dest="command", metavar="command")
    study = sub.add_parser(
        "study", help="train a network in every framework and write a report",
        description="With a study name: that study and its report. Without one: every "
                    "study, the parity heatmap, the speed chart and one report "
                    f"({overview.DEFAULT_OUT}/report.html); the flags below are for that run.")
    study.add_argument("--list", action="store_true", help="list the studies and exit")
    study.add_argument("--out", dest=ALL + "out", default=overview.DEFAULT_OUT, metavar="OUT",
                       help=f"report directory of the all-studies run (default: "
                            f"{overview.DEFAULT_OUT}); as a study's --out")
    studies.add_config_arguments(study, overview.Config, dest_prefix=ALL)
    names = study.add_subparsers(dest="study", metavar="study")
    for name, module in studies.discover().items():
        p = names.add_parser(name, help=getattr(module, "HELP", ""),
                             description=(module.__doc__ or "").strip())
        p.add_argument("--out", default=f"reports/{name}",
                       help="report directory (default: reports/<study>); it must not exist, "
                            "be empty or hold an earlier report, which is replaced")
        studies.add_config_arguments(p, module.Config)
        if _has_field(module.Config, "data_dir") and not _has_field(module.Config, "download"):
            # the study reads downloadable data: --download reaches its loaders
            p.add_argument("--download", action="store_true",
                           help="download missing data into the data directory (from the "
                                "canonical source, sha256-checked)")
    _add_bench_parsers(sub)
    return parser


def _errors() -> tuple[type[BaseException], ...]:
    """The exceptions that are the user's to fix: printed as one line, exit 1."""
    import models
    from kernels.accel.native import NativeUnavailable

    return (ValueError, KeyError, OSError, NotImplementedError, models.FrameworkMissing,
            NativeUnavailable)


def main(argv=None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("mlsandbox: interrupted", file=sys.stderr)
        return 130


def _main(argv) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    no_tuned = "--no-tuned-alloc" in argv  # accepted anywhere on the line
    argv = [a for a in argv if a != "--no-tuned-alloc"]
    if from_command_line and not no_tuned:
        from mlsandbox import alloc  # every backend under one allocator that keeps memory

        alloc.reexec_tuned()
    from mlsandbox import studies
    from mlsandbox.data import downloads_allowed
    from mlsandbox.report import check_out_dir
    from mlsandbox.studies import common

    parser = build_parser()
    if argv[:1] and argv[0] in BENCH_COMMANDS:  # pytest's own flags pass through to bench
        return _bench(parser, argv)
    args = parser.parse_args(argv)
    if args.command != "study":
        parser.print_help()
        return 2
    found = studies.discover()
    if args.list:
        for name, module in found.items():
            print(f"{name:12s} {getattr(module, 'HELP', '')}")
        return 0
    if not args.study:
        return _study_all(args)
    misplaced = _all_flags_given(args)
    if misplaced:
        print(f"mlsandbox study {args.study}: error: {', '.join(misplaced)} before the study "
              f"name belong to `mlsandbox study` without one; give {args.study}'s own "
              f"flags after its name", file=sys.stderr)
        return 1
    module = found[args.study]
    try:
        config = studies.config_from_args(module.Config, args)
        download = bool(getattr(config, "download", getattr(args, "download", False)))
        common.validate_config(config, download=download)
        check_out_dir(args.out)
        with downloads_allowed(download):
            out = module.run(config, Path(args.out))
    except _errors() as exc:
        print(f"mlsandbox study {args.study}: error: {exc}", file=sys.stderr)
        return 1
    print(f"report written to {out}/report.md")
    return 0


def _all_flags_given(args) -> list[str]:
    """The flags of the all-studies run given other than at their defaults."""
    from mlsandbox.studies import overview

    given = ["--out"] if getattr(args, ALL + "out") != overview.DEFAULT_OUT else []
    return given + [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(overview.Config)
                    if getattr(args, ALL + f.name) != f.default]


def _study_all(args) -> int:
    """``mlsandbox study`` without a name: every study into one report
    (:mod:`mlsandbox.studies.overview`)."""
    from mlsandbox import studies
    from mlsandbox.report import check_out_dir
    from mlsandbox.studies import common, overview

    out = getattr(args, ALL + "out")
    try:
        config = studies.config_from_args(overview.Config, args, dest_prefix=ALL)
        common.validate_config(config)
        config.parts(overview.ordered(studies.discover()))
        check_out_dir(out)
        out = overview.run(config, Path(out))
    except _errors() as exc:
        print(f"mlsandbox study: error: {exc}", file=sys.stderr)
        return 1
    print(f"report written to {out}/report.html (and report.md)")
    return 0


# ---------------------------------------------------------------- mlsandbox bench, bench-report

#: the subcommands that time (and render) the benchmark suites
BENCH_COMMANDS = ("bench", "bench-report")


def _add_bench_parsers(sub) -> None:
    bench = sub.add_parser(
        "bench", help="time the benchmark suite, one process per framework, and report",
        description="Run bench/ one pytest process per framework (the JAX kernel sets "
                    "their own), R times interleaved; write report.md (the grouped table), "
                    "bench.json (every run merged) and runs/ (each run's JSON and output). "
                    "Other arguments go to pytest, e.g. --benchmark-min-rounds=1 or a "
                    "path such as bench/bench_mlp.py.")
    bench.add_argument("--repeat", type=int, default=1,
                       help="run the suite R times, the frameworks interleaved (default 1)")
    bench.add_argument("--out", default="reports/bench",
                       help="report directory (default: reports/bench); it must not exist, "
                            "be empty or hold an earlier report, which is replaced")
    bench.add_argument("-k", dest="k", metavar="EXPR", default=None,
                       help="only the benchmarks matching EXPR (pytest's -k)")
    report = sub.add_parser(
        "bench-report", help="tables and charts from pytest-benchmark JSON; two files: compare",
        description="Render pytest-benchmark JSON (pytest --benchmark-json=FILE, or the "
                    "bench.json of mlsandbox bench): the grouped tables, the charts; with "
                    "two files, which benchmarks got faster or slower (B / A).")
    report.add_argument("files", nargs="+", metavar="FILE.json", help="A [B]")
    report.add_argument("--out", default="reports/bench-report",
                        help="report directory (default: reports/bench-report)")


def _bench(parser, argv) -> int:
    """``mlsandbox bench ...`` and ``mlsandbox bench-report ...``: one ``error:`` line and
    exit 1 for what is the user's to fix (a bad file or flag, a failed run)."""
    from mlsandbox import benchreport, benchrun

    args, extra = parser.parse_known_args(argv)
    try:
        if args.command == "bench":
            benchrun.bench(repeat=args.repeat, out=args.out, k=args.k,
                           pytest_args=[a for a in extra if a != "--"])
        else:
            if extra:
                raise ValueError(f"unrecognized arguments {' '.join(extra)}; expected one "
                                 "or two benchmark files and --out DIR")
            benchreport.bench_report(args.files, args.out)
    except (*_errors(), benchrun.RunFailed) as exc:
        print(f"mlsandbox {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
