"""BERT (Devlin et al. 2019) as Hugging Face ``transformers`` builds it, with two heads::

    input_ids, attention_mask, token_type_ids (n, T) ints
      -> word + token-type + position embeddings (positions 0..T-1) -> LayerNorm -> dropout
      -> num_hidden_layers post-LN layers:
             x = LN(x + dropout(dense(self-attention(x, padding mask))))
             x = LN(x + dropout(dense(gelu(dense(x)))))
      -> last_hidden_state (n, T, hidden)
    bert_mlm: -> dense -> gelu -> LN -> x Wordᵀ + bias          masked-LM logits (n, T, vocab)
    bert_cls: -> pooler tanh(dense(h[:, 0])) -> dropout -> dense  class logits (n, num_labels)

``bert_mlm`` is ``BertForMaskedLM`` (no pooler) trained with the masked-LM cross-entropy
over labels ``y`` (n, T) (-100 ignored, 0 when all are); ``bert_cls`` is
``BertForSequenceClassification`` (``problem_type`` single-label) trained with softmax
cross-entropy over ``y`` (n,).  Batches: ``{"input_ids", "attention_mask",
"token_type_ids", "y"}``, ints of shape (n, T), T <= ``max_position_embeddings``.  Config
fields are ``transformers.BertConfig``'s, with its defaults (BERT-base).

Canonical parameters are the Hugging Face state dict, key for key and layout for layout
(dense weights (out, in), as torch stores them): ``{k: v.numpy() for k, v in
hf_model.state_dict().items()}`` of ``BertForMaskedLM`` / ``BertForSequenceClassification``
is a params dict of every backend, in the same order.  Per layer ``i`` under
``bert.encoder.layer.{i}.``:

============================================  ====================
bert.embeddings.word_embeddings.weight        (vocab, hidden)
bert.embeddings.position_embeddings.weight    (max_positions, hidden)
bert.embeddings.token_type_embeddings.weight  (type_vocab, hidden)
bert.embeddings.LayerNorm.{weight,bias}       (hidden,)
attention.self.{query,key,value}.weight       (hidden, hidden)  (+ .bias (hidden,))
attention.output.dense.{weight,bias}          (hidden, hidden), (hidden,)
attention.output.LayerNorm.{weight,bias}      (hidden,)
intermediate.dense.{weight,bias}              (intermediate, hidden), (intermediate,)
output.dense.{weight,bias}                    (hidden, intermediate), (hidden,)
output.LayerNorm.{weight,bias}                (hidden,)
============================================  ====================

bert_mlm then has ``cls.predictions.bias`` (vocab,), ``cls.predictions.transform.dense.*``,
``cls.predictions.transform.LayerNorm.*``, ``cls.predictions.decoder.weight`` (vocab,
hidden) and ``cls.predictions.decoder.bias`` (vocab,); bert_cls has
``bert.pooler.dense.*`` and ``classifier.weight`` (num_labels, hidden), ``classifier.bias``.

Tied weights (:meth:`BertMLMSpec.tied`): ``cls.predictions.decoder.weight`` is
``bert.embeddings.word_embeddings.weight`` and ``cls.predictions.decoder.bias`` is
``cls.predictions.bias`` (transformers 5's ``_tied_weights_keys``).  Both names are in the
table and must hold equal arrays; only the sources are trainable, and the gradient of the
word embeddings is the sum of the lookup's and the decoder's, as autograd sums the uses of
the one tensor.  The lookup's part has row ``pad_token_id`` zeroed (``nn.Embedding
(padding_idx=pad_token_id)``); the decoder's part has no such row.

Dropout follows the one rule of :mod:`models._network`; its layers are named after Hugging
Face's modules: ``bert.embeddings.dropout`` and, per layer,
``bert.encoder.layer.{i}.attention.output.dropout`` and ``...output.dropout`` (hidden
dropout, masks ``(n, T, hidden)``), ``...attention.self.dropout`` (on the attention
probabilities, masks ``(n, heads, T, T)``), and ``dropout`` of bert_cls (on the pooled
output, ``(n, hidden)``, rate ``classifier_dropout`` or else ``hidden_dropout_prob``).  The
sequence axes are ``None`` in :meth:`mask_shape`: a mask has the batch's T.  Random masks
cannot match Hugging Face's, so the comparisons with it use rates 0 (or eval mode); our
backends agree with each other on injected masks.

Init (:meth:`BertSpec.init`) is Hugging Face's ``_init_weights``: dense weights and
embeddings normal(0, initializer_range) (row ``pad_token_id`` of the word embeddings 0),
biases 0, LayerNorm weight 1 and bias 0, ``cls.predictions.bias`` 0, tied copies equal to
their sources; drawn from ``numpy.random.default_rng(seed)`` in table order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from models._spec import (IGNORE_INDEX, ContractError, Convention, Objective, Spec,
                          check_batch_size, check_dtype)

#: the sequence length of :meth:`BertSpec.example` batches (capped by the positions)
EXAMPLE_LENGTH = 16

#: activations of BertConfig.hidden_act that are not the exact GELU, with their form
OTHER_ACTS = {"gelu_new": "the tanh approximation", "gelu_pytorch_tanh": "the tanh approximation",
              "gelu_fast": "a tanh approximation", "quick_gelu": "x·sigmoid(1.702x)",
              "relu": "ReLU", "silu": "SiLU", "swish": "SiLU", "tanh": "tanh"}

#: mask fill, GELU form, eps, tied decoder, position ids, SDPA, Keras's GELU and
#: attention (docs/bert.md has them all)
CONVENTIONS = (
    Convention(
        topic="GELU form",
        frameworks="HF 'gelu' (exact erf, torch F.gelu) vs jax.nn.gelu, keras.ops.gelu, "
                   "HF 'gelu_new', keras-hub BERT (tanh form)",
        difference="0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) instead of x·Φ(x)",
        size="4.7e-4 at most per activation (at x = -2.70); MiniLM, 3 sentence pairs, "
             "float64, HF 'gelu_new' vs 'gelu': last hidden state 1.4e-3, pooler 2.6e-4 "
             "relative (parity/test_bert.py::test_convention_gelu_tanh_form_is_far_from_bert)",
        setting="hidden_act='gelu' only (others refused); every backend computes erf"),
    Convention(
        topic="layer-norm epsilon",
        frameworks="BERT 1e-12 vs torch nn.LayerNorm 1e-5, Keras 1e-3, Flax 1e-6 defaults",
        difference="1/√(σ² + ε) with the framework's default ε",
        size="MiniLM last hidden state, relative, float64: 1.5e-2 with 1e-3, 1.6e-4 "
             "with 1e-5, 1.6e-5 with 1e-6 (test_convention_layer_norm_eps)",
        setting="eps = layer_norm_eps (1e-12) passed explicitly everywhere"),
    Convention(
        topic="padding-mask fill",
        frameworks="transformers 5 eager (finfo(dtype).min) vs transformers < 4.26 and "
                   "some ports (-10000)",
        difference="the additive bias on padded keys; both give padded keys probability "
                   "exactly 0 (exp underflows) unless every key of a row is padding: then "
                   "finfo.min gives uniform weights and -10000 the unmasked softmax",
        size="0 (bit-equal) for every sequence with a real token; 1.1 relative on "
             "MiniLM for a sequence of padding only (test_convention_mask_fill_min_vs_minus_10000)",
        setting="finfo(dtype).min, as transformers 5 eager"),
    Convention(
        topic="SDPA vs eager attention",
        frameworks="HF attn_implementation='sdpa' (its default) vs 'eager' (ours)",
        difference="torch's fused scaled_dot_product_attention sums in another order, and "
                   "gives a row whose keys are all padding a zero context (eager: the mean "
                   "of the values)",
        size="MiniLM last hidden state, relative: 6.4e-7 (float32), 7.4e-16 (float64); "
             "1.1 on a sequence of padding only (test_convention_sdpa_vs_eager)",
        setting="the comparisons pin attn_implementation='eager'"),
    Convention(
        topic="Keras exact GELU in float64",
        frameworks="keras.ops.gelu(approximate=False), keras.activations.gelu "
                   "(TensorFlow's tf.nn.gelu) vs HF 'gelu' (torch F.gelu), the reference",
        difference="TensorFlow multiplies x by 1/√2 rounded to float32 before the erf",
        size="5.0e-9 per activation; MiniLM float64: last hidden state 1.4e-8, pooler "
             "3.4e-9, MLM logits 3.0e-8, gradients 2.3e-8 relative; float32 unaffected "
             "(parity/test_bert_keras.py::test_convention_keras_exact_gelu_float64)",
        setting="the Keras port writes x·½(1 + erf(x/√2)) with keras.ops.erf and the "
                "constants in x's dtype"),
    Convention(
        topic="keras.layers.MultiHeadAttention",
        frameworks="Keras's MultiHeadAttention vs HF eager attention (and ours)",
        difference="it scales q by 1/√dh cast to float64 through float32 "
                   "(ops.cast of a Python float); with dropout > 0 it gives a row whose keys "
                   "are all padding weights 0 (a zero context; eager: uniform weights); its "
                   "dropout is an inner layer no mask reaches",
        size="float64, 12 heads of 32 (MiniLM's): 1.2e-8 relative on the attention output "
             "of real tokens; 0.63 on a sequence of padding only (with dropout) "
             "(parity/test_bert_keras.py::test_convention_keras_multi_head_attention)",
        setting="the Keras port writes the attention from keras.ops: scores · dh^-½ in the "
                "scores' dtype, + finfo(dtype).min at padded keys, softmax, dropout, · V"),
    Convention(
        topic="position ids",
        frameworks="legacy checkpoints (transformers < 4.31, MiniLM's) vs transformers 5",
        difference="old files store the buffer embeddings.position_ids = arange(512); "
                   "transformers 5 keeps it out of the state dict (non-persistent)",
        size="none: positions are always 0..T-1",
        setting="models.from_pretrained drops embeddings.position_ids; it is no parameter"),
)


def _rate(spec, field):
    v = getattr(spec, field)
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not 0.0 <= v < 1.0:
        raise ValueError(f"{spec.name}: {field} must be a dropout rate in [0, 1), got {v!r}")


@dataclasses.dataclass(frozen=True)
class BertSpec(Spec):
    """The encoder's config and parameters, shared by :class:`BertMLMSpec` and
    :class:`BertClsSpec` (``transformers.BertConfig``'s fields and defaults)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0

    #: "mlm" or "cls": which head the subclass has
    head = ""
    #: whether the encoder ends with the pooler (BertModel's add_pooling_layer)
    pooler = False

    def __post_init__(self):
        self.check_positive_ints("vocab_size", "hidden_size", "num_hidden_layers",
                                 "num_attention_heads", "intermediate_size",
                                 "max_position_embeddings", "type_vocab_size")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"{self.name}: hidden_size {self.hidden_size} is not a multiple "
                             f"of num_attention_heads {self.num_attention_heads}")
        if self.hidden_act != "gelu":
            form = OTHER_ACTS.get(self.hidden_act) if isinstance(self.hidden_act, str) else None
            raise ValueError(f"{self.name}: hidden_act must be 'gelu' (the exact erf form), "
                             f"got {self.hidden_act!r}" + (f" ({form})" if form else "")
                             + "; other activations are not implemented")
        _rate(self, "hidden_dropout_prob")
        _rate(self, "attention_probs_dropout_prob")
        self.check_finite("initializer_range", "layer_norm_eps")
        if self.initializer_range < 0 or self.layer_norm_eps < 0:
            raise ValueError(f"{self.name}: initializer_range and layer_norm_eps must be >= 0, "
                             f"got {self.initializer_range} and {self.layer_norm_eps}")
        p = self.pad_token_id
        if p is not None and (isinstance(p, bool) or not isinstance(p, (int, np.integer))
                              or not 0 <= p < self.vocab_size):
            raise ValueError(f"{self.name}: pad_token_id must be None or an id in "
                             f"[0, {self.vocab_size}), got {p!r}")

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def head_size(self) -> int:
        """Features per attention head, ``hidden_size / num_attention_heads``."""
        return self.hidden_size // self.num_attention_heads

    def layer_prefix(self, i: int) -> str:
        return f"bert.encoder.layer.{i}."

    def encoder_shapes(self) -> dict[str, tuple[int, ...]]:
        """The ``bert.*`` part of the table (BertModel's state dict with the ``bert.``
        prefix; the pooler only where :attr:`pooler`)."""
        V, H, I = self.vocab_size, self.hidden_size, self.intermediate_size
        e = "bert.embeddings."
        out = {e + "word_embeddings.weight": (V, H),
               e + "position_embeddings.weight": (self.max_position_embeddings, H),
               e + "token_type_embeddings.weight": (self.type_vocab_size, H),
               e + "LayerNorm.weight": (H,), e + "LayerNorm.bias": (H,)}
        for i in range(self.num_hidden_layers):
            p = self.layer_prefix(i)
            for m in ("query", "key", "value"):
                out[f"{p}attention.self.{m}.weight"] = (H, H)
                out[f"{p}attention.self.{m}.bias"] = (H,)
            out[p + "attention.output.dense.weight"] = (H, H)
            out[p + "attention.output.dense.bias"] = (H,)
            out[p + "attention.output.LayerNorm.weight"] = (H,)
            out[p + "attention.output.LayerNorm.bias"] = (H,)
            out[p + "intermediate.dense.weight"] = (I, H)
            out[p + "intermediate.dense.bias"] = (I,)
            out[p + "output.dense.weight"] = (H, I)
            out[p + "output.dense.bias"] = (H,)
            out[p + "output.LayerNorm.weight"] = (H,)
            out[p + "output.LayerNorm.bias"] = (H,)
        if self.pooler:
            out["bert.pooler.dense.weight"] = (H, H)
            out["bert.pooler.dense.bias"] = (H,)
        return out

    def head_shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def param_shapes(self):
        return {**self.encoder_shapes(), **self.head_shapes()}

    def is_encoder(self, key: str) -> bool:
        """Whether ``key`` belongs to the pretrained encoder (embeddings and layers; the
        pooler and the heads are initialised afresh when a checkpoint lacks them)."""
        return key.startswith(("bert.embeddings.", "bert.encoder."))

    # -- init ----------------------------------------------------------------------------------
    def init(self, seed=0, dtype="float64", *, names=None):
        """Hugging Face's ``_init_weights`` (module docstring), from
        ``numpy.random.default_rng(seed)`` in table order; float64 draws cast to ``dtype``.

        ``names``: only these entries (drawn in table order from a fresh generator, tied
        copies excluded), as :func:`models.from_pretrained` initialises a new head."""
        dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        tied = self.tied()
        if names is not None:
            unknown = sorted(set(names) - set(self.param_shapes()))
            if unknown:
                raise ContractError(f"{self.name}: no parameters {unknown} in the table")
        out = {}
        for k, shape in self.param_shapes().items():
            if k in tied or (names is not None and k not in names):
                continue
            if ".LayerNorm." in k:
                a = np.ones(shape) if k.endswith(".weight") else np.zeros(shape)
            elif k.endswith(".weight"):
                a = rng.normal(0.0, self.initializer_range, shape)
                if k == "bert.embeddings.word_embeddings.weight" and self.pad_token_id is not None:
                    a[self.pad_token_id] = 0.0
            else:
                a = np.zeros(shape)
            out[k] = a.astype(dtype)
        if names is not None:
            return out
        out = self.tie(out)
        return {k: out[k] for k in self.param_shapes()}

    # -- inputs and labels -----------------------------------------------------------------------
    def inputs(self):
        return {"input_ids": ((None,), "int"), "attention_mask": ((None,), "int"),
                "token_type_ids": ((None,), "int")}

    def input_range(self, key):
        return {"input_ids": (0, self.vocab_size), "attention_mask": (0, 2),
                "token_type_ids": (0, self.type_vocab_size)}[key]

    def check_batch(self, batch, dtype, labels=True):
        """The shared checks, then ``1 <= T <= max_position_embeddings`` (positions are
        0..T-1; Hugging Face would fail with an index error past the table)."""
        super().check_batch(batch, dtype, labels)
        T = int(np.shape(batch["input_ids"])[1])
        if not 1 <= T <= self.max_position_embeddings:
            raise ContractError(f"{self.name}: batch input_ids has sequence length {T}; "
                                f"expected 1 <= T <= max_position_embeddings = "
                                f"{self.max_position_embeddings}")

    # -- dropout ---------------------------------------------------------------------------------
    def classifier_rate(self) -> float:
        return 0.0

    def dropout(self):
        h, a = self.hidden_dropout_prob, self.attention_probs_dropout_prob
        out = {}
        if h > 0:
            out["bert.embeddings.dropout"] = h
        for i in range(self.num_hidden_layers):
            p = self.layer_prefix(i)
            if a > 0:
                out[p + "attention.self.dropout"] = a
            if h > 0:
                out[p + "attention.output.dropout"] = h
                out[p + "output.dropout"] = h
        if self.classifier_rate() > 0:
            out["dropout"] = self.classifier_rate()
        return out

    def mask_shape(self, name):
        if name not in self.dropout():
            raise NotImplementedError(f"{self.name}: no dropout layer {name!r}")
        if name == "dropout":
            return (self.hidden_size,)
        if name.endswith("attention.self.dropout"):
            return (self.num_attention_heads, None, None)
        return (None, self.hidden_size)

    # -- examples --------------------------------------------------------------------------------
    def example_inputs(self, n, rng, length):
        """Random sentence pairs: ids in [0, vocab) other than the padding id, a random
        length in [1, T] each, segment 1 from a random split point on (segment 0 only with
        type_vocab_size 1), then padding (id pad_token_id or 0, mask 0, segment 0)."""
        T = length
        pad = 0 if self.pad_token_id is None else self.pad_token_id
        ids = rng.integers(0, self.vocab_size - (self.vocab_size > 1), size=(n, T))
        if self.pad_token_id is not None and self.vocab_size > 1:
            ids[ids >= pad] += 1                        # never the padding id
        lengths = rng.integers(1, T + 1, size=n)
        split = rng.integers(1, T + 1, size=n)
        pos = np.arange(T)[None, :]
        mask = (pos < lengths[:, None]).astype(np.int64)
        types = ((pos >= split[:, None]) & (mask == 1)).astype(np.int64)
        if self.type_vocab_size < 2:
            types[:] = 0
        ids = np.where(mask == 1, ids, pad).astype(np.int64)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def example_length(self, length):
        if length is None:
            return min(EXAMPLE_LENGTH, self.max_position_embeddings)
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) \
                or not 1 <= length <= self.max_position_embeddings:
            raise ContractError(f"{self.name}: length must be an integer in [1, "
                                f"{self.max_position_embeddings}], got {length!r}")
        return int(length)


