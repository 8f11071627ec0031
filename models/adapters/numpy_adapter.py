"""The NumPy reference backend: hand-derived forward and backward, composed of kernels."""

from __future__ import annotations

import inspect

import numpy as np

from kernels import optim
from kernels.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from models._network import Network


class NumpyNetwork(Network):
    """Subclasses implement ``forward_cache(params, x) -> (logits, cache)`` and
    ``backward(dlogits, cache) -> grads``.  Networks with dropout or batch norm take the
    mode as well, ``forward_cache(params, x, *, train, masks)``, and give the updated
    running statistics through :meth:`state_update`."""

    backend = "numpy"

    def forward_cache(self, params, x):
        raise NotImplementedError

    def backward(self, dlogits, cache) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def to_native(self, params):
        return {k: np.array(v) for k, v in params.items()}

    def from_native(self, native):
        return {k: np.array(native[k]) for k in self.spec.param_shapes()}

    def _forward(self, params, x, *, train=False, masks=None):
        return self._forward_cache(params, x, train, masks)[0]

    def _forward_cache(self, params, x, train, masks):
        """``forward_cache`` with the mode, for networks that take one (the MLP has no
        mode-dependent layer and is called as before)."""
        if self._takes_mode():
            return self.forward_cache(params, x, train=train, masks=masks)
        return self.forward_cache(params, x)

    def _takes_mode(self) -> bool:
        ps = inspect.signature(self.forward_cache).parameters.values()
        return any(p.name == "train" or p.kind is p.VAR_KEYWORD for p in ps)

    def _loss_and_grads(self, params, x, y, *, train=False, masks=None):
        return self._loss_grads_cache(params, x, y, train, masks)[:2]

    def _loss_grads_cache(self, params, x, y, train, masks):
        logits, cache = self._forward_cache(params, x, train, masks)
        loss, loss_cache = softmax_cross_entropy_forward(logits, y)
        grads = self.backward(softmax_cross_entropy_backward(1.0, loss_cache), cache)
        value, pgrads = self.penalty(params)
        for k, g in pgrads.items():
            grads[k] = grads[k] + g
        return loss + value, grads, cache

    def penalty(self, params) -> tuple[float, dict[str, np.ndarray]]:
        """A term added to the loss (an L2 penalty) and its gradients; none by default."""
        return 0.0, {}

    def state_update(self, cache) -> dict[str, np.ndarray]:
        """New values of the non-trainable state after a train-mode forward (batch norm
        running statistics), read from its cache.  None by default."""
        return {}

    def _train(self, params, source, optimizer, hyper, opt_state):
        trainable = self.spec.trainable()
        state = dict(opt_state)
        losses = []
        for batch in source:
            x, y, masks = batch["x"], batch["y"], batch.get("masks")
            if self.spec.state_names():
                loss, grads, cache = self._loss_grads_cache(params, x, y, True, masks)
                params = {**params, **self.state_update(cache)}
            else:  # a network may define its own objective in _loss_and_grads
                loss, grads = self._loss_and_grads(params, x, y, train=True, masks=masks)
            new, state = optim.update(optimizer, {k: params[k] for k in trainable},
                                      {k: grads[k] for k in trainable}, state, hyper)
            params = {**params, **new}
            losses.append(loss)
        return params, losses, state
