"""The text and BERT kernels against JAX, torch and TensorFlow: values and every gradient
through each framework's own autodiff, float64 and float32, batch 1 and an odd batch;
then the conventions where the frameworks differ from each other and from us, measured.

The framework side of each op is written the way its users write it: Flax's ``Embed``,
``LayerNorm`` and ``dot_product_attention``; torch's ``F.embedding``, ``F.layer_norm`` and
Hugging Face's own eager BERT attention with its own mask builder; Keras's
``GlobalAveragePooling1D`` and ``ops.layer_normalization`` on TensorFlow tensors.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kernels.embedding import embedding_backward, embedding_forward
from kernels.logistic import sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward
from kernels.losses import softmax_cross_entropy_ignore_backward, softmax_cross_entropy_ignore_forward
from kernels.sequence import masked_mean_pool_backward, masked_mean_pool_forward
from kernels.transformer import (
    attention_backward,
    attention_forward,
    gelu_backward,
    gelu_forward,
    layernorm_backward,
    layernorm_forward,
    merge_heads_backward,
    merge_heads_forward,
    split_heads_backward,
    split_heads_forward,
)
from mlsandbox.compare import assert_close, rel_err, tolerance
from mlsandbox.testing.cases import DTYPES
from mlsandbox.testing.frameworks import FRAMEWORKS, vjp
from models.frameworks import load_flax, load_keras, load_torch

MARK = {"jax": pytest.mark.jax, "torch": pytest.mark.torch, "tensorflow": pytest.mark.keras}
IGNORE = -100


# -- each framework's ops: name -> factory(**params) -> fn(*inputs, *consts) -------------------------
def text_ops(framework: str):
    if framework == "jax":
        jax, jnp, _, optax = load_flax()
        import flax.linen as linen

        def embed(padding_idx=None):
            assert padding_idx is None, "Flax's Embed has no padding_idx"
            return lambda table, ids: linen.Embed(*table.shape, param_dtype=table.dtype).apply(
                {"params": {"embedding": table}}, ids)

        def layernorm(eps):
            return lambda x, g, b: linen.LayerNorm(epsilon=eps, param_dtype=x.dtype).apply(
                {"params": {"scale": g, "bias": b}}, x)

        def attention(masked):
            def f(q, k, v, *mask):
                bias = None
                if masked:
                    bias = jnp.where(mask[0] != 0, 0, jnp.finfo(q.dtype).min).astype(q.dtype)
                    bias = bias[:, None, None, :]
                # Flax's weights, then ``p v``; not nnx/jax.nn.dot_product_attention, which
                # takes the softmax in float32 (test_convention_jax_dot_product_attention_*)
                t = lambda a: a.transpose(0, 2, 1, 3)  # noqa: E731 - Flax is (n, T, h, dh)
                p = linen.dot_product_attention_weights(t(q), t(k), bias=bias)  # (n, h, Tq, Tk)
                return jnp.einsum("nhqk,nhkd->nhqd", p, v)
            return f

        def ce_ignore():
            def f(z, y):
                valid = y != IGNORE
                per = optax.softmax_cross_entropy_with_integer_labels(z, jnp.where(valid, y, 0))
                return jnp.sum(jnp.where(valid, per, 0)) / jnp.sum(valid).astype(z.dtype)
            return f

        return {
            "embedding": embed,
            "masked_mean_pool": lambda: lambda x, m: (x * m[..., None]).sum(1) / m.sum(1, keepdims=True),
            "mean_pool": lambda: lambda x: x.mean(axis=1),
            "sigmoid_cross_entropy": lambda: lambda z, y: optax.sigmoid_binary_cross_entropy(z, y).mean(),
            "layernorm": layernorm,
            "gelu": lambda: lambda x: jax.nn.gelu(x, approximate=False),
            "attention": attention,
            "split_heads": lambda h: lambda x: x.reshape(*x.shape[:2], h, -1).transpose(0, 2, 1, 3),
            "merge_heads": lambda: lambda x: x.transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], -1),
            "cross_entropy_ignore": ce_ignore,
        }
    if framework == "torch":
        torch = load_torch()
        F = torch.nn.functional

        def attention(masked):
            from transformers.masking_utils import bidirectional_mask_function, eager_mask
            from transformers.models.bert.modeling_bert import eager_attention_forward
            module = torch.nn.Module().eval()

            def f(q, k, v, *mask):
                bias = None
                if masked:                  # what BertModel builds for its eager attention
                    bias = eager_mask(batch_size=q.shape[0], q_length=q.shape[2],
                                      kv_length=k.shape[2], mask_function=bidirectional_mask_function,
                                      attention_mask=mask[0].bool(), dtype=q.dtype)
                out, _ = eager_attention_forward(module, q, k, v, bias, dropout=0.0)
                return out.transpose(1, 2)  # HF returns (n, T, h, dh)
            return f

        return {
            "embedding": lambda padding_idx=None: lambda table, ids: F.embedding(
                ids, table, padding_idx=padding_idx),
            "masked_mean_pool": lambda: lambda x, m: (x * m[..., None]).sum(1) / m.sum(1, keepdim=True),
            "mean_pool": lambda: lambda x: x.mean(dim=1),
            "sigmoid_cross_entropy": lambda: F.binary_cross_entropy_with_logits,
            "layernorm": lambda eps: lambda x, g, b: F.layer_norm(x, g.shape, g, b, eps=eps),
            "gelu": lambda: F.gelu,
            "attention": attention,
            "split_heads": lambda h: lambda x: x.view(*x.shape[:2], h, -1).transpose(1, 2),
            "merge_heads": lambda: lambda x: x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1),
            "cross_entropy_ignore": lambda: lambda z, y: F.cross_entropy(
                z.reshape(-1, z.shape[-1]), y.reshape(-1).long(), ignore_index=IGNORE),
        }
    if framework == "tensorflow":
        keras, tf = load_keras()

        def embed(padding_idx=None):
            assert padding_idx is None, "TensorFlow's embedding_lookup has no padding_idx"
            return lambda table, ids: tf.nn.embedding_lookup(table, ids)

        def pool(masked):
            def f(x, *mask):
                layer = keras.layers.GlobalAveragePooling1D(dtype=x.dtype.name)
                return layer(x, mask=tf.cast(mask[0], tf.bool)) if masked else layer(x)
            return f

        def attention(masked):
            def f(q, k, v, *mask):
                s = tf.matmul(q, k, transpose_b=True) * tf.constant(q.shape[-1] ** -0.5, q.dtype)
                if masked:
                    keep = tf.not_equal(mask[0], 0)[:, None, None, :]
                    s = s + tf.where(keep, tf.zeros((), q.dtype), q.dtype.min)
                return tf.matmul(tf.nn.softmax(s, axis=-1), v)
            return f

        def ce_ignore():
            def f(z, y):
                valid = tf.not_equal(y, IGNORE)
                per = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=tf.where(valid, y, tf.zeros_like(y)), logits=z)
                return (tf.reduce_sum(tf.where(valid, per, tf.zeros_like(per)))
                        / tf.reduce_sum(tf.cast(valid, z.dtype)))
            return f

        def split(h):
            return lambda x: tf.transpose(tf.reshape(x, (*x.shape[:2], h, -1)), (0, 2, 1, 3))

        return {
            "embedding": embed,
            "masked_mean_pool": lambda: pool(True),
            "mean_pool": lambda: pool(False),
            "sigmoid_cross_entropy": lambda: lambda z, y: tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)),
            "layernorm": lambda eps: lambda x, g, b: keras.ops.layer_normalization(x, g, b, epsilon=eps),
            # not tf.nn.gelu: in float64 it multiplies by 1/√2 rounded to float32 (5e-9 off,
            # test_convention_tf_gelu_float64_uses_a_float32_constant); the same math in TF ops
            "gelu": lambda: lambda x: 0.5 * x * (1 + tf.math.erf(x * tf.constant(0.5 ** 0.5, x.dtype))),
            "attention": attention,
            "split_heads": split,
            "merge_heads": lambda: lambda x: tf.reshape(
                tf.transpose(x, (0, 2, 1, 3)), (x.shape[0], x.shape[2], -1)),
            "cross_entropy_ignore": ce_ignore,
        }
    raise ValueError(f"unknown framework {framework!r}; expected one of {FRAMEWORKS}")


# -- cases: make(dtype, rng, n) -> (params, inputs, consts, want_out, cotangent, want_grads) --------
def _padding_mask(rng, n, T):
    """1 then 0 (right padding, as a tokenizer pads) with random lengths >= 1; the third
    sequence, when there is one, is all padding."""
    lengths = rng.integers(1, T + 1, n)
    m = (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)
    if n >= 3:
        m[2] = 0
    return m


def _embedding(padding_idx=None):
    def make(dtype, rng, n):
        V, T, d = 11, 7, 5
        ids = rng.integers(0, 4, (n, T)).astype(np.int64)   # 4 of 11 rows used: many repeats
        ids[0, -2:] = 0
        table = rng.standard_normal((V, d)).astype(dtype)
        out, cache = embedding_forward(ids, table, padding_idx=padding_idx)
        cot = rng.standard_normal(out.shape).astype(dtype)
        return {"padding_idx": padding_idx}, (table,), (ids,), out, cot, [embedding_backward(cot, cache)]
    return make


def _pool(masked):
    def make(dtype, rng, n):
        x = rng.standard_normal((n, 7, 5)).astype(dtype)
        m = _padding_mask(rng, n, 7)
        m[m.sum(1) == 0, 0] = 1        # frameworks give NaN for an all-padding row: a convention
        out, cache = masked_mean_pool_forward(x, m if masked else None)
        cot = rng.standard_normal(out.shape).astype(dtype)
        consts = (m.astype(dtype),) if masked else ()
        return {}, (x,), consts, out, cot, [masked_mean_pool_backward(cot, cache)]
    return make


def _sigmoid_ce(scale):
    def make(dtype, rng, n):
        z = (scale * rng.standard_normal(2 * n + 1)).astype(dtype)
        y = rng.integers(0, 2, z.shape).astype(dtype)
        out, cache = sigmoid_cross_entropy_forward(z, y)
        cot = np.asarray(1.0, dtype)
        return {}, (z,), (y,), out, cot, [sigmoid_cross_entropy_backward(cot, cache)]
    return make


def _layernorm(eps):
    def make(dtype, rng, n):
        d = 9
        x = (2 * rng.standard_normal((n, 5, d)) + 0.5).astype(dtype)
        g = (1 + 0.3 * rng.standard_normal(d)).astype(dtype)
        b = (0.3 * rng.standard_normal(d)).astype(dtype)
        out, cache = layernorm_forward(x, g, b, eps=eps)
        cot = rng.standard_normal(out.shape).astype(dtype)
        return {"eps": eps}, (x, g, b), (), out, cot, list(layernorm_backward(cot, cache))
    return make


def _gelu(dtype, rng, n):
    x = (3 * rng.standard_normal((n, 5, 7))).astype(dtype)
    out, cache = gelu_forward(x)
    cot = rng.standard_normal(out.shape).astype(dtype)
    return {}, (x,), (), out, cot, [gelu_backward(cot, cache)]


def _attention(masked):
    def make(dtype, rng, n):
        h, T, dh = 3, 7, 5
        q, k, v = (rng.standard_normal((n, h, T, dh)).astype(dtype) for _ in range(3))
        m = _padding_mask(rng, n, T) if masked else None
        out, cache = attention_forward(q, k, v, m)
        cot = rng.standard_normal(out.shape).astype(dtype)
        consts = (m,) if masked else ()
        return {"masked": masked}, (q, k, v), consts, out, cot, list(attention_backward(cot, cache))
    return make


def _split_heads(dtype, rng, n):
    x = rng.standard_normal((n, 7, 3 * 5)).astype(dtype)
    out, cache = split_heads_forward(x, 3)
    cot = rng.standard_normal(out.shape).astype(dtype)
    return {"h": 3}, (x,), (), out, cot, [split_heads_backward(cot, cache)]


def _merge_heads(dtype, rng, n):
    x = rng.standard_normal((n, 3, 7, 5)).astype(dtype)
    out, cache = merge_heads_forward(x)
    cot = rng.standard_normal(out.shape).astype(dtype)
    return {}, (x,), (), out, cot, [merge_heads_backward(cot, cache)]


def _ce_ignore(scale):
    def make(dtype, rng, n):
        T, V = 7, 13
        z = (scale * rng.standard_normal((n, T, V))).astype(dtype)
        y = rng.integers(0, V, (n, T)).astype(np.int64)
        y[rng.random((n, T)) < 0.5] = IGNORE
        y[0, 0] = 3                       # at least one position counts (all-ignored: a convention)
        out, cache = softmax_cross_entropy_ignore_forward(z, y)
        cot = np.asarray(1.0, dtype)
        return {}, (z,), (y,), out, cot, [softmax_cross_entropy_ignore_backward(cot, cache)]
    return make


#: case -> (op, make, frameworks that have the op)
CASES = {
    "embedding": ("embedding", _embedding(), FRAMEWORKS),
    "embedding-padding_idx": ("embedding", _embedding(padding_idx=0), ("torch",)),
    "masked_mean_pool": ("masked_mean_pool", _pool(True), FRAMEWORKS),
    "mean_pool": ("mean_pool", _pool(False), FRAMEWORKS),
    "sigmoid_cross_entropy": ("sigmoid_cross_entropy", _sigmoid_ce(3.0), FRAMEWORKS),
    "sigmoid_cross_entropy-logits1e4": ("sigmoid_cross_entropy", _sigmoid_ce(1e4), FRAMEWORKS),
    "layernorm-eps1e-12": ("layernorm", _layernorm(1e-12), FRAMEWORKS),
    "layernorm-eps1e-5": ("layernorm", _layernorm(1e-5), FRAMEWORKS),
    "gelu": ("gelu", _gelu, FRAMEWORKS),
    "attention-padding_mask": ("attention", _attention(True), FRAMEWORKS),
    "attention-no_mask": ("attention", _attention(False), FRAMEWORKS),
    "split_heads": ("split_heads", _split_heads, FRAMEWORKS),
    "merge_heads": ("merge_heads", _merge_heads, FRAMEWORKS),
    "cross_entropy_ignore": ("cross_entropy_ignore", _ce_ignore(2.0), FRAMEWORKS),
    "cross_entropy_ignore-logits1e4": ("cross_entropy_ignore", _ce_ignore(1e4), FRAMEWORKS),
}


@pytest.mark.parametrize("case, framework, dtype, n", [
    pytest.param(c, f, d, n, id=f"{c}-{f}-{d}-n{n}", marks=MARK[f])
    for c, f, d, n in itertools.product(CASES, FRAMEWORKS, DTYPES, (1, 3)) if f in CASES[c][2]])
def test_kernel(case, framework, dtype, n):
    op, make, _ = CASES[case]
    params, inputs, consts, want_out, cot, want_grads = make(dtype, np.random.default_rng(0), n)
    got_out, got_grads = vjp(framework, text_ops(framework)[op](**params), inputs, cot, consts)
    assert got_out.dtype.name == dtype and got_out.shape == want_out.shape
    assert_close(got_out, want_out, tolerance(dtype, "value"), f"{case} value")
    for i, (g, w) in enumerate(zip(got_grads, want_grads)):
        assert g.dtype.name == dtype, f"{case}: gradient {i} has dtype {g.dtype}"
        assert_close(g, w, tolerance(dtype, "grad"), f"{case} gradient of input {i}")


# -- conventions: where the frameworks differ, measured ---------------------------------------------
@pytest.mark.torch
def test_convention_torch_padding_idx_gives_its_row_no_gradient():
    """``nn.Embedding(padding_idx=0)``: row 0 starts at zero and never gets a gradient; our
    ``padding_idx=0`` gives the same gradient exactly.  Without it row 0 trains like any."""
    torch = load_torch()
    rng = np.random.default_rng(1)
    V, d = 9, 4
    ids = np.array([[3, 1, 4, 0, 0], [5, 0, 2, 6, 0]])          # right-padded with id 0
    table = rng.standard_normal((V, d))
    cot = rng.standard_normal((2, 5, d))
    emb = torch.nn.Embedding(V, d, padding_idx=0, dtype=torch.float64)
    np.testing.assert_array_equal(emb.weight.detach().numpy()[0], 0.0)   # torch's init
    with torch.no_grad():
        emb.weight.copy_(torch.tensor(table))
    emb(torch.tensor(ids)).backward(torch.tensor(cot))
    got = emb.weight.grad.numpy()
    ours = embedding_backward(cot, embedding_forward(ids, table, padding_idx=0)[1])
    np.testing.assert_array_equal(got[0], 0.0)
    assert_close(got, ours, 1e-15, "torch padding_idx gradient")
    unpadded = embedding_backward(cot, embedding_forward(ids, table)[1])
    np.testing.assert_allclose(unpadded[0], cot[ids == 0].sum(axis=0), rtol=0, atol=1e-15)
    assert np.abs(unpadded[0]).max() > 0.5              # what padding_idx takes away (measured 2.1)
    with pytest.raises(IndexError):                     # torch refuses an id >= V, as we do
        emb(torch.tensor([[V]]))


@pytest.mark.keras
def test_convention_keras_mask_zero_still_trains_row_zero():
    """``keras.layers.Embedding(mask_zero=True)`` only emits the mask ``ids != 0`` for the
    layers after it; row 0's gradient is the sum over the padding positions, exactly our
    ``padding_idx=None`` gradient, not torch's zero."""
    keras, tf = load_keras()
    rng = np.random.default_rng(1)
    V, d = 9, 4
    ids = np.array([[3, 1, 4, 0, 0], [5, 0, 2, 6, 0]])
    table = rng.standard_normal((V, d))
    cot = rng.standard_normal((2, 5, d))
    layer = keras.layers.Embedding(V, d, mask_zero=True, dtype="float64")
    layer.build((None, 5))
    layer.embeddings.assign(table)
    with tf.GradientTape() as tape:
        out = layer(tf.constant(ids))
    grad = tape.gradient(out, layer.embeddings, output_gradients=tf.constant(cot))
    got = tf.convert_to_tensor(grad).numpy()                 # an IndexedSlices, made dense
    np.testing.assert_array_equal(layer.compute_mask(tf.constant(ids)).numpy(), ids != 0)
    ours = embedding_backward(cot, embedding_forward(ids, table)[1])
    assert_close(got, ours, 1e-15, "Keras mask_zero gradient")
    assert np.abs(got[0]).max() > 0.5                  # row 0 trains (measured 2.1)


