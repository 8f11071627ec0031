"""The train → evaluate → report workflow of the classical track.

``run(Config(...), out_dir)`` (also ``mlsandbox study logreg``):

1. stratified K-fold splits (ours, identical to ``StratifiedKFold(shuffle=True,
   random_state=seed)``, which the report verifies);
2. for scikit-learn's ``LogisticRegression`` and for our estimator in every backend, a
   ``Pipeline(StandardScaler(), estimator)`` fitted on each training fold: accuracy,
   ROC AUC, precision, recall, F1 and the confusion matrix on the test fold, and the
   F1-optimal threshold chosen on the training fold's probabilities, applied to the test
   fold;
3. the same folds fitted at once by JAX (``jax.vmap`` over folds, per-fold scaling inside);
4. ``GridSearchCV`` over C and the backend on the same folds;
5. a report directory: ``report.md`` (tables, timings), ``metrics.json`` (every number
   but the timings, so the same seed gives byte-identical files), ``roc_folds.png``,
   ``confusion_matrix.png``.

Metrics are ours (:mod:`mlsandbox.classical.metrics`); each is checked against
scikit-learn's in the tests.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path

import numpy as np

from mlsandbox.classical import metrics as M
from mlsandbox.classical import plots
from mlsandbox.classical.estimator import LogisticRegression
from mlsandbox.classical.model_selection import batched_scaled_fits, stratified_kfold
from mlsandbox.classical.solvers import BACKENDS
from mlsandbox.report import Report

REFERENCE = "sklearn"


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
        "help": "Newton stops when every coefficient's step is below this"})
    grid_C: str = dataclasses.field(default="0.01,0.1,1,10,100", metadata={
        "help": "comma list of C values for the grid search (empty: no grid search)"})
    plot_backend: str = dataclasses.field(default="auto", metadata={
        "help": "whose folds the ROC and confusion plots show (auto: jax if run, else the "
                "first backend)"})

    def backend_list(self) -> tuple[str, ...]:
        if self.backends.strip() == "all":
            return BACKENDS
        names = tuple(b.strip() for b in self.backends.split(",") if b.strip())
        bad = [b for b in names if b not in BACKENDS]
        if bad or not names:
            raise ValueError(f"unknown backend(s) {bad or self.backends!r}; expected a comma "
                             f"list of {list(BACKENDS)} or 'all'")
        return names

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


def make_pipeline(C: float, backend: str, tol: float = 1e-8):
    """``Pipeline(StandardScaler, LogisticRegression)``; backend "sklearn" is
    scikit-learn's own estimator (its defaults: lbfgs, tol 1e-4)."""
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    est = (SkLogisticRegression(C=C) if backend == REFERENCE
           else LogisticRegression(C=C, backend=backend, tol=tol))
    return Pipeline([("scale", StandardScaler()), ("logreg", est)])


def evaluate_fold(y_test, p_test, y_train, p_train) -> dict:
    """Metrics of one fold from the positive-class probabilities."""
    pred = (p_test >= 0.5).astype(int)
    precision, recall, f1 = M.precision_recall_f1(y_test, pred)
    threshold, train_f1 = M.f1_optimal_threshold(y_train, p_train)
    tuned = M.precision_recall_f1(y_test, (p_test >= threshold).astype(int))[2]
    return {"accuracy": float(np.mean(pred == y_test)), "roc_auc": M.roc_auc_score(y_test, p_test),
            "precision": precision, "recall": recall, "f1": f1,
            "f1_threshold": threshold, "f1_at_threshold": tuned,
            "confusion_matrix": M.confusion_matrix(y_test, pred, labels=[0, 1]).tolist()}


def cross_validate(X, y, splits, C, backend, tol=1e-8):
    """Per-fold metrics, test probabilities and fit times of one backend's pipeline."""
    folds, probs, seconds = [], [], []
    for train, test in splits:
        pipe = make_pipeline(C, backend, tol)
        t0 = time.perf_counter()
        pipe.fit(X[train], y[train])
        seconds.append(time.perf_counter() - t0)
        p_test = pipe.predict_proba(X[test])[:, 1]
        folds.append(evaluate_fold(y[test], p_test, y[train],
                                   pipe.predict_proba(X[train])[:, 1]))
        probs.append(p_test)
    return folds, probs, seconds


