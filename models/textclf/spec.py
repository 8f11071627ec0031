"""The embedding-based sentiment classifier (TensorFlow's "Word embeddings" tutorial)::

    ids (n, T) -> Embedding(vocab_size, embedding_dim) -> masked global average pooling
        -> [Dropout(rate)] -> Dense(hidden) ReLU -> Dense(1) -> the logit of "positive"

trained with sigmoid cross-entropy on labels 0/1.  Id 0 is padding (excluded from the
mean), id 1 the out-of-vocabulary token (an ordinary row), as
:class:`mlsandbox.text.Vocabulary` numbers them.

Canonical parameters (Keras names; dense kernels (in, out)):

====================  =========================
embedding.embeddings  (vocab_size, embedding_dim)
dense1.kernel         (embedding_dim, hidden)
dense1.bias           (hidden,)
dense2.kernel         (hidden, 1)
dense2.bias           (1,)
====================  =========================

The padding row (0) never reaches the output, so its gradient is 0 in every framework:
torch's ``padding_idx=0`` and Keras's ``mask_zero=True`` (which only masks the pooling)
give the same numbers here; their general difference is the convention below.  A
sequence of padding only pools to 0 here, in torch and in JAX (the count is guarded), but
to NaN in Keras (``GlobalAveragePooling1D`` divides by the raw count).

Init: Keras's defaults, the tutorial's: the embedding uniform in ±0.05, kernels
glorot-uniform, biases zero.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from models._spec import (NAN_RELU_GRADIENT, Convention, Objective, Spec, check_batch_size,
                          check_dtype)


@dataclasses.dataclass(frozen=True)
class TextClfSpec(Spec):
    name = "textclf"
    #: the parity suite's small config and batch sizes (mlsandbox/testing/cases.py)
    parity = {"config": {"vocab_size": 50, "seq_len": 12, "dropout_rate": 0.2},
              "sizes": (1, 7, 32)}
    n_classes = 2
    conventions = (
        NAN_RELU_GRADIENT,
        Convention(
            topic="embedding padding",
            frameworks="torch vs Keras vs Flax",
            difference="torch Embedding(padding_idx=0) gives row 0 no gradient (and inits it "
                       "to 0); Keras Embedding(mask_zero=True) only masks the layers downstream "
                       "and trains row 0; Flax's Embed has neither",
            size="0 here: the masked pooling never reads a padding position; "
                 "tests/test_kernels_text.py measures the general case",
            setting="torch padding_idx=0, Keras mask_zero=True, Flax an explicit mask"),
        Convention(
            topic="embedding init",
            frameworks="torch vs Keras vs Flax",
            difference="torch N(0, 1); Keras U(±0.05); Flax N(0, 1/features)",
            size="not a parity difference: every backend loads the canonical parameters",
            setting="the canonical init is Keras's (the tutorial's)"),
        Convention(
            topic="masked mean of an all-padding sequence",
            frameworks="Keras vs NumPy, torch, JAX",
            difference="Keras GlobalAveragePooling1D(mask) divides by the raw count: 0/0 = NaN; "
                       "the others guard the count and pool to 0",
            size="NaN logits for that example in Keras only; "
                 "parity/test_textclf.py::test_convention_all_padding_sequence",
            setting="none: Keras's own layer"),
        Convention(
            topic="sparse embedding gradients",
            frameworks="Keras (TensorFlow) vs NumPy, torch, JAX",
            difference="TF's gradient of the lookup is IndexedSlices (a row per position); "
                       "Keras's Adam then squares each position's gradient of a repeated "
                       "token on its own (Σg² for (Σg)²)",
            size="8.4e-2 in the losses after 100 Adam steps (lr 1e-2); one SGD step equal",
            setting="the Keras adapter densifies the gradient (dense_gradients = True); "
                    "parity/test_textclf.py::test_convention_keras_sparse_embedding_gradients"),
        Convention(
            topic="GlobalAveragePooling1D without a mask",
            frameworks="Keras (the TF tutorial) vs ours",
            difference="without mask_zero (or a mask) Keras averages over the padding too",
            size="shown by tests/test_kernels_text.py",
            setting="mask_zero=True on the Embedding, so the mask reaches the pooling"),
    )

    vocab_size: int = 10000
    embedding_dim: int = 16
    hidden: int = 16
    seq_len: int = 100
    dropout_rate: float = 0.0

    def __post_init__(self):
        self.check_positive_ints("vocab_size", "embedding_dim", "hidden", "seq_len")
        self.check_finite("dropout_rate")
        if self.vocab_size < 3:
            raise ValueError(f"textclf: vocab_size must be >= 3 (padding 0, unknown 1 and a "
                             f"word), got {self.vocab_size}")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"textclf: dropout_rate must lie in [0, 1), got "
                             f"{self.dropout_rate}")

    def inputs(self):
        return {"x": ((None,), "int")}

    def input_shape(self):
        return (self.seq_len,)

    def input_range(self, key):
        return (0, self.vocab_size)

    def objective(self):
        return Objective("sigmoid_cross_entropy")

    def dropout(self):
        return {"dropout": self.dropout_rate} if self.dropout_rate > 0 else {}

    def mask_shape(self, name):
        return (self.embedding_dim,)

    def param_shapes(self):
        return {
            "embedding.embeddings": (self.vocab_size, self.embedding_dim),
            "dense1.kernel": (self.embedding_dim, self.hidden),
            "dense1.bias": (self.hidden,),
            "dense2.kernel": (self.hidden, 1),
            "dense2.bias": (1,),
        }

    def init(self, seed=0, dtype="float64"):
        """Keras's defaults: embedding U(±0.05), glorot-uniform kernels, zero biases."""
        dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        out = {}
        for k, shape in self.param_shapes().items():
            if k == "embedding.embeddings":
                a = rng.uniform(-0.05, 0.05, shape)
            elif k.endswith("kernel"):
                lim = np.sqrt(6.0 / (shape[0] + shape[1]))
                a = rng.uniform(-lim, lim, shape)
            else:
                a = np.zeros(shape)
            out[k] = a.astype(dtype)
        return out

    def example(self, n=8, seed=0, dtype="float64"):
        """Random reviews: ids in [1, vocab_size) (1, the unknown word, included), each
        of a random length in [1, seq_len], padded with 0 at the end; labels 0/1."""
        check_dtype(dtype)
        n = check_batch_size(n)
        rng = np.random.default_rng(seed)
        x = rng.integers(1, self.vocab_size, size=(n, self.seq_len)).astype(np.int64)
        lengths = rng.integers(1, self.seq_len + 1, size=n)
        x[np.arange(self.seq_len)[None, :] >= lengths[:, None]] = 0
        return {"x": x, "y": rng.integers(0, 2, size=n).astype(np.int64)}