@pytest.mark.jax
def test_convention_flax_embed_out_of_range_is_silent():
    """Flax's ``Embed`` returns NaN for an id >= V and wraps -1 to the last row, without an
    error; we refuse both, naming the id."""
    _, jnp, _, _ = load_flax()
    import flax.linen as linen

    table = np.arange(15.0).reshape(5, 3)
    out = np.asarray(linen.Embed(5, 3, param_dtype=jnp.float64).apply(
        {"params": {"embedding": table}}, jnp.array([[0, 5, -1]])))
    np.testing.assert_array_equal(out[0, 0], table[0])
    assert np.all(np.isnan(out[0, 1]))
    np.testing.assert_array_equal(out[0, 2], table[4])
    with pytest.raises(ValueError, match=r"id 5 at position \(0, 1\) is outside \[0, 5\)"):
        embedding_forward(np.array([[0, 5, -1]]), table)


@pytest.mark.keras
def test_convention_keras_global_average_pooling_averages_padding_unless_masked():
    """``GlobalAveragePooling1D`` means over all T positions, padding included, unless a mask
    reaches it (from ``Embedding(mask_zero=True)`` or ``mask=``): then it is our masked
    mean.  For an all-padding sequence Keras divides 0 by 0 (NaN); we return 0."""
    keras, tf = load_keras()
    rng = np.random.default_rng(2)
    V, d = 12, 6
    ids = np.array([[4, 7, 1, 0, 0, 0, 0], [3, 9, 2, 8, 5, 11, 6], [2, 0, 0, 0, 0, 0, 0]])
    table = rng.standard_normal((V, d))
    x = table[ids]
    mask = (ids != 0).astype(np.int64)
    plain, masked = (keras.Sequential([
        keras.Input((ids.shape[1],), dtype="int64"),
        keras.layers.Embedding(V, d, mask_zero=mz, dtype="float64",
                               embeddings_initializer=keras.initializers.Constant(table)),
        keras.layers.GlobalAveragePooling1D(dtype="float64")]) for mz in (False, True))
    got_plain = plain(ids).numpy()
    got_masked = masked(ids).numpy()
    want_plain = masked_mean_pool_forward(x)[0]
    want_masked = masked_mean_pool_forward(x, mask)[0]
    assert_close(got_plain, want_plain, 1e-15, "GAP1D without a mask")
    assert_close(got_masked, want_masked, 1e-15, "GAP1D with the Embedding's mask")
    assert rel_err(got_plain, got_masked) > 0.3       # padding in the mean moves it (measured 2.0)
    pool = keras.layers.GlobalAveragePooling1D(dtype="float64")
    empty = np.array([[1] * 7, [1] * 7, [0] * 7])       # the third sequence has no token
    nan_row = pool(tf.constant(x), mask=tf.constant(empty.astype(bool))).numpy()
    assert np.all(np.isnan(nan_row[2]))
    ours = masked_mean_pool_forward(x, empty)[0]
    np.testing.assert_array_equal(ours[2], 0.0)


