"""BERT, JAX/Flax (nnx): ``nnx.Linear``, ``nnx.Embed`` and ``nnx.LayerNorm`` modules laid
out and named as Hugging Face's, so that an nnx path is the canonical key with nnx's leaf
name (``kernel``, ``embedding``, ``scale``), listed in ``NAMES``; dense kernels are the
canonical (out, in) weights transposed once on the way in (``LAYOUT``).

What is pinned to match Hugging Face's eager BERT (docs/bert.md, "JAX port"):

* GELU: the exact erf form, ``jax.nn.gelu(approximate=False)`` (JAX's default is tanh);
* LayerNorm: ``epsilon=layer_norm_eps`` (1e-12, Flax's default is 1e-6) and the two-pass
  variance ``use_fast_variance=False`` (Flax's default ``E[x²] - E[x]²`` loses digits);
* the padding mask: ``finfo(dtype).min`` added to the scores of padded keys;
* ``nn.Embedding(padding_idx=pad_token_id)``: the lookup's output at padding ids is
  ``stop_gradient``-ed, so row ``pad_token_id`` gets no gradient from the lookup (and
  still the decoder's);
* the tied decoder: ``word_embeddings.attend`` (the same ``nnx.Param``), so autodiff sums
  both uses; ``cls.predictions.decoder.bias`` is the head's ``bias`` Param;
* dropout: :class:`models.adapters.jax_adapter.Dropout` at the paths of Hugging Face's
  modules (``bert.embeddings.dropout``, ``...attention.self.dropout`` on the attention
  probabilities (n, heads, T, T), ``...attention.output.dropout``, ``...output.dropout``,
  ``dropout`` of bert_cls).

The query, key and value projections are one matmul with the three kernels side by side
(H, 3H), concatenated inside the step (the canonical params stay three); each output
column is the same dot product as in three matmuls.
"""

from __future__ import annotations

from models.adapters.jax_adapter import Dropout, JaxNetwork, jax, jnp, nnx
from models.bert.common import BertOutputs


def _linear(n_in, n_out, *, dtype, rngs):
    return nnx.Linear(n_in, n_out, dtype=dtype, param_dtype=dtype, rngs=rngs)


def _layer_norm(spec, *, dtype, rngs):
    return nnx.LayerNorm(spec.hidden_size, epsilon=spec.layer_norm_eps,
                         use_fast_variance=False, dtype=dtype, param_dtype=dtype, rngs=rngs)


def gelu(x):
    """BERT's ``hidden_act="gelu"``: the exact ``x·Φ(x)``."""
    return jax.nn.gelu(x, approximate=False)