@dataclasses.dataclass(frozen=True)
class BertMLMSpec(BertSpec):
    """``BertForMaskedLM``: the encoder without pooler, the masked-LM head."""

    name = "bert_mlm"
    #: the parity suite's tiny config (2 layers, 3 heads of 4, odd vocab; weights
    #: N(0, 0.5) so the logits are far from uniform; dropout on for the train-mode runs)
    parity = {"config": {"vocab_size": 37, "hidden_size": 12, "num_hidden_layers": 2,
                          "num_attention_heads": 3, "intermediate_size": 20,
                          "max_position_embeddings": 10, "type_vocab_size": 2,
                          "initializer_range": 0.5, "hidden_dropout_prob": 0.1,
                          "attention_probs_dropout_prob": 0.1},
              "sizes": (1, 5, 16)}
    head = "mlm"
    pooler = False
    conventions = CONVENTIONS + (
        Convention(
            topic="masked-LM loss with every label ignored",
            frameworks="HF BertForMaskedLM (torch CrossEntropyLoss, mean) vs ours",
            difference="torch's mean over no labels is 0/0",
            size="HF's loss NaN, ours 0 (both gradients 0)",
            setting="the project's masked_cross_entropy: 0 when all labels are -100"),
        Convention(
            topic="tied decoder and padding row",
            frameworks="HF (nn.Embedding(padding_idx) + tied nn.Linear) vs Keras / Flax "
                       "embeddings (no padding_idx)",
            difference="row pad_token_id of the word embeddings gets the decoder's gradient "
                       "but none from the lookup; a port without padding_idx adds the "
                       "lookup's part",
            size="0 unless the padding id is attended to; then that row's gradient",
            setting="padding_idx on the lookup only; the decoder is the same weight"),
    )

    @property
    def n_classes(self) -> int:
        return self.vocab_size

    def head_shapes(self):
        V, H = self.vocab_size, self.hidden_size
        return {"cls.predictions.bias": (V,),
                "cls.predictions.transform.dense.weight": (H, H),
                "cls.predictions.transform.dense.bias": (H,),
                "cls.predictions.transform.LayerNorm.weight": (H,),
                "cls.predictions.transform.LayerNorm.bias": (H,),
                "cls.predictions.decoder.weight": (V, H),
                "cls.predictions.decoder.bias": (V,)}

    def tied(self):
        return {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
                "cls.predictions.decoder.bias": "cls.predictions.bias"}

    def label_shape(self):
        return (None,)

    def objective(self):
        return Objective("masked_cross_entropy")

    def example(self, n=8, seed=0, dtype="float64", *, length=None):
        """:meth:`BertSpec.example_inputs` of length ``length`` (default
        :data:`EXAMPLE_LENGTH`), and labels ``y`` (n, T): a random id at about 30% of the
        real tokens (at least one per sequence), -100 elsewhere."""
        check_dtype(dtype)
        n = check_batch_size(n)
        T = self.example_length(length)
        rng = np.random.default_rng(seed)
        batch = self.example_inputs(n, rng, T)
        real = batch["attention_mask"] == 1
        pick = real & (rng.random((n, T)) < 0.3)
        pick[np.arange(n), rng.integers(0, real.sum(1))] = True
        y = np.where(pick, rng.integers(0, self.vocab_size, size=(n, T)), IGNORE_INDEX)
        return {**batch, "y": y.astype(np.int64)}