#: BERT's layer-norm epsilon and each framework's default
LAYERNORM_EPS = {"bert": 1e-12, "torch": 1e-5, "keras": 1e-3, "flax": 1e-6}


@pytest.mark.torch
@pytest.mark.keras
@pytest.mark.jax
def test_convention_layernorm_default_eps_differ():
    """The default epsilons differ (torch 1e-5, Keras 1e-3, Flax 1e-6, BERT 1e-12) and the
    gap matters most where BERT's first LayerNorm sits: at initialization its input, the sum
    of three N(0, 0.02²) embeddings, has variance 1.2e-3, comparable to Keras's epsilon.
    Each framework's own default layer against our kernel at eps 1e-12, measured
    ``rel_err`` (and ≈ ``max|x̂|·(1 - √(σ²/(σ²+ε)))``)::

        input                     torch 1e-5   Keras 1e-3   Flax 1e-6
        BERT-init embeddings      4.1e-3       0.26         4.1e-4
        unit variance             4.9e-6       4.9e-4       4.9e-7

    On BERT-init input every default misses the float32 tolerance (1e-5); on unit-variance
    input Keras's does, and all three miss float64's (1e-10).
    """
    torch = load_torch()
    keras, tf = load_keras()
    _, jnp, nnx, _ = load_flax()
    import transformers

    cfg = transformers.BertConfig()
    assert cfg.layer_norm_eps == LAYERNORM_EPS["bert"]
    d = cfg.hidden_size
    t_ln = torch.nn.LayerNorm(d, dtype=torch.float64)
    k_ln = keras.layers.LayerNormalization(dtype="float64")
    f_ln = nnx.LayerNorm(d, param_dtype=jnp.float64, rngs=nnx.Rngs(0))
    defaults = (t_ln.eps, k_ln.epsilon, f_ln.epsilon)
    assert defaults == tuple(LAYERNORM_EPS[f] for f in ("torch", "keras", "flax"))
    rng = np.random.default_rng(3)
    r = cfg.initializer_range
    inputs = {"bert_init": sum(r * rng.standard_normal((2, 16, d)) for _ in range(3)),  # word+pos+type
              "unit": rng.standard_normal((2, 16, d))}
    gaps = {}
    ones, zeros = np.ones(d), np.zeros(d)          # BERT's LayerNorm init (and every default's)
    for name, x in inputs.items():
        want = layernorm_forward(x, ones, zeros, eps=1e-12)[0]
        got = {"torch": t_ln(torch.tensor(x)).detach().numpy(),
               "keras": k_ln(tf.constant(x)).numpy(),
               "flax": np.asarray(f_ln(jnp.asarray(x)))}
        for fw, y in got.items():                   # the gap is the epsilon and nothing else
            same_eps = layernorm_forward(x, ones, zeros, eps=LAYERNORM_EPS[fw])[0]
            assert_close(y, same_eps, 1e-10, f"{fw} {name}")
            gaps[name, fw] = rel_err(y, want)
    assert 3e-3 < gaps["bert_init", "torch"] < 6e-3
    assert 0.2 < gaps["bert_init", "keras"] < 0.3
    assert 3e-4 < gaps["bert_init", "flax"] < 6e-4
    assert 3e-6 < gaps["unit", "torch"] < 8e-6
    assert 3e-4 < gaps["unit", "keras"] < 8e-4
    assert 3e-7 < gaps["unit", "flax"] < 8e-7


