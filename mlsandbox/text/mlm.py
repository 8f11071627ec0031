"""Masked-language-model inputs: BERT's 80/10/10 masking rule, reproducible by seed.

The rule of Devlin et al. (2019), as Hugging Face's ``DataCollatorForLanguageModeling``
applies it (``mlm_probability``, ``mask_replace_prob=0.8``, ``random_replace_prob=0.1``):

1. every real token (attention mask 1) that is not a special token (``[CLS]``, ``[SEP]``,
   padding, ... as listed in ``special_ids``) is *selected* independently with probability
   ``mlm_probability``; its label is its original id, every other label is -100;
2. a selected token becomes ``mask_id`` with probability 0.8;
3. a selected token not replaced by ``[MASK]`` becomes a random id, uniform over
   ``[0, vocab_size)`` (special ids included, as Hugging Face draws from the whole
   tokenizer), with probability 0.1 / 0.2 = 0.5: 10 % of the selected overall;
4. the other 10 % keep their id (and are still predicted).

The draws come from ``numpy.random.default_rng([seed, step])`` (the project's seeding rule,
:mod:`models._network`), one full ``(n, T)`` array per stage in the order above, so the
masks depend only on ``(seed, step)`` and the shape: every backend trained on them sees
the same bytes, and a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from models import IGNORE_INDEX  # the label of positions that are not predicted (-100)

#: of the selected tokens: the fraction replaced by [MASK], and by a random token
MASK_FRACTION, RANDOM_FRACTION = 0.8, 0.1


def _int(name, v, low=0):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def mask_tokens(input_ids, attention_mask, *, special_ids: Sequence[int], mask_id: int,
                vocab_size: int, mlm_probability: float = 0.15, seed: int = 0,
                step: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(masked_input_ids, labels)``, int64 ``(n, T)`` each, by the 80/10/10 rule (module
    docstring) from ``numpy.random.default_rng([seed, step])``.

    ``input_ids`` and ``attention_mask`` are ``(n, T)`` integer arrays (the mask 0/1);
    positions with mask 0 and ids in ``special_ids`` are never selected.  ``labels`` hold
    the original id at the selected positions and -100 elsewhere; ``input_ids`` is not
    modified.
    """
    ids = np.asarray(input_ids)
    mask = np.asarray(attention_mask)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"input_ids must be an (n, T) integer array, got {ids.dtype} "
                         f"of shape {ids.shape}")
    if mask.shape != ids.shape:
        raise ValueError(f"attention_mask has shape {mask.shape}, input_ids {ids.shape}: "
                         f"they must be equal")
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError(f"attention_mask must hold only 0 and 1, got values "
                         f"{np.unique(mask)[:5].tolist()}")
    vocab_size = _int("vocab_size", vocab_size, 1)
    mask_id = _int("mask_id", mask_id)
    if mask_id >= vocab_size:
        raise ValueError(f"mask_id {mask_id} is outside the vocabulary [0, {vocab_size})")
    special = np.asarray(list(special_ids), dtype=np.int64)
    if special.ndim != 1:
        raise ValueError(f"special_ids must be a sequence of ids, got {special_ids!r}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        bad = int(ids.min() if ids.min() < 0 else ids.max())
        raise ValueError(f"input_ids holds id {bad}, outside the vocabulary [0, {vocab_size})")
    p = mlm_probability
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer,
                                                             np.floating)) \
            or not 0.0 < p < 1.0:
        raise ValueError(f"mlm_probability must be a number in (0, 1), got {p!r}")
    seed, step = _int("seed", seed), _int("step", step)

    rng = np.random.default_rng([seed, step])
    shape = ids.shape
    eligible = (mask == 1) & ~np.isin(ids, special)
    selected = eligible & (rng.random(shape) < p)
    labels = np.where(selected, ids, IGNORE_INDEX).astype(np.int64)
    to_mask = selected & (rng.random(shape) < MASK_FRACTION)
    to_random = selected & ~to_mask & (rng.random(shape) < RANDOM_FRACTION / (1 - MASK_FRACTION))
    random_ids = rng.integers(0, vocab_size, size=shape)
    out = np.array(ids, dtype=np.int64)
    out[to_mask] = mask_id
    out[to_random] = random_ids[to_random]
    return out, labels
