"""TF-IDF weighting of a CSR count matrix in JAX: the formulas of :mod:`.tfidf_numpy`.

The CSR arrays go in as they are: ``data`` and ``indices`` (nnz,), and the row of every
entry (``np.repeat`` of the row lengths); the per-row norms are a ``jax.ops.segment_sum``
over those rows and the document frequencies one over the column indices, all in float64
(x64 is switched on by :func:`models.frameworks.load_jax`).  To compile once for many
matrices, the entries are padded to the next power of two (padding entries sit in an
extra row that is dropped) and the row count likewise.

>>> import numpy as np, scipy.sparse as sp
>>> from mlsandbox.text import tfidf_jax
>>> X = sp.csr_matrix(np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))
>>> idf = tfidf_jax.idf(X.indices, 3, n_docs=2, smooth_idf=True)
>>> tfidf_jax.weight(X.data, X.indices, X.indptr, idf, False, "l2").round(4)
array([0.9422, 0.3352, 0.8148, 0.5797])
"""

from __future__ import annotations

import functools

import numpy as np

from models.frameworks import load_jax

jax, jnp = load_jax()


def _bucket(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


@functools.partial(jax.jit, static_argnames=("n_features",))
def _idf(indices, valid, n_features, n_docs, smooth):
    df = jax.ops.segment_sum(valid, indices, num_segments=n_features) + smooth
    return jnp.log((n_docs + smooth) / df) + 1.0


@functools.partial(jax.jit, static_argnames=("n_rows", "sublinear_tf", "use_idf", "norm"))
def _weight(data, indices, rows, idf, n_rows, sublinear_tf, use_idf, norm):
    x = jnp.log(data) + 1.0 if sublinear_tf else data
    if use_idf:
        x = x * idf[indices]
    if norm is not None:
        part = x * x if norm == "l2" else jnp.abs(x)
        per_row = jax.ops.segment_sum(part, rows, num_segments=n_rows + 1)
        if norm == "l2":
            per_row = jnp.sqrt(per_row)
        x = x / jnp.where(per_row == 0, 1.0, per_row)[rows]
    return x


def idf(indices: np.ndarray, n_features: int, n_docs: int, smooth_idf: bool) -> np.ndarray:
    """``idf_`` (n_features,) float64 from the column indices of the count matrix."""
    nnz = len(indices)
    size = _bucket(nnz)
    idx = np.zeros(size, np.int32 if n_features < 2**31 else np.int64)
    idx[:nnz] = indices
    valid = np.zeros(size)
    valid[:nnz] = 1.0
    out = _idf(idx, valid, int(n_features), float(n_docs), float(smooth_idf))
    return np.array(out)


def weight(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, idf: np.ndarray | None,
           sublinear_tf: bool, norm: str | None) -> np.ndarray:
    """The weighted ``data`` (float64 NumPy array) of a CSR matrix with these arrays."""
    nnz, n_rows = len(data), len(indptr) - 1
    size, rows_b = _bucket(nnz), _bucket(n_rows)
    x = np.ones(size)                       # padding: 1 (ln 1 = 0), column 0, row rows_b
    x[:nnz] = data
    idx = np.zeros(size, indices.dtype)
    idx[:nnz] = indices
    rows = np.full(size, rows_b, np.int32 if rows_b < 2**31 else np.int64)
    rows[:nnz] = np.repeat(np.arange(n_rows), np.diff(indptr))
    idf_arg = np.zeros(1) if idf is None else idf
    out = _weight(x, idx, rows, idf_arg, rows_b, bool(sublinear_tf), idf is not None, norm)
    return np.asarray(out)[:nnz].copy()   # writable, like a NumPy result