@pytest.mark.torch
@pytest.mark.keras
@pytest.mark.jax
def test_convention_gelu_defaults():
    """Exact GELU (ours, BERT's ``"gelu"``) against each framework's, on x in [-8, 8]
    (step 1e-4, float64), measured::

        tanh form, max gap 4.73e-4 at x = ±2.70:  jax.nn.gelu, nnx.gelu, keras.ops.gelu
                                                  (defaults), torch approximate="tanh"
        exact, within 1e-15:                      torch F.gelu, jax.nn.gelu(approximate=False)
        exact erf but 5.0e-9 off in float64:      tf.nn.gelu, keras.activations.gelu (TF)
    """
    torch = load_torch()
    keras, tf = load_keras()
    jax, jnp, nnx, _ = load_flax()
    x = np.linspace(-8.0, 8.0, 160001)
    ours = gelu_forward(x)[0]
    tanh_form = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    gap = np.abs(tanh_form - ours)
    assert 4.72e-4 < gap.max() < 4.74e-4 and abs(abs(x[gap.argmax()]) - 2.70) < 0.01
    tanh_defaults = {"jax.nn.gelu": np.asarray(jax.nn.gelu(jnp.asarray(x))),
                     "nnx.gelu": np.asarray(nnx.gelu(jnp.asarray(x))),
                     "torch tanh": torch.nn.functional.gelu(torch.tensor(x), approximate="tanh").numpy()}
    for name, y in tanh_defaults.items():
        assert rel_err(y, tanh_form) < 1e-15, name
    # Keras's tanh form on TF: the 0.044715 goes through float32 (9e-10 off the formula)
    assert rel_err(keras.ops.gelu(tf.constant(x)).numpy(), tanh_form) < 2e-9
    exact = {"torch F.gelu": torch.nn.functional.gelu(torch.tensor(x)).numpy(),
             "jax approximate=False": np.asarray(jax.nn.gelu(jnp.asarray(x), approximate=False))}
    for name, y in exact.items():
        assert rel_err(y, ours) < 1e-15, name
    assert rel_err(keras.activations.gelu(tf.constant(x)).numpy(), ours) < 1e-8   # exact by default