def summary(folds) -> dict:
    out = {}
    for key in ("accuracy", "roc_auc", "precision", "recall", "f1", "f1_at_threshold"):
        v = np.array([f[key] for f in folds])
        out[key] = {"mean": float(v.mean()), "std": float(v.std())}
    return out


def run(config: Config, out_dir) -> Path:
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from mlsandbox.data import load_breast_cancer

    config.check()
    ds = load_breast_cancer()
    X, y = ds.x_train, ds.y_train
    classes = [str(c) for c in ds.classes]
    splits = stratified_kfold(y, config.n_splits, shuffle=True, random_state=config.seed)
    sk_splits = list(StratifiedKFold(config.n_splits, shuffle=True,
                                     random_state=config.seed).split(X, y))
    same_folds = all(np.array_equal(a, c) and np.array_equal(b, d)
                     for (a, b), (c, d) in zip(splits, sk_splits))
    backends = config.backend_list()

    results, timings = {}, {}
    warm = splits[0][0]
    for name in (REFERENCE, *backends):
        make_pipeline(config.C, name, config.tol).fit(X[warm], y[warm])  # imports, jit
        folds, probs, seconds = cross_validate(X, y, splits, config.C, name, config.tol)
        results[name] = {"folds": folds, "summary": summary(folds), "probs": probs}
        timings[name] = seconds

    # all folds at once: JAX vmap over the folds, scaling inside
    batched_scaled_fits(X, y, splits, config.C, tol=config.tol)     # compile
    t0 = time.perf_counter()
    fits = batched_scaled_fits(X, y, splits, config.C, tol=config.tol)
    t_batched = time.perf_counter() - t0
    batched_folds = []
    for (train, test), (mean, scale, coef, intercept, _) in zip(splits, fits):
        prob = lambda rows: 1 / (1 + np.exp(-(((X[rows] - mean) / scale) @ coef[0]  # noqa: E731
                                              + intercept[0])))
        batched_folds.append(evaluate_fold(y[test], prob(test), y[train], prob(train)))

    keys = ("accuracy", "roc_auc", "f1")
    ref = results[REFERENCE]["folds"]

    def max_gap(folds):
        return max(abs(f[k] - r[k]) for f, r in zip(folds, ref) for k in keys)

    gaps = {b: max_gap(results[b]["folds"]) for b in backends}
    gaps["jax-vmap"] = max_gap(batched_folds)

    grid_rows, grid_json = [], {}
    if config.grid():
        grid = GridSearchCV(make_pipeline(config.C, backends[0], config.tol),
                            {"logreg__C": config.grid(), "logreg__backend": list(backends)},
                            cv=splits, scoring="roc_auc")
        grid.fit(X, y)
        cv = grid.cv_results_
        for params, mean, std in zip(cv["params"], cv["mean_test_score"], cv["std_test_score"]):
            grid_rows.append([params["logreg__C"], params["logreg__backend"], mean, std])
        grid_json = {"best_params": {"C": grid.best_params_["logreg__C"],
                                     "backend": grid.best_params_["logreg__backend"]},
                     "best_roc_auc": float(grid.best_score_),
                     "results": [{"C": r[0], "backend": r[1], "mean_roc_auc": float(r[2]),
                                  "std_roc_auc": float(r[3])} for r in grid_rows]}

    title = f"Logistic regression (C={config.C:g}) on breast cancer, {config.n_splits}-fold CV"
    with Report(out_dir, title) as report:
        report.text(
            f"{len(y)} samples, 30 features, classes {classes} (positive: "
            f"{classes[1]}). Pipeline: StandardScaler fitted on each training fold, then "
            f"logistic regression with an L2 penalty (C={config.C:g}). Folds: ours, "
            f"stratified, shuffled with seed {config.seed}; identical to scikit-learn's "
            f"StratifiedKFold: {'yes' if same_folds else 'NO'}. Threshold 0.5 unless "
            f"stated; the F1-optimal threshold is chosen on the training fold.")
        report.heading("Per-fold results")
        rows = []
        for name in (REFERENCE, *backends):
            for i, f in enumerate(results[name]["folds"]):
                rows.append([name, i, f["accuracy"], f["roc_auc"], f["precision"],
                             f["recall"], f["f1"], f["f1_threshold"], f["f1_at_threshold"]])
        report.table(["estimator", "fold", "accuracy", "ROC AUC", "precision", "recall", "F1",
                      "F1-opt. threshold", "F1 at it"], rows)
        report.heading("Mean ± std over folds")
        srows = []
        for name in (REFERENCE, *backends):
            s = results[name]["summary"]
            srows.append([name, f"{s['accuracy']['mean']:.3f} ± {s['accuracy']['std']:.3f}",
                          f"{s['roc_auc']['mean']:.4f} ± {s['roc_auc']['std']:.4f}",
                          f"{s['f1']['mean']:.4f} ± {s['f1']['std']:.4f}",
                          gaps[name] if name in gaps else 0.0])
        srows.append(["jax-vmap (all folds in one call)",
                      f"{summary(batched_folds)['accuracy']['mean']:.3f}",
                      f"{summary(batched_folds)['roc_auc']['mean']:.4f}",
                      f"{summary(batched_folds)['f1']['mean']:.4f}", gaps["jax-vmap"]])
        report.table(["estimator", "accuracy", "ROC AUC", "F1",
                      "max per-fold gap to sklearn"], srows)
        report.heading("Fit time per fold (this run; not in metrics.json)")
        trows = [[name, 1e3 * float(np.median(timings[name])),
                  1e3 * float(np.sum(timings[name]))] for name in (REFERENCE, *backends)]
        trows.append(["jax-vmap, all folds at once", float("nan"), 1e3 * t_batched])
        report.table(["estimator", "median ms per fold", "total ms"], trows)
        report.text(f"Machine: {platform.machine()}, {platform.processor() or platform.system()}"
                    f"; pipeline fit includes the scaler.")
        if grid_rows:
            report.heading("Grid search over C and backend (ROC AUC, same folds)")
            report.table(["C", "backend", "mean ROC AUC", "std"], grid_rows)
            report.text(f"Best: C={grid_json['best_params']['C']:g}, backend "
                        f"{grid_json['best_params']['backend']} (ties go to the first "
                        f"candidate), ROC AUC {grid_json['best_roc_auc']:.4f}.")
        plotted = config.plot_backend
        if plotted == "auto":
            plotted = "jax" if "jax" in backends else backends[0]
        shown = results[plotted]
        curves, aucs = [], []
        for (_, test), p in zip(splits, shown["probs"]):
            fpr, tpr, _ = M.roc_curve(y[test], p)
            curves.append((fpr, tpr))
            aucs.append(M.roc_auc_score(y[test], p))
        report.heading("Plots")
        report.figure("roc_folds.png", plots.roc_folds(
            curves, aucs, f"ROC per fold ({plotted})"), "ROC per fold")
        cm = np.sum([f["confusion_matrix"] for f in shown["folds"]], axis=0)
        report.figure("confusion_matrix.png", plots.confusion(
            cm, classes, f"Confusion matrix, all test folds ({plotted})"),
            "confusion matrix")
        report.metrics({
            "study": "logreg", "data": "sklearn breast cancer (569 x 30)",
            "config": dataclasses.asdict(config), "folds_identical_to_sklearn": same_folds,
            "fold_sizes": [len(t) for _, t in splits],
            "results": {name: {"folds": results[name]["folds"],
                               "summary": results[name]["summary"]}
                        for name in (REFERENCE, *backends)},
            "jax_vmap": {"folds": batched_folds, "summary": summary(batched_folds)},
            "max_per_fold_gap_to_sklearn": gaps, "grid_search": grid_json})
    return Path(out_dir)
