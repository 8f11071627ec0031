"""TF-IDF weighting of a CSR count matrix in NumPy (the reference; scikit-learn's formulas).

With ``n`` documents, ``df_j`` the number of documents holding term ``j`` and ``s = 1``
when ``smooth_idf`` (else 0)::

    idf_j = ln((n + s) / (df_j + s)) + 1
    tf_ij = 1 + ln(c_ij)   if sublinear_tf, else c_ij          (c_ij > 0: stored entries)
    w_ij  = tf_ij * idf_j  (or tf_ij without use_idf)
    x_ij  = w_ij / ||w_i||  with ||.|| the l2 (sqrt Σ_j w_ij²) or l1 (Σ_j |w_ij|) norm of
            row i; a row of zeros stays zero

Everything runs on the CSR arrays (``data``, ``indices``, ``indptr``) without densifying.

>>> import numpy as np, scipy.sparse as sp
>>> from mlsandbox.text import tfidf_numpy
>>> X = sp.csr_matrix(np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))
>>> idf = tfidf_numpy.idf(X.indices, 3, n_docs=2, smooth_idf=True)
>>> idf.round(4)
array([1.4055, 1.4055, 1.    ])
>>> tfidf_numpy.weight(X.data, X.indices, X.indptr, idf, False, "l2").round(4)
array([0.9422, 0.3352, 0.8148, 0.5797])
"""

from __future__ import annotations

import numpy as np


def idf(indices: np.ndarray, n_features: int, n_docs: int, smooth_idf: bool) -> np.ndarray:
    """``idf_`` (n_features,) float64 from the column indices of the count matrix."""
    df = np.bincount(indices, minlength=n_features).astype(np.float64)
    df += float(smooth_idf)
    out = np.full(n_features, float(n_docs + int(smooth_idf)))
    out /= df
    np.log(out, out=out)
    out += 1.0
    return out


def weight(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, idf: np.ndarray | None,
           sublinear_tf: bool, norm: str | None) -> np.ndarray:
    """The weighted ``data`` (a new float64 array) of a CSR matrix with these arrays."""
    x = np.array(data, dtype=np.float64)
    if sublinear_tf:
        np.log(x, out=x)
        x += 1.0
    if idf is not None:
        x *= idf[indices]
    if norm is not None:
        rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        per_row = np.bincount(rows, weights=x * x if norm == "l2" else np.abs(x),
                              minlength=len(indptr) - 1)
        if norm == "l2":
            np.sqrt(per_row, out=per_row)
        per_row[per_row == 0] = 1.0
        x /= per_row[rows]
    return x
