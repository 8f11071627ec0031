"""Studies: ``mlsandbox study <name>`` runs the module ``mlsandbox/studies/<name>.py``.

A study module defines

* ``HELP``: one line for ``mlsandbox study --help``;
* ``Config``: a dataclass; every field becomes a command-line flag (``n_steps`` ->
  ``--n-steps``) with the field's default and type, and its ``metadata["help"]``;
* ``write(config, report) -> common.Summary``: trains, evaluates and writes the study
  into ``report`` (a :class:`mlsandbox.report.Report`, or a section of the all-studies
  report), and returns its title, data, accuracies and timed steps;
* ``run(config, out_dir) -> pathlib.Path``: ``write`` into a report directory of its own
  (:func:`mlsandbox.studies.common.run_study`).

Adding a study is adding a module; nothing else needs to know about it: ``mlsandbox
study`` without a name (:mod:`mlsandbox.studies.overview`) runs every study found here.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import pkgutil
import typing

_PRIVATE = {"common", "overview"}  # helpers, and the all-studies run


def discover() -> dict[str, object]:
    """``{study name: module}`` for every study module in this package."""
    out = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _PRIVATE:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "run") and hasattr(module, "Config"):
            out[info.name] = module
    return out


def _parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_config_arguments(parser: argparse.ArgumentParser, config_cls,
                         dest_prefix: str = "") -> None:
    """One ``--flag`` per dataclass field of ``config_cls`` (its value in the namespace
    under ``dest_prefix + field name``)."""
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        if not f.init:
            continue
        kind = hints.get(f.name, str)
        origin = typing.get_origin(kind)
        if origin is typing.Union:  # Optional[X] -> X
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if kind is bool:
            kind = _parse_bool
        elif kind not in (int, float, str):
            kind = str
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=dest_prefix + f.name,
                            type=kind, default=default, metavar=f.name.upper(),
                            help=f"{f.metadata.get('help', '')} (default: {default})".strip())


def config_from_args(config_cls, namespace: argparse.Namespace, dest_prefix: str = ""):
    """The ``config_cls`` instance that the parsed flags describe."""
    values = {f.name: getattr(namespace, dest_prefix + f.name)
              for f in dataclasses.fields(config_cls)
              if f.init and hasattr(namespace, dest_prefix + f.name)}
    return config_cls(**values)