@dataclasses.dataclass(frozen=True)
class BertClsSpec(BertSpec):
    """``BertForSequenceClassification`` (single-label): the encoder with its pooler,
    dropout, a dense classifier."""

    num_labels: int = 2
    classifier_dropout: float | None = None

    name = "bert_cls"
    parity = {"config": {"vocab_size": 37, "hidden_size": 12, "num_hidden_layers": 2,
                          "num_attention_heads": 3, "intermediate_size": 20,
                          "max_position_embeddings": 10, "type_vocab_size": 2,
                          "initializer_range": 0.5, "hidden_dropout_prob": 0.1,
                          "attention_probs_dropout_prob": 0.1, "num_labels": 3},
              "sizes": (1, 5, 16)}
    head = "cls"
    pooler = True
    conventions = CONVENTIONS

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.num_labels, bool) or not isinstance(self.num_labels, (int, np.integer)) \
                or self.num_labels < 2:
            raise ValueError(f"bert_cls: num_labels must be an integer >= 2 (single-label "
                             f"classification; Hugging Face's num_labels=1 is regression, "
                             f"not implemented), got {self.num_labels!r}")
        if self.classifier_dropout is not None:
            _rate(self, "classifier_dropout")

    @property
    def n_classes(self) -> int:
        return self.num_labels

    def classifier_rate(self):
        """Hugging Face's rule: ``classifier_dropout``, else ``hidden_dropout_prob``."""
        return (self.hidden_dropout_prob if self.classifier_dropout is None
                else self.classifier_dropout)

    def head_shapes(self):
        return {"classifier.weight": (self.num_labels, self.hidden_size),
                "classifier.bias": (self.num_labels,)}

    def example(self, n=8, seed=0, dtype="float64", *, length=None):
        """:meth:`BertSpec.example_inputs` and a class id per sequence."""
        check_dtype(dtype)
        n = check_batch_size(n)
        T = self.example_length(length)
        rng = np.random.default_rng(seed)
        batch = self.example_inputs(n, rng, T)
        return {**batch, "y": rng.integers(0, self.num_labels, size=n).astype(np.int64)}