@pytest.mark.keras
def test_convention_tf_gelu_float64_uses_a_float32_constant():
    """``tf.nn.gelu`` (and Keras's exact gelu on TF) computes ``½ x erfc(-x · c)`` with
    ``c = tf.cast(0.7071067811865476, dtype)``: the Python float becomes a float32 constant
    first, so in float64 ``c`` is 1/√2 rounded to float32 (0.70710676908...).  The values are
    5.0e-9 off the exact GELU (at x ≈ ±√2) and the gradients 5.7e-9: above the float64
    tolerance, so the parity table writes TF's exact GELU with ``tf.math.erf``.  NumPy with the
    same rounded constant reproduces TF to 1e-15."""
    _, tf = load_keras()
    from scipy.special import erfc

    x = np.linspace(-8.0, 8.0, 160001)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.nn.gelu(xv)
    dy = tape.gradient(y, xv).numpy()
    y = y.numpy()
    ours, cache = gelu_forward(x)
    c32 = float(np.float32(0.5 ** 0.5))
    assert rel_err(y, 0.5 * x * erfc(-x * c32)) < 1e-15
    assert 4.9e-9 < np.abs(y - ours).max() < 5.1e-9
    assert abs(abs(x[np.abs(y - ours).argmax()]) - np.sqrt(2)) < 0.01
    assert 5e-9 < np.abs(dy - gelu_backward(np.ones_like(x), cache)).max() < 6.5e-9
    assert rel_err(tf.nn.gelu(tf.constant(x.astype(np.float32))).numpy(),
                   gelu_forward(x.astype(np.float32))[0]) < 1e-6    # float32 is unaffected


