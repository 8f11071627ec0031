"""The train → evaluate → report workflow and ``mlsandbox study logreg``: the report
directory, byte-identical metrics for the same seed, scikit-learn's per-fold numbers
(the F1-optimal thresholds included) reproduced by every backend, the progress bar, and
the result anchor of the issue."""

from __future__ import annotations

import json
import re

import pytest

from mlsandbox.classical.solvers import BACKENDS
from mlsandbox.compare import rel_err
from mlsandbox.studies.logreg import Config, fit_count, run

FAST = {"grid_C": "0.1,1", "progress": False}    # every backend, a grid of 2 x 4


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("logreg")
    return [run(Config(**FAST), root / name) for name in ("a", "b")]


def test_report_directory(reports):
    out = reports[0]
    for name in ("report.md", "metrics.json", "roc_folds.png", "confusion_matrix.png"):
        assert (out / name).stat().st_size > 0, name
    text = (out / "report.md").read_text()
    assert "Per-fold results" in text and "![ROC per fold](roc_folds.png)" in text
    assert 'solver="newton-cholesky"' in text and "the same training sample is the cut" in text


def test_same_seed_byte_identical_metrics(reports):
    a, b = (r / "metrics.json" for r in reports)
    assert a.read_bytes() == b.read_bytes()


def test_backends_reproduce_sklearn_per_fold(reports):
    m = json.loads((reports[0] / "metrics.json").read_text())
    assert m["folds_identical_to_sklearn"] is True
    ref = m["results"]["sklearn"]["folds"]
    for name in BACKENDS:
        for got, want in zip(m["results"][name]["folds"], ref):
            for key in ("accuracy", "roc_auc", "precision", "recall", "f1",
                        "confusion_matrix"):
                assert got[key] == want[key], (name, key)
    for got, want in zip(m["jax_vmap"]["folds"], ref):
        assert got["accuracy"] == want["accuracy"] and got["roc_auc"] == want["roc_auc"]


def test_result_anchor(reports):
    """The issue's anchor, as scikit-learn computes it in this run: accuracy 0.979 ±
    0.014 and ROC AUC 0.9955 (StandardScaler + C=1, stratified 5-fold, seed 0)."""
    s = json.loads((reports[0] / "metrics.json").read_text())["results"]["sklearn"]["summary"]
    assert round(s["accuracy"]["mean"], 3) == 0.979
    assert round(s["accuracy"]["std"], 3) == 0.014
    assert round(s["roc_auc"]["mean"], 4) == 0.9955


def test_grid_search_recorded(reports):
    g = json.loads((reports[0] / "metrics.json").read_text())["grid_search"]
    assert g["best_params"]["C"] in (0.1, 1.0)
    assert len(g["results"]) == 2 * len(BACKENDS)
    by = {(r["C"], r["backend"]): r["mean_roc_auc"] for r in g["results"]}
    for C in (0.1, 1.0):
        assert len({by[(C, b)] for b in BACKENDS}) == 1, C


def test_f1_thresholds_identical_to_sklearn_on_every_fold(reports):
    """The reference (newton-cholesky at the study's tol) and our four backends, one by
    one and vmapped, pick the same training sample as the F1-optimal cut on every fold:
    thresholds within the float64 tolerance, the F1 it reaches on the training fold and
    on the test fold exactly equal; and the per-fold gap, which includes them, is as
    small."""
    m = json.loads((reports[0] / "metrics.json").read_text())
    ref = m["results"]["sklearn"]["folds"]
    estimators = {**{b: m["results"][b]["folds"] for b in BACKENDS},
                  "jax-vmap": m["jax_vmap"]["folds"]}
    for name, folds in estimators.items():
        assert len(folds) == len(ref) == 5
        for i, (got, want) in enumerate(zip(folds, ref)):
            assert rel_err(got["f1_threshold"], want["f1_threshold"]) < 1e-10, (name, i)
            assert got["train_f1_at_threshold"] == want["train_f1_at_threshold"], (name, i)
            assert got["f1_at_threshold"] == want["f1_at_threshold"], (name, i)
        assert m["max_per_fold_gap_to_sklearn"][name] < 1e-10, name
    assert m["reference"] == {"name": "sklearn", "solver": "newton-cholesky", "tol": 1e-8}


def test_reference_named_once():
    """The study spells the reference's name and solver without importing scikit-learn;
    they are the workflow's."""
    from mlsandbox.classical import workflow
    from mlsandbox.studies import logreg

    assert (logreg.REFERENCE, logreg.REFERENCE_SOLVER) == (workflow.REFERENCE,
                                                            workflow.REFERENCE_SOLVER)


def test_convention_sklearn_defaults_move_the_f1_threshold(reports):
    """Why the reference is not scikit-learn's default LogisticRegression: lbfgs at tol
    1e-4 stops 1e-3 to 1e-2 from the optimum in the training probabilities (measured
    3.7e-3, seed 0, C=1), and the F1-optimal threshold moves on fold 0 from 0.4295 (the
    optimum's, all backends) to 0.4319."""
    m = json.loads((reports[0] / "metrics.json").read_text())
    d = m["sklearn_lbfgs_defaults"]
    assert 1e-3 < d["max_train_prob_gap"] < 1e-2
    assert round(d["f1_thresholds"][0], 4) == 0.4319
    assert round(m["results"]["sklearn"]["folds"][0]["f1_threshold"], 4) == 0.4295
    assert d["max_threshold_gap"] > 1e-4


def test_progress_bar_counts_every_fit(tmp_path, capsys):
    """One bar from the start; it ends exactly at its total (every fit counted once)."""
    config = Config(backends="numpy", grid_C="1")     # 5 folds: the vmapped fit is compiled
    total = fit_count(config)
    assert total == (1 + 1) * (1 + 5) + 2 * 5 + 5 + (1 * 1 * 5 + 1)
    run(config, tmp_path / "r")
    err = capsys.readouterr().err
    counts = re.findall(r"(\d+)/(\d+) \[", err)
    assert counts[0] == ("0", str(total)), err        # shown before the first fit
    assert counts[-1] == (str(total), str(total)), err
    assert all(int(n) <= total for n, _ in counts)


def test_cli_runs_the_study(tmp_path):
    from mlsandbox import cli

    out = tmp_path / "cli"
    rc = cli.main(["study", "logreg", "--backends", "numpy", "--grid-C", "", "--n-splits",
                   "3", "--progress", "false", "--out", str(out)])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["n_splits"] == 3 and m["grid_search"] == {}
    assert len(m["results"]["numpy"]["folds"]) == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"backends": "numpy,mxnet"}, "unknown backend"),
    ({"backends": ","}, "no backend named"),
    ({"grid_C": "1,abc"}, "comma list of numbers"),
    ({"grid_C": "0,1"}, "positive"),
    ({"n_splits": 1}, "at least 2"),
    ({"backends": "numpy", "plot_backend": "jax"}, "plot-backend"),
])
def test_config_errors(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run(Config(**kwargs), tmp_path / "never")
    assert not (tmp_path / "never").exists()
