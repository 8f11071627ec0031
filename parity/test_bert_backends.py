"""Every BERT backend but the NumPy reference against Hugging Face transformers (eager
attention), parametrized over ``models.available("bert_cls")`` so that a new port is
covered as it lands:

* the pretrained all-MiniLM-L6-v2 on real sentence pairs (padding, both token types):
  ``last_hidden_state`` and ``pooler_output`` equal ``BertModel``'s (float32 1e-5,
  float64 1e-10; 3 short pairs, so float64 stays cheap);
* small random ``BertConfig``s, ``BertForMaskedLM`` and ``BertForSequenceClassification``:
  logits, the loss (MLM labels with -100) and every parameter's gradient (the tied word
  embeddings' the sum of the lookup's and the decoder's, the padding row without the
  lookup's part), both dtypes, with the padding id attended once and a sequence of
  padding only in the batch;
* train mode with dropout masks injected into every layer equals the NumPy reference.

The helpers (MiniLM and its tokenized batch, Hugging Face's model holding our params and
its gradients, the odd batch) are parity/test_bert.py's.
"""

from __future__ import annotations

import functools

import pytest

import models
from mlsandbox.compare import assert_close, tolerance
from mlsandbox.testing.cases import DTYPES
from mlsandbox.testing.params import random_params
from parity.test_bert import (
    HF_CLASSES,
    config_of,
    hf_encode,
    hf_model,
    hf_run,
    minilm,
    odd_batch,
)

BACKENDS = [pytest.param(b, marks=[getattr(pytest.mark, b), pytest.mark.torch])
            for b in models.available("bert_cls") if b != "numpy"]


@functools.lru_cache(maxsize=None)
def _pretrained(backend, dtype):
    path, _ = minilm()
    return models.from_pretrained("bert_cls", path, backend=backend, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_minilm_encoder_equals_bertmodel(backend, dtype):
    _, batch = minilm()
    want = hf_encode("eager", dtype, batch)
    pre = _pretrained(backend, dtype)
    got = pre.net.encode(pre.params, batch)
    assert list(got) == ["last_hidden_state", "pooler_output"]
    for k in want:
        assert got[k].dtype.name == dtype
        assert_close(got[k], want[k], tolerance(dtype), f"MiniLM {k} ({backend}, {dtype})")


@functools.lru_cache(maxsize=None)
def _hf_case(name, dtype):
    """A random config, params, the odd batch and HF's ``(logits, loss, grads)``."""
    config = config_of(name)
    spec = models.spec(name, **config)
    params = random_params(spec, seed=2, dtype=dtype)
    batch = odd_batch(spec, seed=4)
    return config, params, batch, hf_run(hf_model(name, params, **config), batch)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(HF_CLASSES))
def test_random_config_equals_hugging_face(name, backend, dtype):
    config, params, batch, (logits, loss, grads) = _hf_case(name, dtype)
    net = models.get(name, backend, **config)
    got = net.forward(params, batch)
    assert got.dtype.name == dtype
    what = f"{name}/{backend}/{dtype}"
    assert_close(got, logits, tolerance(dtype), f"{what} logits vs HF")
    got_loss, got_grads = net.loss_and_grads(params, batch)
    assert_close(got_loss, loss, tolerance(dtype), f"{what} loss vs HF")
    assert list(got_grads) == list(grads) == list(net.spec.trainable())
    assert_close(got_grads, grads, tolerance(dtype, "grad"), f"{what} gradients vs HF")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(HF_CLASSES))
def test_train_mode_with_injected_masks_equals_reference(name, backend, dtype):
    """Dropout on (rates 0.1), the spec's masks injected into every dropout layer (the
    attention probabilities' (n, heads, T, T) included): logits, loss and gradients equal
    the NumPy reference's in train mode (Hugging Face's masks cannot be injected)."""
    config = config_of(name, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    spec = models.spec(name, **config)
    params = random_params(spec, seed=3, dtype=dtype)
    batch = odd_batch(spec, seed=5)
    batch["masks"] = spec.masks(batch["y"].shape[0], seed=6, dtype=dtype,
                                length=batch["input_ids"].shape[1])
    assert set(batch["masks"]) == set(spec.dropout())
    ref, net = models.get(name, "numpy", **config), models.get(name, backend, **config)
    what = f"{name}/{backend}/{dtype} train mode"
    assert_close(net.forward(params, batch, train=True), ref.forward(params, batch, train=True),
                 tolerance(dtype), f"{what} logits")
    want_loss, want = ref.loss_and_grads(params, batch, train=True)
    got_loss, got = net.loss_and_grads(params, batch, train=True)
    assert_close(got_loss, want_loss, tolerance(dtype), f"{what} loss")
    assert_close(got, want, tolerance(dtype, "grad"), f"{what} gradients")


@pytest.mark.jax
def test_convention_flax_layernorm_fast_variance():
    """``nnx.LayerNorm`` defaults to the one-pass variance E[x²] - E[x]², which cancels
    when the mean is large against the spread (here 3.0 against 0.05): 4.9e-4 off the
    reference in float32 (beyond the 1e-5 tolerance), 8.6e-13 in float64 (within 1e-10,
    but 100x the two-pass error); the two-pass form the JAX BERT uses
    (``use_fast_variance=False``) is 2.2e-6 and 5.9e-15."""
    import numpy as np

    from kernels.transformer import layernorm_forward
    from models.frameworks import load_flax

    _, jnp, nnx, _ = load_flax()
    x64 = np.random.default_rng(0).normal(3.0, 0.05, size=(8, 128, 384))
    want = layernorm_forward(x64, np.ones(384), np.zeros(384), eps=1e-12)[0]
    err = {}
    for dtype in DTYPES:
        for fast in (True, False):
            ln = nnx.LayerNorm(384, epsilon=1e-12, use_fast_variance=fast, dtype=dtype,
                               param_dtype=dtype, rngs=nnx.Rngs(0))
            got = np.asarray(ln(jnp.asarray(x64.astype(dtype))), dtype=np.float64)
            err[dtype, fast] = float(np.max(np.abs(got - want)) / max(1.0, np.max(np.abs(want))))
    for dtype in DTYPES:
        assert err[dtype, False] <= tolerance(dtype), err
        assert err[dtype, True] > 10 * err[dtype, False], err     # measurably worse
    assert err["float32", True] > tolerance("float32"), err        # and past parity
