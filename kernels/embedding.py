"""Embedding lookup, NumPy reference.

Shapes: ``ids`` (n, T) integer token ids (any leading shape works: (...)), ``table``
(V, d), ``out`` (n, T, d).

Forward, one row per id::

    out[n, t, :] = table[ids[n, t], :]

Backward: ``out`` is linear in ``table`` and each output row is a copy of one table row,
so the gradient of a row is the sum of the gradients of every position that read it::

    dtable[v, :] = Σ_{(n, t) : ids[n, t] = v} dout[n, t, :]      (0 for unused rows)

Repeated ids accumulate (a scatter-*add*, never a scatter that keeps the last write).  It
is computed by sorting the positions by id and summing each run of equal ids with
``np.add.reduceat``: about 10x faster than ``np.add.at`` for a BERT batch (8 x 128 tokens,
30522 x 384 table: 5.6 ms against 62 ms on the 2-core CPU); the sums agree with
``np.add.at``'s to rounding (reduceat may add a run in another order).

``padding_idx`` follows torch's ``nn.Embedding(padding_idx=p)``: the row ``p`` gets no
gradient (``dtable[p] = 0``), so training never moves it; the forward still reads the row as
stored (torch initializes it to zeros, a loaded table may hold anything).  As in torch, a
negative ``padding_idx`` counts from the end of the table.  Keras's
``Embedding(mask_zero=True)`` is not this: it only makes a mask for the layers downstream and
row 0 is trained like any other (``tests/test_kernels_text.py`` measures both).

Ids outside ``[0, V)`` are refused with an error naming the first bad id.  (Flax's
``Embed`` returns a NaN row for an id >= V and wraps a negative id to the end of the table,
without an error; torch raises an IndexError.)
"""

from __future__ import annotations

import numpy as np


def _check_ids(ids: np.ndarray, vocab: int) -> None:
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"embedding: ids must be integer token ids, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        bad = ids[(ids < 0) | (ids >= vocab)].flat[0]
        where = tuple(int(i) for i in np.argwhere(ids == bad)[0])
        raise ValueError(f"embedding: id {bad} at position {where} is outside [0, {vocab}) "
                         f"(the table has {vocab} rows)")


def _padding_row(padding_idx, vocab: int):
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise ValueError(f"embedding: padding_idx must be None or an int, got {padding_idx!r}")
    if not -vocab <= padding_idx < vocab:
        raise ValueError(f"embedding: padding_idx {padding_idx} is outside [-{vocab}, {vocab}) "
                         f"(the table has {vocab} rows)")
    return int(padding_idx) % vocab


def embedding_forward(ids: np.ndarray, table: np.ndarray, *, padding_idx: int | None = None):
    """``out[..., :] = table[ids[...], :]``: ids (n, T) -> out (n, T, d).

    Returns ``(out, cache)``.  Raises ValueError for non-integer ids, a table that is not
    (V, d), an id outside ``[0, V)`` (naming it and its position) or a bad ``padding_idx``.
    """
    ids = np.asarray(ids)
    table = np.asarray(table)
    if table.ndim != 2:
        raise ValueError(f"embedding: table must have shape (V, d), got {table.shape}")
    vocab = table.shape[0]
    _check_ids(ids, vocab)
    pad = _padding_row(padding_idx, vocab)
    return table[ids], (ids, table.shape, pad)


def embedding_backward(dout: np.ndarray, cache):
    """``dtable[v] = Σ_{ids = v} dout`` (V, d), with ``dtable[padding_idx] = 0``.

    ``dout`` has the forward output's shape (n, T, d); returns ``dtable`` in its dtype.
    """
    ids, (vocab, d), pad = cache
    if dout.shape != ids.shape + (d,):
        raise ValueError(f"embedding: dout must have shape {ids.shape + (d,)}, got {dout.shape}")
    dtable = np.zeros((vocab, d), dtype=dout.dtype)
    flat = ids.reshape(-1)
    if flat.size:
        order = np.argsort(flat, kind="stable")       # positions grouped by id, in order
        sorted_ids = flat[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        dtable[sorted_ids[starts]] = np.add.reduceat(dout.reshape(-1, d)[order], starts, axis=0)
    if pad is not None:
        dtable[pad] = 0
    return dtable
