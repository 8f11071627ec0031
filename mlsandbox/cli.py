"""``mlsandbox``: the command line.

    mlsandbox study mlp                  # train the MLP in all four frameworks, write a report
    mlsandbox study mlp --data mnist --data-dir ../shared/data
    mlsandbox study mlp --data mnist --download      # fetch MNIST into the data directory
    mlsandbox study --list

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


def build_parser() -> argparse.ArgumentParser:
    from mlsandbox import studies

    parser = argparse.ArgumentParser(
        prog="mlsandbox",
        description="One network, four frameworks: train side by side and report.")
    parser.add_argument("--no-tuned-alloc", action="store_true",
                        help="do not re-run under the tuned allocator (see mlsandbox.alloc)")
    sub = parser.add_subparsers(dest="command", metavar="command")
    study = sub.add_parser("study", help="train a network in every framework and write a report")
    study.add_argument("--list", action="store_true", help="list the studies and exit")
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
    args = parser.parse_args(argv)
    if args.command != "study":
        parser.print_help()
        return 2
    found = studies.discover()
    if args.list or not args.study:
        for name, module in found.items():
            print(f"{name:12s} {getattr(module, 'HELP', '')}")
        return 0 if args.list else 2
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
