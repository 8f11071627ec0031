"""Our metrics (NumPy, and JAX with fold masks) and fold splitting against
scikit-learn's, on real scores (a logistic regression's cross-validated probabilities on
breast cancer) and on crafted ties."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.model_selection import StratifiedKFold

from mlsandbox.classical import metrics as M
from mlsandbox.classical.model_selection import stratified_kfold


@pytest.fixture(scope="module")
def scores():
    """Real out-of-fold probabilities, plus versions with heavy ties."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    p = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression()), X, y,
                          cv=StratifiedKFold(5, shuffle=True, random_state=0),
                          method="predict_proba")[:, 1]
    return {"real": (y, p), "rounded": (y, np.round(p, 1)),
            "binary-score": (y, (p > 0.5).astype(float)),
            "crafted": (np.array([0, 1, 1, 0, 1, 0, 0, 1]),
                        np.array([0.1, 0.4, 0.4, 0.4, 0.8, 0.8, 0.2, 0.9]))}


CASES = ["real", "rounded", "binary-score", "crafted"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("drop", [True, False])
def test_roc_curve(scores, case, drop):
    y, s = scores[case]
    got = M.roc_curve(y, s, drop_intermediate=drop)
    want = skm.roc_curve(y, s, drop_intermediate=drop)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("case", CASES)
def test_roc_auc(scores, case):
    y, s = scores[case]
    assert M.roc_auc_score(y, s) == skm.roc_auc_score(y, s)
    fpr, tpr, _ = skm.roc_curve(y, s)
    assert M.auc(fpr, tpr) == skm.auc(fpr, tpr)
    assert M.auc(fpr[::-1], tpr[::-1]) == skm.auc(fpr[::-1], tpr[::-1])


@pytest.mark.parametrize("case", CASES)
def test_confusion_and_prf(scores, case):
    y, s = scores[case]
    pred = (s >= 0.5).astype(int)
    np.testing.assert_array_equal(M.confusion_matrix(y, pred), skm.confusion_matrix(y, pred))
    got = M.precision_recall_f1(y, pred)
    want = skm.precision_recall_fscore_support(y, pred, average="binary", zero_division=0)[:3]
    assert got == tuple(want)


def test_multiclass_confusion_and_macro():
    _, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    pred = np.where(rng.random(len(y)) < 0.3, rng.integers(0, 3, len(y)), y)
    names = np.array(["setosa", "versicolor", "virginica"])
    np.testing.assert_array_equal(M.confusion_matrix(names[y], names[pred]),
                                  skm.confusion_matrix(names[y], names[pred]))
    for avg in ("macro", None):
        got = M.precision_recall_f1(y, pred, average=avg)
        want = skm.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)[:3]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-15)


@pytest.mark.parametrize("case", CASES)
def test_f1_optimal_threshold(scores, case):
    y, s = scores[case]
    t, f1 = M.f1_optimal_threshold(y, s)
    assert f1 == pytest.approx(skm.f1_score(y, s >= t), abs=1e-15)
    # the best over every threshold scikit-learn's precision-recall curve offers
    p, r, thr = skm.precision_recall_curve(y, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.nan_to_num(2 * p * r / (p + r))[:-1]
    assert f1 == pytest.approx(f.max(), abs=1e-12)
    assert max(skm.f1_score(y, s >= u) for u in np.unique(s)) == pytest.approx(f1, abs=1e-15)


def test_convention_f1_threshold_ties_go_to_the_highest():
    """Candidates are the distinct scores (those of scikit-learn's precision-recall
    curve); between equal F1 ours keeps the highest threshold, where an argmax over
    ``precision_recall_curve`` (thresholds increasing) keeps the lowest.  Here t = 0.7
    (tp 2, fp 1) and t = 0.4 (tp 3, fp 3) both give F1 = 2/3."""
    y = np.array([0, 1, 1, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert M.f1_optimal_threshold(y, s) == (0.7, pytest.approx(2 / 3, abs=1e-15))
    p, r, thr = skm.precision_recall_curve(y, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.nan_to_num(2 * p * r / (p + r))[:-1]
    assert thr[np.argmax(f)] == 0.4 and f[np.argmax(f)] == pytest.approx(2 / 3, abs=1e-15)


@pytest.mark.parametrize("shuffle, seed", [(False, None), (True, 0), (True, 1), (True, 42)])
@pytest.mark.parametrize("data", ["cancer", "iris-strings", "unbalanced"])
def test_stratified_kfold_identical(data, shuffle, seed):
    if data == "cancer":
        y = load_breast_cancer(return_X_y=True)[1]
    elif data == "iris-strings":
        y = np.array(["c", "a", "b"])[load_iris(return_X_y=True)[1]]
    else:
        y = np.r_[np.zeros(37, int), np.ones(11, int), np.full(6, 2)]
        np.random.default_rng(3).shuffle(y)
    for k in (2, 5, 6):
        ours = stratified_kfold(y, k, shuffle=shuffle, random_state=seed)
        want = list(StratifiedKFold(k, shuffle=shuffle, random_state=seed).split(y, y))
        assert len(ours) == len(want) == k
        for (a, b), (c, d) in zip(ours, want):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, d)


def test_metric_errors():
    with pytest.raises(ValueError, match="both classes"):
        M.roc_curve([1, 1, 1], [0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="NaN or infinity"):
        M.roc_auc_score([0, 1], [0.2, np.nan])
    with pytest.raises(ValueError, match=r"y_true in \{0, 1\}"):
        M.roc_auc_score([0, 2], [0.2, 0.3])
    with pytest.raises(ValueError, match="shape"):
        M.confusion_matrix([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="cannot be greater than the number of members"):
        stratified_kfold([0, 1, 1], 5)


def test_jax_metrics_vmapped_over_folds(scores):
    """The masked JAX metrics, vmapped over the five folds at once, equal scikit-learn's
    per-fold AUC (to rounding: a pair count against trapezoids), confusion matrices and
    accuracies, on real scores and on heavily tied ones."""
    from mlsandbox.classical import metrics_jax as J

    jax = J.jax
    for case in ("real", "rounded", "binary-score"):
        y, s = scores[case]
        splits = stratified_kfold(y, 5, shuffle=True, random_state=0)
        masks = np.zeros((5, len(y)))
        for i, (_, test) in enumerate(splits):
            masks[i, test] = 1
        pred = (s >= 0.5).astype(int)
        aucs = jax.vmap(J.roc_auc, in_axes=(None, None, 0))(y, s, masks)
        cms = jax.vmap(J.confusion_matrix, in_axes=(None, None, 0))(y, pred, masks)
        accs = jax.vmap(J.accuracy, in_axes=(None, None, 0))(y, pred, masks)
        for i, (_, test) in enumerate(splits):
            assert float(aucs[i]) == pytest.approx(skm.roc_auc_score(y[test], s[test]),
                                                   abs=1e-14)
            np.testing.assert_array_equal(np.asarray(cms[i]),
                                          skm.confusion_matrix(y[test], pred[test]))
            assert float(accs[i]) == pytest.approx(skm.accuracy_score(y[test], pred[test]),
                                                   abs=1e-15)
