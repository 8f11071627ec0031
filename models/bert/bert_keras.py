"""BERT, Keras 3: our own layers (not keras-hub's, whose BERT computes the tanh GELU), nested
and named after Hugging Face's modules, so that a variable's path is its canonical name
with Keras's leaf: ``bert/encoder/layer.0/attention/self/query/kernel`` holds
``bert.encoder.layer.0.attention.self.query.weight``.

What is pinned, and how (``docs/bert.md``, "Keras port"):

* GELU is written out, ``x · ½(1 + erf(x/√2))`` with ``keras.ops.erf`` and the constants in
  the tensor's dtype: ``keras.ops.gelu`` is the tanh form by default, and its exact form
  (``approximate=False``, TensorFlow's ``tf.nn.gelu``) multiplies by 1/√2 rounded to
  float32, 5e-9 off in float64 (``spec.conventions``, "Keras exact GELU in float64").
* Every ``LayerNormalization`` gets ``epsilon=layer_norm_eps`` (Keras's default is 1e-3).
* Attention is written from ``keras.ops`` (scores · dh^-½ + the additive mask filled with
  ``finfo(dtype).min``, softmax, dropout, · V), not ``keras.layers.MultiHeadAttention``:
  that layer scales q by 1/√dh cast through float32 (1e-8 off in float64), gives a
  sequence of padding only zero weights when it has dropout (Hugging Face: uniform), and
  keeps its dropout inside, where no mask can be injected (``spec.conventions``,
  "keras.layers.MultiHeadAttention").
* Dense layers are Keras's ``Dense`` (kernel (in, out)); ``LAYOUT`` transposes the
  canonical (out, in) weights.
* The word embeddings are one variable used twice: the lookup and, through
  :class:`WordEmbeddings` ``reverse=True``, the masked-LM decoder (keras-hub's
  "reversible embedding" idiom), so TensorFlow's tape sums both uses; the tied copies of
  the table (``cls.predictions.decoder.*``) name the sources' variables in ``NAMES``.
* Torch's ``padding_idx``: the lookup passes no gradient to row ``pad_token_id``, done by
  ``stop_gradient`` at the positions holding the padding id (the forward is unchanged); the
  decoder's gradient of that row stays.
* Dropout layers are the adapter's :class:`Dropout`, named by the spec's layer names, so
  injected masks reach them.
"""

from __future__ import annotations

import math

import numpy as np

from models.adapters.keras_adapter import Dropout, KerasNetwork, keras
from models.bert.common import BertOutputs

ops = keras.ops
constant = KerasNetwork.constant


def gelu(x):
    """Exact GELU ``x · ½(1 + erf(x/√2))``, every constant in x's dtype (the reference's
    :func:`kernels.transformer.gelu_forward`, term for term)."""
    half, inv_sqrt2 = constant(0.5, x.dtype), constant(1.0 / math.sqrt(2.0), x.dtype)
    return x * (half * (1.0 + ops.erf(x * inv_sqrt2)))


def mask_bias(attention_mask, dtype):
    """Transformers' eager additive key mask (n, 1, 1, T): 0 at ``attention_mask == 1``,
    ``finfo(dtype).min`` at padding."""
    dtype = keras.backend.standardize_dtype(dtype)
    keep = ops.not_equal(attention_mask, 0)[:, None, None, :]
    return ops.where(keep, constant(0.0, dtype), constant(np.finfo(dtype).min, dtype))


def dense(units, name, dtype, **kw):
    return keras.layers.Dense(units, name=name, dtype=dtype, **kw)


def layer_norm(spec, dtype):
    return keras.layers.LayerNormalization(epsilon=spec.layer_norm_eps, name="LayerNorm",
                                           dtype=dtype)


class WordEmbeddings(keras.layers.Embedding):
    """The word table: a lookup whose gradient skips row ``padding_idx`` (torch's
    ``nn.Embedding(padding_idx=)``), and with ``reverse=True`` the tied decoder
    ``x · tableᵀ`` (n, T, H) -> (n, T, vocab) on the same variable."""

    def __init__(self, vocab_size, hidden_size, *, padding_idx, **kw):
        super().__init__(vocab_size, hidden_size, **kw)
        self.padding_idx = padding_idx

    def call(self, inputs, reverse=False):
        if reverse:
            return ops.matmul(inputs, ops.transpose(self.embeddings))
        e = super().call(inputs)
        if self.padding_idx is None:
            return e
        pad = ops.equal(inputs, self.padding_idx)[..., None]
        return ops.where(pad, ops.stop_gradient(e), e)

    def compute_output_spec(self, inputs, reverse=False):
        if reverse:
            return keras.KerasTensor((*inputs.shape[:-1], self.input_dim),
                                     dtype=self.compute_dtype)
        return super().compute_output_spec(inputs)