@pytest.mark.jax
def test_convention_jax_dot_product_attention_softmax_in_float32():
    """``jax.nn.dot_product_attention`` (what ``nnx.dot_product_attention`` calls when dropout
    is off) always takes its softmax in float32, even for float64 inputs: the output is
    ~1e-7 off (float32 rounding), and Hugging Face's float64 padding bias, ``finfo(float64).min``,
    becomes -inf in float32, so a fully padded sequence gives NaN instead of the uniform
    average.  Its boolean ``mask=`` keeps that row finite but not the float64 accuracy.
    (float32 inputs are fine.)  The parity table uses Flax's ``dot_product_attention_weights``."""
    jax, jnp, _, _ = load_flax()
    from kernels.transformer import attention_mask_bias

    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((2, 3, 7, 5)) for _ in range(3))
    m = np.ones((2, 7), np.int64)
    m[0, 4:] = 0
    m[1] = 0                                          # a fully padded sequence
    ours = attention_forward(q, k, v, m)[0]
    t = lambda a: jnp.asarray(a).transpose(0, 2, 1, 3)  # noqa: E731 - (n, T, h, dh)
    with_bias = np.asarray(t(jax.nn.dot_product_attention(
        t(q), t(k), t(v), bias=jnp.asarray(attention_mask_bias(m, np.float64)))))
    assert 1e-8 < rel_err(with_bias[0], ours[0]) < 1e-6
    assert np.all(np.isnan(with_bias[1]))
    with_mask = np.asarray(t(jax.nn.dot_product_attention(
        t(q), t(k), t(v), mask=jnp.asarray(m[:, None, None, :] != 0))))
    assert 1e-8 < rel_err(with_mask, ours) < 1e-6
    f32 = [a.astype(np.float32) for a in (q, k, v)]
    got32 = np.asarray(t(jax.nn.dot_product_attention(
        *map(t, f32), bias=jnp.asarray(attention_mask_bias(m, np.float32)))))
    assert_close(got32, attention_forward(*f32, m)[0], tolerance("float32"), "float32")


