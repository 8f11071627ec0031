"""Text classifier, Keras, with the Functional API as the walkthrough writes it
(``mask_zero=True`` carries the padding mask to ``GlobalAveragePooling1D``)."""

from __future__ import annotations

from models.adapters.keras_adapter import Dropout, KerasNetwork, keras


def TextClf(spec, *, dtype):                                    # noqa: N802 - a model
    x = keras.Input(shape=(None,), dtype="int64", name="ids")   # (n, T), 0 = padding
    e = keras.layers.Embedding(spec.vocab_size, spec.embedding_dim, mask_zero=True,
                               name="embedding", dtype=dtype)(x)
    pooled = keras.layers.GlobalAveragePooling1D(dtype=dtype)(e)   # masked mean
    h = keras.layers.Dense(spec.hidden, activation="relu", name="dense1", dtype=dtype)(
        Dropout(spec.dropout_rate, name="dropout", dtype=dtype)(pooled))
    logit = keras.layers.Dense(1, name="dense2", dtype=dtype)(h)
    return keras.Model(x, logit, name="textclf")


class Network(KerasNetwork):
    module = staticmethod(TextClf)   # a function that builds the Functional model
