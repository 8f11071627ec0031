"""BERT's 80/10/10 masking (``mlsandbox.text.mask_tokens``): the proportions on a large
sample, what is never masked, determinism by ``(seed, step)``, and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlsandbox.text import mask_tokens

CLS, SEP, PAD, MASK, V = 101, 102, 0, 103, 1000
SPECIAL = (PAD, CLS, SEP)


def batch(n=4000, T=64, seed=0):
    """Sentences ``[CLS] w.. [SEP] [PAD]..`` of random lengths; words avoid the specials."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(104, V, size=(n, T))
    lengths = rng.integers(3, T + 1, size=n)
    pos = np.arange(T)[None, :]
    mask = (pos < lengths[:, None]).astype(np.int64)
    ids[:, 0] = CLS
    ids[np.arange(n), lengths - 1] = SEP
    ids = np.where(mask == 1, ids, PAD)
    return ids, mask


def run(ids, mask, **kw):
    kw = {"special_ids": SPECIAL, "mask_id": MASK, "vocab_size": V, **kw}
    return mask_tokens(ids, mask, **kw)


def within(count, total, p, sigmas=5.0):
    """``count`` successes of ``total`` trials are within ``sigmas`` of a binomial(p)."""
    sd = math.sqrt(total * p * (1 - p))
    return abs(count - total * p) <= sigmas * sd


def test_proportions_are_15_percent_then_80_10_10():
    ids, mask = batch()
    out, labels = run(ids, mask, seed=3)
    eligible = (mask == 1) & ~np.isin(ids, SPECIAL)
    sel = labels != -100
    assert within(sel.sum(), eligible.sum(), 0.15)
    n_sel = int(sel.sum())
    # a random token is uniform over the vocabulary: it may hit [MASK] or the original
    assert within((out[sel] == MASK).sum(), n_sel, 0.8 + 0.1 / V)
    assert within((out[sel] == ids[sel]).sum(), n_sel, 0.1 + 0.1 / V)
    other = (out[sel] != MASK) & (out[sel] != ids[sel])
    assert within(other.sum(), n_sel, 0.1 * (V - 2) / V)
    assert np.all((out[sel][other] >= 0) & (out[sel][other] < V))
    assert np.array_equal(out[~sel], ids[~sel])             # unselected: untouched


@pytest.mark.parametrize("p", [0.05, 0.5])
def test_other_probabilities(p):
    ids, mask = batch(n=1000)
    _, labels = run(ids, mask, mlm_probability=p, seed=1)
    eligible = (mask == 1) & ~np.isin(ids, SPECIAL)
    assert within((labels != -100).sum(), eligible.sum(), p)


def test_specials_and_padding_are_never_masked():
    ids, mask = batch(n=2000)
    ids[mask == 0] = 7          # padding positions with a non-special id: the mask decides
    out, labels = run(ids, mask, mlm_probability=0.9, seed=0)
    special = np.isin(ids, SPECIAL)
    assert special.sum() > 0 and (mask == 0).sum() > 0
    assert np.all(labels[special] == -100) and np.all(labels[mask == 0] == -100)
    assert np.array_equal(out[special], ids[special])
    assert np.array_equal(out[mask == 0], ids[mask == 0])


def test_labels_are_the_originals_at_the_selected_positions():
    ids, mask = batch(n=500)
    before = ids.copy()
    out, labels = run(ids, mask, seed=5)
    sel = labels != -100
    assert sel.any()
    assert np.array_equal(labels[sel], ids[sel])
    assert np.array_equal(ids, before)                      # the input is not modified
    assert out.dtype == labels.dtype == np.int64 and out.shape == labels.shape == ids.shape


def test_same_seed_and_step_same_masks_others_differ():
    ids, mask = batch(n=200)
    a = run(ids, mask, seed=4, step=2)
    b = run(ids, mask, seed=4, step=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    for other in (run(ids, mask, seed=4, step=3), run(ids, mask, seed=5, step=2)):
        assert not np.array_equal(a[1], other[1])
    # the draws are numpy.random.default_rng([seed, step]) and nothing else
    rng = np.random.default_rng([4, 2])
    eligible = (mask == 1) & ~np.isin(ids, SPECIAL)
    assert np.array_equal(a[1] != -100, eligible & (rng.random(ids.shape) < 0.15))


@pytest.mark.parametrize("p", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan"), True, "0.15", None])
def test_a_probability_outside_0_1_is_refused_by_value(p):
    ids, mask = batch(n=4)
    with pytest.raises(ValueError, match="mlm_probability") as e:
        run(ids, mask, mlm_probability=p)
    assert repr(p) in str(e.value)


def test_bad_shapes_and_ids_are_refused():
    ids, mask = batch(n=4, T=8)
    with pytest.raises(ValueError, match=r"attention_mask has shape \(4, 7\).*\(4, 8\)"):
        run(ids, mask[:, :7])
    with pytest.raises(ValueError, match=r"input_ids must be an \(n, T\) integer array"):
        run(ids[0], mask[0])
    with pytest.raises(ValueError, match="input_ids must be"):
        run(ids.astype(float), mask)
    with pytest.raises(ValueError, match="only 0 and 1"):
        run(ids, mask * 2)
    with pytest.raises(ValueError, match=f"holds id {V}, outside"):
        run(np.where(mask == 1, ids, V), mask)
    with pytest.raises(ValueError, match="mask_id 1000 is outside"):
        run(ids, mask, mask_id=V)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        run(ids, mask, seed=-1)
    with pytest.raises(ValueError, match="step must be an integer >= 0, got 1.5"):
        run(ids, mask, step=1.5)