@pytest.mark.torch
def test_convention_hugging_face_fully_padded_sequence_is_uniform():
    """Hugging Face's eager BERT attention on a sequence with no real token: every score gets
    ``finfo.min``, the softmax is uniform, the output is the mean of v (not NaN); ours too."""
    torch = load_torch()
    from transformers.masking_utils import bidirectional_mask_function, eager_mask
    from transformers.models.bert.modeling_bert import eager_attention_forward

    rng = np.random.default_rng(5)
    for dtype, tdtype in (("float64", torch.float64), ("float32", torch.float32)):
        q, k, v = (rng.standard_normal((1, 2, 5, 3)).astype(dtype) for _ in range(3))
        m = np.zeros((1, 5), np.int64)
        bias = eager_mask(batch_size=1, q_length=5, kv_length=5, mask_function=bidirectional_mask_function,
                          attention_mask=torch.tensor(m).bool(), dtype=tdtype)
        np.testing.assert_array_equal(bias.numpy(), np.finfo(dtype).min)
        out, weights = eager_attention_forward(torch.nn.Module().eval(), *map(torch.tensor, (q, k, v)),
                                               bias, dropout=0.0)
        np.testing.assert_array_equal(weights.numpy(), np.full((1, 2, 5, 5), 0.2, dtype))
        ours, cache = attention_forward(q, k, v, m)
        np.testing.assert_array_equal(cache[0], weights.numpy())
        assert_close(out.transpose(1, 2).numpy(), ours, tolerance(dtype), f"{dtype} output")
        assert_close(ours, np.broadcast_to(v.mean(axis=2, keepdims=True), ours.shape),
                     tolerance(dtype), "mean of v")


