"""Logistic regression on the breast cancer data (embedded in scikit-learn), as
scikit-learn users run it: StandardScaler + LogisticRegression in a Pipeline, stratified
K-fold cross-validation, a grid search over C and the backend.

``run(Config(...), out_dir)`` (also ``mlsandbox study logreg``) runs these steps, one
function each, under one progress bar that counts every fit from the first second:

1. :func:`make_folds`: stratified K-fold splits (ours, identical to
   ``StratifiedKFold(shuffle=True, random_state=seed)``, which the report verifies);
2. :func:`cross_validate_backends`: for scikit-learn's ``LogisticRegression`` (the
   reference) and for our estimator in every backend (NumPy IRLS, JAX, torch, Keras
   Newton solvers), ``Pipeline(StandardScaler(), estimator)`` fitted on each training
   fold: accuracy, ROC AUC, precision, recall, F1 and the confusion matrix on the test
   fold, and the F1-optimal threshold chosen on the training fold's probabilities,
   applied to the test fold;
3. :func:`fit_batched`: the same folds fitted at once by JAX (``jax.vmap`` over folds,
   per-fold scaling inside);
4. :func:`compare_sklearn_defaults`: why the reference is scikit-learn's
   ``solver="newton-cholesky"`` at the study's ``tol`` rather than its defaults (lbfgs,
   tol 1e-4): it reaches the optimum our Newton solvers reach (probabilities within
   ~1e-10), so every estimator picks the same training sample as the F1-optimal cut; the
   defaults stop up to ~4e-3 away in the training probabilities, and the cut moves
   (seed 0, C=1, fold 0: 0.4319 instead of 0.4295).  Measured every run, in the report;
5. :func:`search_grid`: ``GridSearchCV`` over C and the backend on the same folds;
6. :func:`write_report`: ``report.md`` (tables, timings), ``metrics.json`` (every number
   but the timings, so the same seed gives a byte-identical file), ``roc_folds.png``,
   ``confusion_matrix.png``.

The reusable pieces (pipelines, per-fold evaluation, cross-validation, summaries, the
grid search) are in :mod:`mlsandbox.classical.workflow`.  This module imports them (and
with them scikit-learn, about 1 s) only when the study runs, after its progress bar is
on screen: ``mlsandbox study --list`` and the other studies do not pay for it.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import models
from mlsandbox import machine
from mlsandbox.studies import common

if TYPE_CHECKING:
    from mlsandbox.classical import workflow as W

#: ``mlsandbox.classical.workflow.REFERENCE`` and ``REFERENCE_SOLVER`` (a test checks
#: that they agree), written here so that checking the flags imports no scikit-learn
REFERENCE, REFERENCE_SOLVER = "sklearn", "newton-cholesky"

HELP = "logistic regression in four frameworks vs scikit-learn on breast cancer (CV report)"


@dataclasses.dataclass
class Config:
    """Every field is a flag of ``mlsandbox study logreg`` (``n_splits`` -> ``--n-splits``)."""

    C: float = dataclasses.field(default=1.0, metadata={
        "help": "inverse L2 strength, scikit-learn's convention"})
    backends: str = dataclasses.field(default="all", metadata={
        "help": "comma list of numpy,jax,torch,keras or 'all'"})
    n_splits: int = dataclasses.field(default=5, metadata={"help": "stratified folds"})
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of the fold shuffle"})
    tol: float = dataclasses.field(default=1e-8, metadata={
        "help": "Newton stops when every coefficient's step is below this (scikit-learn's "
                "newton-cholesky reference gets the same tol)"})
    grid_C: str = dataclasses.field(default="0.01,0.1,1,10,100", metadata={
        "help": "comma list of C values for the grid search (empty: no grid search)"})
    plot_backend: str = dataclasses.field(default="auto", metadata={
        "help": "whose folds the ROC and confusion plots show (auto: jax if run, else the "
                "first backend)"})
    progress: bool = common.progress_field()

    def backend_list(self) -> tuple[str, ...]:
        names = common.backend_names(self.backends)   # the classical solvers' backends
        return models.BACKENDS if names is None else names

    def grid(self) -> list[float]:
        try:
            values = [float(v) for v in self.grid_C.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--grid-C must be a comma list of numbers, got "
                             f"{self.grid_C!r}") from None
        if any(not v > 0 for v in values):
            raise ValueError(f"--grid-C values must be positive, got {values}")
        return values

    def check(self) -> None:
        self.backend_list()
        self.grid()
        if not self.C > 0:
            raise ValueError(f"--C must be positive, got {self.C}")
        if self.n_splits < 2:
            raise ValueError(f"--n-splits must be at least 2, got {self.n_splits}")
        if self.plot_backend not in ("auto", *self.backend_list(), REFERENCE):
            raise ValueError(f"--plot-backend must be one of the backends run or "
                             f"'{REFERENCE}', got {self.plot_backend!r}")


def fit_count(config: Config) -> int:
    """How many fits the study runs (the progress bar's total): per estimator (the
    reference and each backend) one warm-up and one per fold; the batched JAX call twice
    (compile, then timed), counted as one fit per fold each time; the reference with
    scikit-learn's defaults once per fold; the grid search's candidates x folds and its
    refit."""
    k, b = config.n_splits, len(config.backend_list())
    grid = len(config.grid()) * b * k + 1 if config.grid() else 0
    return (1 + b) * (1 + k) + 2 * k + k + grid


@dataclasses.dataclass
class Outcome:
    """Everything the study computed; :func:`write_report` writes it out."""

    config: Config
    classes: list[str]
    y: np.ndarray
    splits: list
    same_folds: bool
    cv: dict[str, W.CrossValidation]          # the reference, then each backend
    batched: W.CrossValidation
    defaults: dict
    grid: dict

    @property
    def backends(self) -> tuple[str, ...]:
        return tuple(name for name in self.cv if name != REFERENCE)

    def gaps(self) -> dict[str, float]:
        """Per backend and for the batched fit: :func:`~mlsandbox.classical.workflow.max_gap`
        to the reference over every fold and scalar metric."""
        from mlsandbox.classical import workflow as W

        ref = self.cv[REFERENCE].folds
        out = {b: W.max_gap(self.cv[b].folds, ref) for b in self.backends}
        out["jax-vmap"] = W.max_gap(self.batched.folds, ref)
        return out


def run(config: Config, out_dir) -> Path:
    return common.run_study(write, config, out_dir)


def write(config: Config, report) -> common.Summary:
    """The study's steps, in order (the bar is on screen before anything is loaded),
    written into ``report``."""
    from tqdm.auto import tqdm

    config.check()
    with tqdm(total=fit_count(config), desc="logreg", unit="fit",
              disable=not config.progress) as bar:
        bar.set_postfix_str("loading")
        X, y, classes = load_data()
        splits, same_folds = make_folds(y, config)
        cv = cross_validate_backends(X, y, splits, config, bar)
        batched = fit_batched(X, y, splits, config, bar)
        defaults = compare_sklearn_defaults(X, y, splits, config, cv[REFERENCE], bar)
        grid = search_grid(X, y, splits, config, bar)
        bar.set_postfix_str("report")
        return write_report(Outcome(config, classes, y, splits, same_folds, cv, batched,
                                    defaults, grid), report)


def load_data():
    """``(X (569, 30) float64, y (569,) in {0, 1}, class names)`` of breast cancer."""
    from mlsandbox.data import load_breast_cancer

    ds = load_breast_cancer()
    return ds.x_train, ds.y_train, [str(c) for c in ds.classes]


def make_folds(y, config: Config):
    """Step 1: ``(splits, same_folds)``: our stratified shuffled K-fold ``(train, test)``
    index pairs, and whether they equal scikit-learn's ``StratifiedKFold`` with the same
    seed."""
    from sklearn.model_selection import StratifiedKFold

    from mlsandbox.classical.model_selection import stratified_kfold

    splits = stratified_kfold(y, config.n_splits, shuffle=True, random_state=config.seed)
    theirs = StratifiedKFold(config.n_splits, shuffle=True,
                             random_state=config.seed).split(np.zeros(len(y)), y)
    same = all(np.array_equal(a, c) and np.array_equal(b, d)
               for (a, b), (c, d) in zip(splits, theirs, strict=True))
    return splits, same


def cross_validate_backends(X, y, splits, config: Config, bar) -> dict[str, W.CrossValidation]:
    """Step 2: ``{name: CrossValidation}`` for the reference and every backend, each
    warmed up first on the first training fold (imports, tracing, jit: not timed)."""
    from mlsandbox.classical import workflow as W

    out = {}
    warm = splits[0][0]
    for name in (REFERENCE, *config.backend_list()):
        bar.set_postfix_str(f"{name} (warm-up)")
        W.make_pipeline(config.C, name, config.tol).fit(X[warm], y[warm])
        bar.update(1)
        bar.set_postfix_str(name)
        out[name] = W.cross_validate(X, y, splits, config.C, name, config.tol,
                                     on_fit=lambda: bar.update(1))
    return out


def fit_batched(X, y, splits, config: Config, bar) -> W.CrossValidation:
    """Step 3: every fold in one vmapped JAX call, timed after a compiling call."""
    from mlsandbox.classical import workflow as W
    from mlsandbox.classical.model_selection import batched_scaled_fits

    bar.set_postfix_str("jax-vmap (compile)")
    batched_scaled_fits(X, y, splits, config.C, tol=config.tol)
    bar.update(len(splits))
    bar.set_postfix_str("jax-vmap")
    cv = W.batched_cross_validate(X, y, splits, config.C, tol=config.tol)
    bar.update(len(splits))
    return cv


def compare_sklearn_defaults(X, y, splits, config: Config, reference: W.CrossValidation,
                             bar) -> dict:
    """Step 4: scikit-learn's ``LogisticRegression(C)`` with its defaults (lbfgs, tol
    1e-4, max_iter 100) on each fold, against the reference fitted to the optimum.

    Returns ``{"solver": "lbfgs", "tol": 1e-4, "max_train_prob_gap": max |p_defaults -
    p_reference| over the training rows of every fold, "f1_thresholds": the F1-optimal
    threshold each fold's defaults pick, "max_threshold_gap": its largest distance to
    the reference's}``.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlsandbox.classical import metrics as M

    bar.set_postfix_str("sklearn defaults")
    prob_gap, thresholds = 0.0, []
    for (train, _), p_ref in zip(splits, reference.train_probs, strict=True):
        pipe = Pipeline([("scale", StandardScaler()),
                         ("logreg", SkLogisticRegression(C=config.C))])
        with warnings.catch_warnings():       # at large C lbfgs may stop at max_iter: that
            warnings.simplefilter("ignore", ConvergenceWarning)  # is the gap measured here
            pipe.fit(X[train], y[train])
        bar.update(1)
        p = pipe.predict_proba(X[train])[:, 1]
        prob_gap = max(prob_gap, float(np.max(np.abs(p - p_ref))))
        thresholds.append(M.f1_optimal_threshold(y[train], p)[0])
    ref = [f["f1_threshold"] for f in reference.folds]
    return {"solver": "lbfgs", "tol": 1e-4, "max_train_prob_gap": prob_gap,
            "f1_thresholds": thresholds,
            "max_threshold_gap": max(abs(a - b) for a, b in zip(thresholds, ref))}


def search_grid(X, y, splits, config: Config, bar) -> dict:
    """Step 5: ``GridSearchCV`` over ``config.grid()`` x the backends on the same folds,
    ROC AUC (:func:`mlsandbox.classical.workflow.grid_search`); ``{}`` when no grid."""
    from mlsandbox.classical import workflow as W

    if not config.grid():
        return {}
    bar.set_postfix_str("grid search")
    return W.grid_search(X, y, splits, config.grid(), config.backend_list(), config.tol,
                         on_fit=lambda: bar.update(1))


def write_report(o: Outcome, report) -> common.Summary:
    """Step 6: the report (tables, plots, ``metrics.json``)."""
    from mlsandbox.classical import workflow as W

    config, names = o.config, (REFERENCE, *o.backends)
    gaps = o.gaps()
    title = f"Logistic regression (C={config.C:g}) on breast cancer, {config.n_splits}-fold CV"
    report.heading(title, 1)
    report.text(
        f"{len(o.y)} samples, 30 features, classes {o.classes} (positive: "
        f"{o.classes[1]}). Pipeline: StandardScaler fitted on each training fold, then "
        f"logistic regression with an L2 penalty (C={config.C:g}). Reference: "
        f"scikit-learn's LogisticRegression(solver=\"{REFERENCE_SOLVER}\", "
        f"tol={config.tol:g}), which reaches the optimum our Newton solvers reach "
        f"(probabilities within ~1e-10). Folds: ours, stratified, shuffled with seed "
        f"{config.seed}; identical to scikit-learn's StratifiedKFold: "
        f"{'yes' if o.same_folds else 'NO'}. Threshold 0.5 unless stated; the "
        f"F1-optimal threshold is chosen on the training fold (every distinct "
        f"training probability a candidate, the highest among equal F1) and applied "
        f"to the test fold.")
    _per_fold_section(report, o, names)
    _summary_section(report, o, names, gaps)
    _defaults_section(report, o)
    _timing_section(report, o, names)
    if o.grid:
        _grid_section(report, o.grid)
    _plots_section(report, o)
    report.metrics({
        "study": "logreg", "data": "sklearn breast cancer (569 x 30)",
        "config": dataclasses.asdict(config), "folds_identical_to_sklearn": o.same_folds,
        "fold_sizes": [len(t) for _, t in o.splits],
        "reference": {"name": REFERENCE, "solver": REFERENCE_SOLVER, "tol": config.tol},
        "results": {name: {"folds": o.cv[name].folds,
                           "summary": W.summary(o.cv[name].folds)} for name in names},
        "jax_vmap": {"folds": o.batched.folds, "summary": W.summary(o.batched.folds)},
        "max_per_fold_gap_to_sklearn": gaps,
        "sklearn_lbfgs_defaults": o.defaults, "grid_search": o.grid})
    return common.Summary(title, "scikit-learn's breast cancer (569 x 30)", {
        f"{config.n_splits}-fold CV accuracy (mean)": {
            name: W.summary(o.cv[name].folds)["accuracy"]["mean"] for name in names}})


def _per_fold_section(report, o: Outcome, names) -> None:
    """Every estimator's metrics on every fold, one row each."""
    report.heading("Per-fold results")
    rows = []
    for name in names:
        for i, f in enumerate(o.cv[name].folds):
            rows.append([name, i, f["accuracy"], f["roc_auc"], f["precision"], f["recall"],
                         f["f1"], f["f1_threshold"], f["train_f1_at_threshold"],
                         f["f1_at_threshold"]])
    report.table(["estimator", "fold", "accuracy", "ROC AUC", "precision", "recall", "F1",
                  "F1-opt. threshold", "train F1 at it", "test F1 at it"], rows)


def _summary_section(report, o: Outcome, names, gaps) -> None:
    """Mean ± std over the folds, and each estimator's largest per-fold gap to the
    reference."""
    from mlsandbox.classical import workflow as W

    report.heading("Mean ± std over folds")

    def row(label, folds, gap):
        s = W.summary(folds)
        return [label, f"{s['accuracy']['mean']:.3f} ± {s['accuracy']['std']:.3f}",
                f"{s['roc_auc']['mean']:.4f} ± {s['roc_auc']['std']:.4f}",
                f"{s['f1']['mean']:.4f} ± {s['f1']['std']:.4f}",
                f"{s['f1_at_threshold']['mean']:.4f} ± {s['f1_at_threshold']['std']:.4f}",
                gap]

    rows = [row(name, o.cv[name].folds, gaps.get(name, 0.0)) for name in names]
    rows.append(row("jax-vmap (all folds in one call)", o.batched.folds, gaps["jax-vmap"]))
    report.table(["estimator", "accuracy", "ROC AUC", "F1", "F1 at the F1-opt. threshold",
                  "max per-fold gap to sklearn"], rows)
    report.text("The gap is the largest |difference| to the reference over every fold and "
                "every number of the per-fold table (the F1-optimal threshold and the F1 "
                "values at it included).")


def _defaults_section(report, o: Outcome) -> None:
    """What scikit-learn's default solver would change (step 4), and how close our
    thresholds are to the reference's."""
    d, ref = o.defaults, o.cv[REFERENCE].folds
    ours = [(f, r) for cv in (*(o.cv[b] for b in o.backends), o.batched)
            for f, r in zip(cv.folds, ref)]
    gap = max(abs(f["f1_threshold"] - r["f1_threshold"]) for f, r in ours)
    same = all(f[k] == r[k] for f, r in ours for k in ("train_f1_at_threshold",
                                                      "f1_at_threshold"))
    report.heading("Why the reference is not scikit-learn's default solver")
    report.text(
        f"With scikit-learn's defaults (lbfgs, tol 1e-4) the training probabilities end up "
        f"to {d['max_train_prob_gap']:.1e} from the optimum's, enough to make another "
        f"training sample the F1-optimal cut: fold 0 gets {d['f1_thresholds'][0]:.4f} "
        f"instead of {ref[0]['f1_threshold']:.4f} (largest move over the folds "
        f"{d['max_threshold_gap']:.1e}). With solver=\"{REFERENCE_SOLVER}\" at the same "
        f"tol as ours, the thresholds of every backend and of jax-vmap are within "
        f"{gap:.1e} of the reference's on every fold, and the train and test F1 at them "
        + ("are identical: the same training sample is the cut." if same else
           "DIFFER: another training sample became the cut somewhere."))


def _timing_section(report, o: Outcome, names) -> None:
    """Fit times of this run (not in ``metrics.json``: they vary run to run)."""
    report.heading("Fit time per fold (this run; not in metrics.json)")
    rows = [[name, 1e3 * float(np.median(o.cv[name].seconds)),
             1e3 * float(np.sum(o.cv[name].seconds))] for name in names]
    rows.append(["jax-vmap, all folds at once", float("nan"), 1e3 * o.batched.seconds[0]])
    report.table(["estimator", "median ms per fold", "total ms"], rows)
    report.text(f"Machine: {machine.summary()}"
                f"; pipeline fit includes the scaler.")


def _grid_section(report, grid: dict) -> None:
    """The grid search's table and its best candidate."""
    report.heading("Grid search over C and backend (ROC AUC, same folds)")
    report.table(["C", "backend", "mean ROC AUC", "std"],
                 [[r["C"], r["backend"], r["mean_roc_auc"], r["std_roc_auc"]]
                  for r in grid["results"]])
    report.text(f"Best: C={grid['best_params']['C']:g}, backend "
                f"{grid['best_params']['backend']} (ties go to the first candidate), "
                f"ROC AUC {grid['best_roc_auc']:.4f}.")


def _plots_section(report, o: Outcome) -> None:
    """ROC curves per fold and the summed confusion matrix of one estimator."""
    from mlsandbox.classical import metrics as M
    from mlsandbox.classical import plots

    plotted = o.config.plot_backend
    if plotted == "auto":
        plotted = "jax" if "jax" in o.backends else o.backends[0]
    shown = o.cv[plotted]
    curves, aucs = [], []
    for (_, test), p in zip(o.splits, shown.test_probs):
        fpr, tpr, _ = M.roc_curve(o.y[test], p)
        curves.append((fpr, tpr))
        aucs.append(M.roc_auc_score(o.y[test], p))
    report.heading("Plots")
    report.figure("roc_folds.png", plots.roc_folds(
        curves, aucs, f"ROC per fold ({plotted})"), "ROC per fold")
    cm = np.sum([f["confusion_matrix"] for f in shown.folds], axis=0)
    report.figure("confusion_matrix.png", plots.confusion(
        cm, o.classes, f"Confusion matrix, all test folds ({plotted})"),
        "confusion matrix")


__all__ = ["Config", "HELP", "fit_count", "run", "write"]