class Embeddings(keras.layers.Layer):
    def __init__(self, spec, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        H = spec.hidden_size
        self.word_embeddings = WordEmbeddings(spec.vocab_size, H, padding_idx=spec.pad_token_id,
                                              name="word_embeddings", dtype=dtype)
        self.position_embeddings = keras.layers.Embedding(
            spec.max_position_embeddings, H, name="position_embeddings", dtype=dtype)
        self.token_type_embeddings = keras.layers.Embedding(
            spec.type_vocab_size, H, name="token_type_embeddings", dtype=dtype)
        self.LayerNorm = layer_norm(spec, dtype)
        self.dropout = Dropout(spec.hidden_dropout_prob, name="bert.embeddings.dropout",
                               dtype=dtype)

    def call(self, input_ids, token_type_ids, training=False):        # (n, T) each
        positions = ops.arange(ops.shape(input_ids)[1])
        e = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        e = e + self.position_embeddings(positions)[None]              # (n, T, H)
        return self.dropout(self.LayerNorm(e), training=training)


class SelfAttention(keras.layers.Layer):
    def __init__(self, spec, prefix, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        H = spec.hidden_size
        self.heads, self.head_size = spec.num_attention_heads, spec.head_size
        self.query = dense(H, "query", dtype)
        self.key = dense(H, "key", dtype)
        self.value = dense(H, "value", dtype)
        self.dropout = Dropout(spec.attention_probs_dropout_prob,
                               name=prefix + "attention.self.dropout", dtype=dtype)

    def call(self, x, bias, training=False):                           # (n, T, H), (n, 1, 1, T)
        n, T = ops.shape(x)[0], ops.shape(x)[1]

        def split(t):                                                  # (n, h, T, dh)
            return ops.transpose(ops.reshape(t, (n, T, self.heads, self.head_size)),
                                 (0, 2, 1, 3))

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scale = constant(self.head_size ** -0.5, x.dtype)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * scale + bias
        probs = self.dropout(ops.softmax(scores, axis=-1), training=training)
        ctx = ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3))          # (n, T, h, dh)
        return ops.reshape(ctx, (n, T, self.heads * self.head_size))