@pytest.mark.torch
@pytest.mark.jax
def test_convention_cross_entropy_all_ignored():
    """Every label -100: torch's ``F.cross_entropy(ignore_index=-100)`` (and so
    ``BertForMaskedLM``) returns a NaN loss (0/0) with a zero gradient; the optax
    ``where``-masked mean gives NaN too.  Ours returns 0 and the same zero gradient."""
    torch = load_torch()
    jax, jnp, _, optax = load_flax()
    rng = np.random.default_rng(6)
    z = rng.standard_normal((2, 3, 5))
    y = np.full((2, 3), IGNORE)
    zt = torch.tensor(z, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(zt.reshape(-1, 5), torch.tensor(y).reshape(-1),
                                             ignore_index=IGNORE)
    loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(zt.grad.numpy(), 0.0)
    valid = jnp.asarray(y != IGNORE)
    per = optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(z), jnp.where(valid, jnp.asarray(y), 0))
    assert np.isnan(float(jnp.sum(jnp.where(valid, per, 0)) / jnp.sum(valid)))
    ours, cache = softmax_cross_entropy_ignore_forward(z, y)
    assert float(ours) == 0.0
    np.testing.assert_array_equal(softmax_cross_entropy_ignore_backward(1.0, cache), zt.grad.numpy())
