"""The Keras port of BERT, on the points that are Keras's own (the generic suites compare
its forward, loss, gradients and training with the reference; ``parity/test_bert_backends``
with Hugging Face):

* its GELU is the exact erf form, not the tanh one;
* a Functional ``keras.Model`` wired from the port's own layers computes the network's
  forward;
* the masked-LM decoder is the word-embedding variable itself: one variable, whose
  gradient is the sum of the decoder's and the lookup's, the lookup's without row
  ``pad_token_id``;
* the conventions: Keras's exact GELU in float64, ``keras.layers.MultiHeadAttention``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

import models
from kernels.transformer import attention_forward, gelu_forward
from mlsandbox.compare import assert_close, rel_err, tolerance
from mlsandbox.testing.cases import DTYPES
from models.frameworks import load_keras

pytestmark = pytest.mark.keras

NAMES = ("bert_mlm", "bert_cls")
WORD = "bert.embeddings.word_embeddings.weight"


def net_of(name, **extra):
    return models.get(name, "keras", **{**type(models.spec(name)).parity["config"], **extra})


def case(name, dtype, seed=0, n=5):
    """A network, N(0, 0.5) params and a batch whose first sequence attends to a padding id."""
    net = net_of(name)
    spec = net.spec
    rng = np.random.default_rng(seed)
    params = {k: (0.5 * rng.standard_normal(s)).astype(dtype)
              for k, s in spec.param_shapes().items() if k not in spec.tied()}
    params = spec.tie(params)
    batch = spec.example(n=n, seed=seed + 1, dtype=dtype)
    batch["input_ids"][0, 1] = spec.pad_token_id       # a real token that is the padding id
    batch["attention_mask"][0, 1] = 1
    return net, {k: params[k] for k in spec.param_shapes()}, batch


def tanh_gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_is_the_erf_form(dtype):
    """The intermediate layer of the built model is dense then the exact GELU (the
    reference's kernel); the tanh form is 4.7e-4 away from it on the same inputs."""
    net, params, _ = case("bert_cls", dtype)
    model = net.to_native(params)
    layer = model.bert.encoder.layer[0].intermediate
    p = net.spec.layer_prefix(0) + "intermediate.dense."
    x = np.linspace(-4, 4, 3 * 4 * 12).reshape(3, 4, 12).astype(dtype)
    z = x @ params[p + "weight"].T + params[p + "bias"]
    got = np.asarray(layer(x))
    assert got.dtype.name == dtype
    assert_close(got, gelu_forward(z)[0], tolerance(dtype), "Keras intermediate vs erf GELU")
    assert rel_err(got, tanh_gelu(z)) > 1e-5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_functional_model_of_our_layers_equals_the_network(name, dtype):
    """The port's layers wired with the Functional API (keras.Input, shared layers) give
    the network's logits, and the Functional model holds the same variables."""
    keras, _ = load_keras()
    net, params, batch = case(name, dtype)
    model = net.to_native(params)
    inputs = [keras.Input((None,), dtype="int64", name=k) for k in net.spec.inputs()]
    h = model.bert(*inputs)
    if name == "bert_mlm":
        out = model.cls(h["last_hidden_state"])
    else:
        out = model.classifier(model.dropout(h["pooler_output"]))
    functional = keras.Model(inputs, out)
    assert {id(v) for v in functional.weights} == {id(v) for v in model.weights}
    got = np.asarray(functional([batch[k] for k in net.spec.inputs()]))
    assert got.dtype.name == dtype
    assert_close(got, net.forward(params, batch), tolerance(dtype), f"{name} Functional")


@pytest.mark.parametrize("dtype", DTYPES)
def test_tied_decoder_is_the_word_embedding_variable_and_its_gradient_the_sum(dtype):
    """One variable under both names; its gradient (the reference's within tolerance) is
    the decoder's part, taken on the model by the tape with the encoder's output held
    fixed, plus the lookup's, which gives row pad_token_id nothing although the batch
    attends to that id."""
    _, tf = load_keras()
    net, params, batch = case("bert_mlm", dtype)
    spec, pad = net.spec, net.spec.pad_token_id
    model = net.to_native(params)
    variables = net.variables(model)
    for copy, source in spec.tied().items():
        assert variables[copy] is variables[source]
    assert len(model.trainable_weights) == len(spec.trainable())

    _, grads = net.loss_and_grads(params, batch)
    _, want = models.get("bert_mlm", "numpy", **spec.config()).loss_and_grads(params, batch)
    assert_close(grads, want, tolerance(dtype, "grad"), "Keras bert_mlm gradients")

    inputs = [tf.constant(batch[k]) for k in spec.inputs()]
    h = tf.stop_gradient(model.bert(*inputs)["last_hidden_state"])
    with tf.GradientTape() as tape:
        loss = net.objective(model, model.cls(h), tf.constant(batch["y"]))
    decoder = tf.convert_to_tensor(tape.gradient(loss, variables[WORD])).numpy()
    lookup = grads[WORD] - decoder
    scale = max(1.0, np.abs(grads[WORD]).max())
    assert np.abs(decoder).max() > 1e-2 * scale and np.abs(lookup).max() > 1e-2 * scale
    assert np.abs(lookup[pad]).max() <= tolerance(dtype, "grad") * scale
    assert np.abs(decoder[pad]).max() > 1e-3 * scale          # the decoder's part stays


def test_padding_row_gets_no_lookup_gradient_without_a_tie():
    """bert_cls (no decoder): row pad_token_id of the word embeddings gets exactly 0 while
    the padding id is attended; with pad_token_id=None it gets the reference's gradient."""
    net, params, batch = case("bert_cls", "float64")
    pad = net.spec.pad_token_id
    _, grads = net.loss_and_grads(params, batch)
    assert np.all(grads[WORD][pad] == 0)
    plain = net_of("bert_cls", pad_token_id=None)
    _, g = plain.loss_and_grads(params, batch)
    _, want = models.get("bert_cls", "numpy", **plain.spec.config()).loss_and_grads(params,
                                                                                   batch)
    assert np.abs(g[WORD][pad]).max() > 1e-3
    assert_close(g[WORD], want[WORD], tolerance("float64", "grad"), "pad_token_id=None")


def test_convention_keras_exact_gelu_float64():
    """``keras.ops.gelu(approximate=False)`` and ``keras.activations.gelu`` (TensorFlow's
    ``tf.nn.gelu``) multiply by 1/√2 rounded to float32: 5.0e-9 off the exact GELU in
    float64, 50 times float64's tolerance (on MiniLM it moves the last hidden state by
    1.4e-8, spec.conventions).  The port's layer is exact; float32 is unaffected."""
    keras, tf = load_keras()
    x = np.linspace(-6, 6, 20001)
    exact = 0.5 * x * (1 + erf(x / math.sqrt(2)))
    for f in (lambda t: keras.ops.gelu(t, approximate=False), keras.activations.gelu):
        got = np.asarray(f(tf.constant(x)))
        assert 1e-9 < np.abs(got - exact).max() < 1e-8              # 5.0e-9 near |x| = 6
        assert rel_err(got, exact) > tolerance("float64")
        assert rel_err(np.asarray(f(tf.constant(x.astype("float32")))), exact) < 1e-6
    tanh_form = np.asarray(keras.ops.gelu(tf.constant(x)))           # the default
    assert 4.7e-4 < np.abs(tanh_form - exact).max() < 4.8e-4

    net, params, _ = case("bert_cls", "float64")
    layer = net.to_native(params).bert.encoder.layer[0].intermediate
    p = net.spec.layer_prefix(0) + "intermediate.dense."
    z_in = np.linspace(-6, 6, 2 * 5 * 12).reshape(2, 5, 12)
    z = z_in @ params[p + "weight"].T + params[p + "bias"]
    assert rel_err(np.asarray(layer(z_in)), 0.5 * z * (1 + erf(z / math.sqrt(2)))) < 1e-14


def test_convention_keras_multi_head_attention():
    """``keras.layers.MultiHeadAttention`` cannot stand in for BERT's attention in float64:
    it scales q by ``ops.cast(1/√dh)``, a float32 constant (1.7e-8 relative for dh = 32),
    so real tokens' outputs move by about 1e-8; with dropout > 0 its masked softmax gives a
    sequence of padding only weights 0 (a zero context) where Hugging Face's eager
    attention, and ours, give uniform weights.  The port's self-attention on the same
    projections equals the reference within 1e-14 in both cases."""
    keras, tf = load_keras()
    rng = np.random.default_rng(0)
    n, T, h, dh = 2, 6, 12, 32
    H = h * dh
    x = rng.standard_normal((n, T, H))
    mask = np.ones((n, T), np.int64)
    mask[0, 4:] = 0
    mask[1] = 0                                                 # padding only
    keep = tf.constant(np.repeat(mask[:, None, :], T, 1).astype(bool))
    for dropout in (0.0, 0.1):
        mha = keras.layers.MultiHeadAttention(h, dh, dropout=dropout, dtype="float64")
        got = mha(tf.constant(x), tf.constant(x), attention_mask=keep, training=False).numpy()
        wq, bq, wk, bk, wv, bv, wo, bo = (w.numpy() for w in mha.weights)
        q, k, v = (np.einsum("ntd,dhk->nhtk", x, w) + b[None, :, None, :]
                   for w, b in ((wq, bq), (wk, bk), (wv, bv)))
        ctx = attention_forward(q, k, v, mask)[0]               # (n, h, T, dh)
        want = np.einsum("nhtk,hkd->ntd", ctx, wo) + bo
        real = rel_err(got[0], want[0])
        assert 1e-9 < real < 1e-7, real
        padded = rel_err(got[1], want[1])
        if dropout:             # a zero context: the output projection's bias alone
            assert padded > 0.1
            np.testing.assert_array_equal(got[1], np.broadcast_to(bo, got[1].shape))
        else:                   # the fused path (ops.dot_product_attention) is uniform
            assert padded < 1e-12

    net = models.get("bert_cls", "keras", hidden_size=H, num_attention_heads=h,
                     intermediate_size=8, num_hidden_layers=1, vocab_size=5,
                     max_position_embeddings=T)
    attention = net.model("float64").bert.encoder.layer[0].attention.self_attention
    for name, (w, b) in zip(("query", "key", "value"), ((wq, bq), (wk, bk), (wv, bv))):
        getattr(attention, name).set_weights([w.reshape(H, H), b.reshape(H)])
    bias = np.where(mask == 1, 0.0, np.finfo("float64").min)[:, None, None, :]
    ours = np.asarray(attention(x, bias))                       # (n, T, H), merged heads
    want_ctx = attention_forward(q, k, v, mask)[0].transpose(0, 2, 1, 3).reshape(n, T, H)
    assert rel_err(ours, want_ctx) < 1e-14
