"""The NumPy reference backend: hand-derived forward and backward, composed of kernels."""

from __future__ import annotations

import numpy as np

from kernels import optim
from kernels.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from models._network import Network


class NumpyNetwork(Network):
    """Subclasses implement ``forward_cache(params, x) -> (logits, cache)`` and
    ``backward(dlogits, cache) -> grads``."""

    backend = "numpy"

    def forward_cache(self, params, x):
        raise NotImplementedError

    def backward(self, dlogits, cache) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def to_native(self, params):
        return {k: np.array(v) for k, v in params.items()}

    def from_native(self, native):
        return {k: np.array(native[k]) for k in self.spec.param_shapes()}

    def _forward(self, params, x):
        return self.forward_cache(params, x)[0]

    def _loss_and_grads(self, params, x, y):
        logits, cache = self.forward_cache(params, x)
        loss, loss_cache = softmax_cross_entropy_forward(logits, y)
        dlogits = softmax_cross_entropy_backward(1.0, loss_cache)
        return loss, self.backward(dlogits, cache)

    def _train(self, params, source, optimizer, hyper):
        init, update = optim.RULES[optimizer]
        state = init(params, **hyper)
        losses = []
        for batch in source:
            loss, grads = self._loss_and_grads(params, batch["x"], batch["y"])
            params, state = update(params, grads, state, **hyper)
            losses.append(loss)
        return params, losses
