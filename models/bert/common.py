"""What every backend's BERT network shares: :meth:`BertOutputs.encode`."""

from __future__ import annotations

from typing import Mapping

import numpy as np


class BertOutputs:
    """Mixed into each backend's BERT ``Network``: the encoder's outputs besides the
    logits, as ``BertModel`` returns them.

    A backend implements ``_encode(params, batch) -> {"last_hidden_state": (n, T, hidden),
    "pooler_output": (n, hidden)}`` (the pooler output only for ``bert_cls``, whose
    encoder has one; ``BertForMaskedLM`` has none), always in eval mode.
    """

    def encode(self, params: Mapping[str, np.ndarray], batch: Mapping) -> dict[str, np.ndarray]:
        """``{"last_hidden_state": (n, T, hidden)}``, and ``"pooler_output"`` (n, hidden)
        for ``bert_cls``: the outputs of Hugging Face's ``BertModel`` (eval mode, no
        dropout), in the params' dtype.  ``batch`` needs the inputs only (no ``y``)."""
        dtype = self.spec.check_params(params)
        self.spec.check_batch(batch, dtype, labels=False)
        out = self._encode(params, batch)
        names = ("last_hidden_state", "pooler_output") if self.spec.pooler else \
            ("last_hidden_state",)
        return {k: np.asarray(out[k]) for k in names}

    def _encode(self, params, batch) -> dict:
        raise NotImplementedError
