"""``LogisticRegression``: a scikit-learn estimator whose fit runs in any of our backends.

>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> X, y = load_breast_cancer(return_X_y=True)
>>> clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, backend="jax"))
>>> round(clf.fit(X, y).score(X, y), 3)
0.988

It plugs into pipelines, ``GridSearchCV`` (``backend`` is a parameter like ``C``),
``cross_validate`` and ``clone``, and passes ``sklearn.utils.estimator_checks``
(``tests/test_classical_estimator.py``).  The model and its attributes are those of
``sklearn.linear_model.LogisticRegression`` with an L2 penalty:

* minimizes ``C Σ_i CE_i + ½‖W‖²`` (intercept unpenalized), binary with one coefficient
  row for ``classes_[1]``, multinomial (softmax over all classes) for three or more;
* ``coef_`` (1 or n_classes, n_features), ``intercept_`` (1 or n_classes,), ``classes_``,
  ``n_iter_`` (shape (1,), Newton steps), ``n_features_in_`` (and ``feature_names_in_``
  for DataFrames).

Every backend solves with Newton's method (see :mod:`mlsandbox.classical.solvers`),
stopping when the Newton step is below ``tol`` in every coefficient, so at the default
``tol=1e-8`` the coefficients are the optimum's to about that precision (scikit-learn's
lbfgs stops on a gradient or function-change test and can be 1e-5 away at C = 100).
Data is converted to float64.

Sparse X (scipy.sparse, e.g. TF-IDF from :class:`mlsandbox.text.TfidfVectorizer`) is
taken as CSR and never densified by ``solver="newton-cg"``: truncated Newton, conjugate
gradients on Hessian-vector products, the Hessian never formed (25,000 x 1.5M bigram
features of IMDB: docs/text.md).  ``solver="auto"`` picks it for sparse X or when the
dense Hessian would be larger than ``CG_THRESHOLD`` squared (θ of (d + 1) k entries).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import softmax
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mlsandbox.classical import solvers

#: ``solver="auto"`` uses newton-cg above this many parameters (d + 1) k: the dense
#: Hessian (d'k)² is then 32 MB and its Cholesky-type solve O((d'k)³) outgrows the CG
#: products, each O(nnz k).
CG_THRESHOLD = 2000
#: ``solver="newton"`` on sparse X densifies X only up to this many entries n·d (and the
#: Hessian only up to ``NEWTON_MAX_PARAMS`` parameters): 400 MB in float64.
DENSIFY_MAX = 50_000_000
NEWTON_MAX_PARAMS = 10_000


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """L2-penalized logistic regression fitted by Newton's method in ``backend``.

    Parameters
    ----------
    C : float, default 1.0
        Inverse regularization strength, scikit-learn's convention.
    backend : {"numpy", "jax", "torch", "keras"}, default "numpy"
        Which framework's solver fits (NumPy: hand-derived IRLS; JAX: jitted Newton;
        torch: autograd Hessian; Keras: ``tf.GradientTape`` Hessian; with newton-cg each
        framework's sparse matrices and Hessian-vector products).
    fit_intercept : bool, default True
    tol : float, default 1e-8
        Stop when the Newton step is at most ``tol`` in every coefficient.
    max_iter : int, default 100
        Newton steps at most (a ``ConvergenceWarning`` when reached).
    solver : {"auto", "newton", "newton-cg"}, default "auto"
        "newton": the dense Hessian; "newton-cg": truncated Newton with Hessian-vector
        products (sparse or wide X); "auto": newton-cg for sparse X or more than
        ``CG_THRESHOLD`` parameters, else newton.
    """

    _parameter_constraints = {
        "C": [Interval(numbers.Real, 0, None, closed="neither")],
        "backend": [StrOptions(set(solvers.BACKENDS))],
        "fit_intercept": ["boolean"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "solver": [StrOptions({"auto", *solvers.SOLVER_NAMES})],
    }

    def __init__(self, C=1.0, *, backend="numpy", fit_intercept=True, tol=1e-8,
                 max_iter=100, solver="auto"):
        self.C = C
        self.backend = backend
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver

    def _solver_for(self, X, n_out: int):
        """The solver this fit uses; densifies a small sparse X for "newton" (returned
        as the second item), or raises naming the sizes."""
        n, d = X.shape
        params = (d + bool(self.fit_intercept)) * n_out
        if self.solver == "auto":
            return ("newton-cg" if sp.issparse(X) or params > CG_THRESHOLD else "newton"), X
        if self.solver == "newton-cg":
            return "newton-cg", X
        if params > NEWTON_MAX_PARAMS:
            raise ValueError(f"solver='newton' forms the dense Hessian of {params} "
                             f"parameters ({params}² float64 = {8 * params**2 / 1e9:.3g} GB) "
                             f"for X of {n} x {d} and {n_out} output(s); the limit is "
                             f"{NEWTON_MAX_PARAMS} parameters: use solver='newton-cg' "
                             f"(or 'auto')")
        if sp.issparse(X):
            if n * d > DENSIFY_MAX:
                raise ValueError(f"solver='newton' would densify the sparse X of {n} x {d} "
                                 f"= {n * d} entries (limit {DENSIFY_MAX}); use "
                                 f"solver='newton-cg' (or 'auto'), which keeps X sparse")
            X = X.toarray()
        return "newton", X

    def fit(self, X, y):
        """Fit on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,) of any
        type scikit-learn classifiers take (ints, strings, ...).  Returns self."""
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64, accept_sparse="csr")
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"LogisticRegression needs samples of at least 2 classes in "
                             f"the data, but the data contains only one class: "
                             f"{self.classes_[0]}")
        n_out = 1 if len(self.classes_) == 2 else len(self.classes_)
        solver, X = self._solver_for(X, n_out)
        coef, intercept, n_iter, converged = solvers.fit(
            self.backend, X, codes, n_out, C=float(self.C),
            fit_intercept=bool(self.fit_intercept), tol=float(self.tol),
            max_iter=int(self.max_iter), solver_name=solver)
        if not converged:
            warnings.warn(f"the {self.backend} {solver} solver did not converge in "
                          f"{n_iter} iterations (max_iter={self.max_iter}, tol={self.tol}); "
                          f"increase max_iter or scale the data", ConvergenceWarning,
                          stacklevel=2)
        self.coef_, self.intercept_ = coef, intercept
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        return self

    def decision_function(self, X):
        """Logits: (n_samples,) for two classes (of ``classes_[1]``), else
        (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False, accept_sparse="csr")
        z = np.asarray(X @ self.coef_.T) + self.intercept_
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in ``classes_`` order."""
        z = self.decision_function(X)
        if z.ndim == 1:
            p = np.exp(-np.logaddexp(0, -z))          # sigmoid without overflow
            return np.column_stack([1 - p, p])
        return softmax(z.copy())

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each row, as one of ``classes_``."""
        z = self.decision_function(X)
        idx = (z > 0).astype(int) if z.ndim == 1 else z.argmax(axis=1)
        return self.classes_[idx]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.input_tags.sparse = True
        return tags