class Embeddings(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        H = spec.hidden_size
        kw = dict(dtype=dtype, param_dtype=dtype, rngs=rngs)
        self.word_embeddings = nnx.Embed(spec.vocab_size, H, **kw)
        self.position_embeddings = nnx.Embed(spec.max_position_embeddings, H, **kw)
        self.token_type_embeddings = nnx.Embed(spec.type_vocab_size, H, **kw)
        self.LayerNorm = _layer_norm(spec, dtype=dtype, rngs=rngs)
        self.dropout = Dropout(spec.hidden_dropout_prob)
        self.pad_token_id = spec.pad_token_id

    def __call__(self, input_ids, token_type_ids):               # (n, T) each
        word = self.word_embeddings(input_ids)
        if self.pad_token_id is not None:                         # torch's padding_idx
            word = jnp.where((input_ids == self.pad_token_id)[..., None],
                             jax.lax.stop_gradient(word), word)
        e = word + self.token_type_embeddings(token_type_ids)
        e = e + self.position_embeddings(jnp.arange(input_ids.shape[1]))[None]
        return self.dropout(self.LayerNorm(e))                    # (n, T, H)


class SelfAttention(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        H = spec.hidden_size
        self.heads, self.head_size = spec.num_attention_heads, spec.head_size
        self.query = _linear(H, H, dtype=dtype, rngs=rngs)
        self.key = _linear(H, H, dtype=dtype, rngs=rngs)
        self.value = _linear(H, H, dtype=dtype, rngs=rngs)
        self.dropout = Dropout(spec.attention_probs_dropout_prob)

    def __call__(self, x, bias):                                  # (n, T, H), (n, 1, 1, T)
        n, T, H = x.shape
        parts = (self.query, self.key, self.value)
        kernel = jnp.concatenate([p.kernel[...] for p in parts], axis=1)      # (H, 3H)
        b = jnp.concatenate([p.bias[...] for p in parts])
        qkv = (x @ kernel + b).reshape(n, T, 3, self.heads, self.head_size)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]       # (n, T, h, dh)
        scores = jnp.einsum("nqhd,nkhd->nhqk", q, k) * (self.head_size ** -0.5) + bias
        probs = self.dropout(jax.nn.softmax(scores, axis=-1))     # (n, h, T, T)
        return jnp.einsum("nhqk,nkhd->nqhd", probs, v).reshape(n, T, H)


class SelfOutput(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.dense = _linear(spec.hidden_size, spec.hidden_size, dtype=dtype, rngs=rngs)
        self.LayerNorm = _layer_norm(spec, dtype=dtype, rngs=rngs)
        self.dropout = Dropout(spec.hidden_dropout_prob)

    def __call__(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.self = SelfAttention(spec, dtype=dtype, rngs=rngs)
        self.output = SelfOutput(spec, dtype=dtype, rngs=rngs)

    def __call__(self, x, bias):
        return self.output(self.self(x, bias), x)


class Intermediate(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.dense = _linear(spec.hidden_size, spec.intermediate_size, dtype=dtype, rngs=rngs)

    def __call__(self, x):
        return gelu(self.dense(x))


class Output(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.dense = _linear(spec.intermediate_size, spec.hidden_size, dtype=dtype, rngs=rngs)
        self.LayerNorm = _layer_norm(spec, dtype=dtype, rngs=rngs)
        self.dropout = Dropout(spec.hidden_dropout_prob)

    def __call__(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Layer(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.attention = Attention(spec, dtype=dtype, rngs=rngs)
        self.intermediate = Intermediate(spec, dtype=dtype, rngs=rngs)
        self.output = Output(spec, dtype=dtype, rngs=rngs)

    def __call__(self, x, bias):
        y = self.attention(x, bias)
        return self.output(self.intermediate(y), y)


class Encoder(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.layer = nnx.List([Layer(spec, dtype=dtype, rngs=rngs)
                               for _ in range(spec.num_hidden_layers)])

    def __call__(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class Pooler(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.dense = _linear(spec.hidden_size, spec.hidden_size, dtype=dtype, rngs=rngs)

    def __call__(self, h):                                        # (n, T, H) -> (n, H)
        return jnp.tanh(self.dense(h[:, 0]))


class Bert(nnx.Module):
    """The encoder (BertModel): ``(last_hidden_state, pooler_output or None)``."""

    def __init__(self, spec, *, dtype, rngs):
        self.embeddings = Embeddings(spec, dtype=dtype, rngs=rngs)
        self.encoder = Encoder(spec, dtype=dtype, rngs=rngs)
        self.pooler = Pooler(spec, dtype=dtype, rngs=rngs) if spec.pooler else None

    def __call__(self, input_ids, attention_mask, token_type_ids):
        x = self.embeddings(input_ids, token_type_ids)
        # the additive key mask of transformers' eager attention: 0 keep, finfo.min padding
        bias = jnp.where(attention_mask == 0, jnp.finfo(x.dtype).min,
                         0).astype(x.dtype)[:, None, None, :]
        h = self.encoder(x, bias)
        return h, (self.pooler(h) if self.pooler is not None else None)


class HeadTransform(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.dense = _linear(spec.hidden_size, spec.hidden_size, dtype=dtype, rngs=rngs)
        self.LayerNorm = _layer_norm(spec, dtype=dtype, rngs=rngs)

    def __call__(self, h):
        return self.LayerNorm(gelu(self.dense(h)))


class LMPredictionHead(nnx.Module):
    """The transform, then the decoder: the word embeddings (passed in, the same Param)
    as the weight and :attr:`bias` as its bias."""

    def __init__(self, spec, *, dtype, rngs):
        self.bias = nnx.Param(jnp.zeros(spec.vocab_size, dtype))
        self.transform = HeadTransform(spec, dtype=dtype, rngs=rngs)

    def __call__(self, h, word_embeddings: nnx.Embed):
        return word_embeddings.attend(self.transform(h)) + self.bias[...]   # (n, T, V)


class MLMHead(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.predictions = LMPredictionHead(spec, dtype=dtype, rngs=rngs)

    def __call__(self, h, word_embeddings):
        return self.predictions(h, word_embeddings)


class BertMLM(nnx.Module):
    """BertForMaskedLM: the encoder (no pooler) and the masked-LM head, its decoder the
    word embeddings."""

    def __init__(self, spec, *, dtype, rngs):
        self.bert = Bert(spec, dtype=dtype, rngs=rngs)
        self.cls = MLMHead(spec, dtype=dtype, rngs=rngs)

    def __call__(self, input_ids, attention_mask, token_type_ids):
        h, _ = self.bert(input_ids, attention_mask, token_type_ids)
        return self.cls(h, self.bert.embeddings.word_embeddings)


class BertCls(nnx.Module):
    """BertForSequenceClassification: the encoder with its pooler, dropout, a classifier."""

    def __init__(self, spec, *, dtype, rngs):
        self.bert = Bert(spec, dtype=dtype, rngs=rngs)
        self.dropout = Dropout(spec.classifier_rate())
        self.classifier = _linear(spec.hidden_size, spec.num_labels, dtype=dtype, rngs=rngs)

    def __call__(self, input_ids, attention_mask, token_type_ids):
        return self.classifier(self.dropout(self.bert(input_ids, attention_mask,
                                                      token_type_ids)[1]))


def build(spec, *, dtype, rngs):
    return (BertMLM if spec.head == "mlm" else BertCls)(spec, dtype=dtype, rngs=rngs)


def native_name(key: str) -> tuple[str, tuple[int, ...] | None]:
    """``(nnx path, permutation or None)`` of canonical ``key``: LayerNorm ``weight`` is
    ``scale``, an embedding table's ``weight`` is ``embedding``, a dense ``weight``
    (out, in) is ``kernel`` (in, out)."""
    stem, leaf = key.rsplit(".", 1)
    if leaf != "weight":
        return key, None
    if stem.endswith(".LayerNorm"):
        return stem + ".scale", None
    if stem.endswith("_embeddings"):
        return stem + ".embedding", None
    return stem + ".kernel", (1, 0)


class Network(BertOutputs, JaxNetwork):
    module = staticmethod(build)

    def __init__(self, spec):
        super().__init__(spec)
        tied = spec.tied()
        layout = {k: native_name(k) for k in spec.param_shapes() if k not in tied}
        self.NAMES = {k: path for k, (path, _) in layout.items() if path != k}
        self.LAYOUT = {k: perm for k, (_, perm) in layout.items() if perm is not None}

    def _encode(self, params, batch):
        def encode(tree, inputs):
            module = nnx.merge(self.graphdef(jnp.dtype(jax.tree.leaves(tree)[0].dtype).name),
                               tree)
            module.eval()
            h, pooled = module.bert(*inputs)
            return {"last_hidden_state": h} if pooled is None else \
                {"last_hidden_state": h, "pooler_output": pooled}

        fn = self._jitted(("encode",), lambda: jax.jit(encode))
        return fn(self._tree(params), tuple(jnp.asarray(a) for a in self.inputs(batch)))