class SelfOutput(keras.layers.Layer):
    """``LN(dropout(dense(x)) + residual)``; Hugging Face's ``BertSelfOutput`` and
    ``BertOutput`` alike (``dropout_name`` the spec's name of its dropout)."""

    def __init__(self, spec, units, dropout_name, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        self.dense = dense(units, "dense", dtype)
        self.LayerNorm = layer_norm(spec, dtype)
        self.dropout = Dropout(spec.hidden_dropout_prob, name=dropout_name, dtype=dtype)

    def call(self, x, residual, training=False):
        return self.LayerNorm(self.dropout(self.dense(x), training=training) + residual)


class Attention(keras.layers.Layer):
    def __init__(self, spec, prefix, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        self.self_attention = SelfAttention(spec, prefix, name="self", dtype=dtype)
        self.self_output = SelfOutput(spec, spec.hidden_size, prefix + "attention.output.dropout",
                                      name="output", dtype=dtype)

    def call(self, x, bias, training=False):
        return self.self_output(self.self_attention(x, bias, training=training), x,
                                training=training)


class Intermediate(keras.layers.Layer):
    def __init__(self, spec, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        self.dense = dense(spec.intermediate_size, "dense", dtype)

    def call(self, x):
        return gelu(self.dense(x))


class EncoderLayer(keras.layers.Layer):
    """One post-LN encoder layer, ``bert.encoder.layer.{i}``."""

    def __init__(self, spec, i, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        p = spec.layer_prefix(i)
        self.attention = Attention(spec, p, name="attention", dtype=dtype)
        self.intermediate = Intermediate(spec, name="intermediate", dtype=dtype)
        self.output_ = SelfOutput(spec, spec.hidden_size, p + "output.dropout", name="output",
                                  dtype=dtype)

    def call(self, x, bias, training=False):
        y = self.attention(x, bias, training=training)
        return self.output_(self.intermediate(y), y, training=training)


class Encoder(keras.layers.Layer):
    def __init__(self, spec, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        self.layer = [EncoderLayer(spec, i, name=f"layer.{i}", dtype=dtype)
                      for i in range(spec.num_hidden_layers)]

    def call(self, x, bias, training=False):
        for layer in self.layer:
            x = layer(x, bias, training=training)
        return x


class Pooler(keras.layers.Layer):
    def __init__(self, spec, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        self.dense = dense(spec.hidden_size, "dense", dtype, activation="tanh")

    def call(self, h):                                                 # (n, T, H) -> (n, H)
        return self.dense(h[:, 0])


class Bert(keras.layers.Layer):
    """The encoder (``BertModel``): ``{"last_hidden_state"}``, and ``"pooler_output"``
    where the spec has the pooler."""

    def __init__(self, spec, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        self.embeddings = Embeddings(spec, name="embeddings", dtype=dtype)
        self.encoder = Encoder(spec, name="encoder", dtype=dtype)
        self.pooler = Pooler(spec, name="pooler", dtype=dtype) if spec.pooler else None

    def call(self, input_ids, attention_mask, token_type_ids, training=False):
        x = self.embeddings(input_ids, token_type_ids, training=training)
        h = self.encoder(x, mask_bias(attention_mask, x.dtype), training=training)
        if self.pooler is None:
            return {"last_hidden_state": h}
        return {"last_hidden_state": h, "pooler_output": self.pooler(h)}


class HeadTransform(keras.layers.Layer):
    def __init__(self, spec, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        self.dense = dense(spec.hidden_size, "dense", dtype)
        self.LayerNorm = layer_norm(spec, dtype)

    def call(self, h):
        return self.LayerNorm(gelu(self.dense(h)))


class LMPredictionHead(keras.layers.Layer):
    """``transform``, then the decoder tied to ``word_embeddings`` (the encoder's layer,
    called with ``reverse=True``) plus ``bias`` (``cls.predictions.bias``, which is the
    decoder's bias)."""

    def __init__(self, spec, word_embeddings, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        self.vocab_size = spec.vocab_size
        self.transform = HeadTransform(spec, name="transform", dtype=dtype)
        self.decoder = word_embeddings

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(self.vocab_size,), initializer="zeros")

    def call(self, h):
        return self.decoder(self.transform(h), reverse=True) + self.bias   # (n, T, V)


class MLMHead(keras.layers.Layer):
    def __init__(self, spec, word_embeddings, *, dtype, **kw):
        super().__init__(dtype=dtype, **kw)
        self.predictions = LMPredictionHead(spec, word_embeddings, name="predictions",
                                            dtype=dtype)

    def call(self, h):
        return self.predictions(h)


class BertMLM(keras.Model):
    """``BertForMaskedLM``: the encoder (no pooler) and the masked-LM head."""

    def __init__(self, spec, *, dtype):
        super().__init__(name="bert_for_masked_lm", dtype=dtype)
        self.bert = Bert(spec, name="bert", dtype=dtype)
        self.cls = MLMHead(spec, self.bert.embeddings.word_embeddings, name="cls", dtype=dtype)

    def call(self, input_ids, attention_mask, token_type_ids, training=False):
        h = self.bert(input_ids, attention_mask, token_type_ids, training=training)
        return self.cls(h["last_hidden_state"])


class BertCls(keras.Model):
    """``BertForSequenceClassification``: the encoder with its pooler, dropout, a dense
    classifier."""

    def __init__(self, spec, *, dtype):
        super().__init__(name="bert_for_sequence_classification", dtype=dtype)
        self.bert = Bert(spec, name="bert", dtype=dtype)
        self.dropout = Dropout(spec.classifier_rate(), name="dropout", dtype=dtype)
        self.classifier = dense(spec.num_labels, "classifier", dtype)

    def call(self, input_ids, attention_mask, token_type_ids, training=False):
        h = self.bert(input_ids, attention_mask, token_type_ids, training=training)
        return self.classifier(self.dropout(h["pooler_output"], training=training))


def build(spec, *, dtype):
    return (BertMLM if spec.head == "mlm" else BertCls)(spec, dtype=dtype)


def keras_name(key: str) -> tuple[str, bool]:
    """``(the Keras variable's canonical-style path, transposed?)`` of a canonical key:
    ``LayerNorm.weight/bias`` are ``gamma/beta``, an embedding table ``embeddings``, any
    other ``weight`` a ``Dense`` kernel (in, out), the transpose."""
    stem, leaf = key.rsplit(".", 1)
    if stem.endswith(".LayerNorm"):
        return f"{stem}.{ {'weight': 'gamma', 'bias': 'beta'}[leaf]}", False
    if stem.endswith("_embeddings"):
        return f"{stem}.embeddings", False
    return f"{stem}.{'kernel' if leaf == 'weight' else leaf}", leaf == "weight"


class Network(BertOutputs, KerasNetwork):
    module = staticmethod(build)

    def __init__(self, spec):
        super().__init__(spec)
        tied = spec.tied()
        names = {k: keras_name(tied.get(k, k)) for k in spec.param_shapes()}
        #: canonical -> Keras path; a tied copy -> its source's variable
        self.NAMES = {k: path for k, (path, _) in names.items()}
        #: Dense kernels (in, out) hold the canonical (out, in) weights
        self.LAYOUT = {k: (1, 0) for k, (_, t) in names.items() if t}

    def _encode(self, params, batch):
        model = self._load(params)
        out = model.bert(*self.inputs(batch), training=False)
        return {k: v.numpy() for k, v in out.items()}
