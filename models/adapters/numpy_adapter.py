"""The NumPy reference backend: hand-derived forward and backward, composed of kernels.

A network implements ``forward_cache(params, *inputs, train=False, masks=None) ->
(logits, cache)`` and ``backward(dlogits, cache) -> grads``; networks with batch norm also
``state_update(cache)``.  In train mode ``masks`` holds a mask for every dropout layer
(injected by the batch, or drawn here from ``numpy.random.default_rng([seed, step])``):
the reference itself has no RNG.  The objective of the spec (:class:`models.Objective`)
and the optimizers (:mod:`kernels.optim`) are applied here, once, for every network.
"""

from __future__ import annotations

import numpy as np

from kernels import optim
from kernels.logistic import sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward
from kernels.losses import (softmax_cross_entropy_backward, softmax_cross_entropy_forward,
                            softmax_cross_entropy_ignore_backward,
                            softmax_cross_entropy_ignore_forward)
from kernels.regularization import (l1_penalty_backward, l1_penalty_forward,
                                    l2_penalty_backward, l2_penalty_forward)
from models._network import Network, Trainer

PENALTIES = {"l2": (l2_penalty_forward, l2_penalty_backward),
             "l1": (l1_penalty_forward, l1_penalty_backward)}


def _softmax_ce(logits, y):
    loss, cache = softmax_cross_entropy_forward(logits, y)
    return loss, softmax_cross_entropy_backward(1.0, cache)


def _sigmoid_ce(logits, y):
    loss, cache = sigmoid_cross_entropy_forward(logits[:, 0], y)
    return loss, sigmoid_cross_entropy_backward(1.0, cache)[:, None]


def _masked_ce(logits, y):
    loss, cache = softmax_cross_entropy_ignore_forward(logits, y)
    return loss, softmax_cross_entropy_ignore_backward(1.0, cache)


#: loss kind -> ``f(logits, y) -> (loss, dloss/dlogits)``
LOSSES = {"softmax_cross_entropy": _softmax_ce, "sigmoid_cross_entropy": _sigmoid_ce,
          "masked_cross_entropy": _masked_ce}


def metrics(kind: str, logits, y, loss) -> dict:
    """``{"loss", "correct", "count"}`` of one batch for loss ``kind``."""
    if kind == "sigmoid_cross_entropy":
        return {"loss": float(loss), "correct": int(((logits[:, 0] > 0) == y).sum()),
                "count": int(y.shape[0])}
    keep = y != -100 if kind == "masked_cross_entropy" else np.ones(y.shape, bool)
    return {"loss": float(loss), "correct": int(((logits.argmax(-1) == y) & keep).sum()),
            "count": int(keep.sum())}


class NumpyNetwork(Network):
    backend = "numpy"

    def forward_cache(self, params, *inputs, train=False, masks=None):
        raise NotImplementedError

    def backward(self, dlogits, cache) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def state_update(self, cache) -> dict[str, np.ndarray]:
        """New values of the non-trainable state after a train-mode forward (batch norm
        running statistics), read from its cache.  None by default."""
        return {}

    def to_native(self, params):
        return {k: np.array(v) for k, v in params.items()}

    def from_native(self, native):
        return {k: np.array(native[k]) for k in self.spec.param_shapes()}

    # -- the objective, once for every network ------------------------------------------
    def train_masks(self, arrays: dict, masks: dict | None, dtype: str, seed: int,
                    step: int) -> dict:
        """A mask for every dropout layer: the injected ones, the rest drawn from
        ``default_rng([seed, step])`` (:meth:`Spec.masks`)."""
        if not self.spec.dropout():
            return {}
        drawn = {}
        if masks is None or set(masks) != set(self.spec.dropout()):
            n = self.spec.batch_size(arrays)
            drawn = self.spec.masks(n, seed=[seed, step], dtype=dtype,
                                    length=self.spec.sequence_length(arrays))
        return {**drawn, **(masks or {})}

    def penalty(self, params, n: int) -> tuple[float, dict[str, np.ndarray]]:
        """The spec's penalty terms for a batch of ``n`` and their gradients."""
        value, grads = 0.0, {}
        for p in self.spec.objective().penalties:
            fwd, bwd = PENALTIES[p.kind]
            for k in p.params:
                v, c = fwd(params[k], p.scale(n))
                value = value + v
                grads[k] = grads.get(k, 0.0) + bwd(1.0, c)
        return value, grads

    def objective(self, params, arrays: dict, train: bool, masks):
        """``(objective, grads, cache, logits)`` of the batch ``arrays``."""
        logits, cache = self.forward_cache(params, *self.inputs(arrays), train=train,
                                           masks=masks)
        kind = self.spec.objective().loss
        loss, dlogits = LOSSES[kind](logits, arrays["y"])
        grads = self.backward(dlogits, cache)
        value, pgrads = self.penalty(params, logits.shape[0])
        for k, g in pgrads.items():
            grads[k] = grads[k] + g
        return loss + value, grads, cache, logits

    # -- contract -----------------------------------------------------------------------
    def _forward(self, params, batch, *, train=False, masks=None):
        if train:
            masks = self.train_masks(batch, masks, self.spec.check_params(params), 0, 0)
        return self.forward_cache(params, *self.inputs(batch), train=train, masks=masks)[0]

    def _loss_and_grads(self, params, batch, *, train=False, masks=None):
        if train:
            masks = self.train_masks(batch, masks, self.spec.check_params(params), 0, 0)
        return self.objective(params, batch, train, masks)[:2]


class NumpyTrainer(Trainer):
    """The reference's step: the hand-derived gradient, then :func:`kernels.optim.update`."""

    def _setup(self, params, opt_state):
        self.params, self.opt_state = params, dict(opt_state)

    def _step(self, b, step):
        net = self.net
        masks = net.train_masks(b.arrays, b.masks, self.dtype, self.seed, step)
        loss, grads, cache, logits = net.objective(self.params, b.arrays, True, masks)
        names = self.spec.trainable()
        new, self.opt_state = optim.update(self.optimizer, {k: self.params[k] for k in names},
                                           {k: grads[k] for k in names}, self.opt_state,
                                           self.hyper)
        self.params = {**self.params, **net.state_update(cache), **new}
        return metrics(self.spec.objective().loss, logits, b.arrays["y"], loss)

    def _evaluate(self, b):
        logits = self._predict(b)
        kind = self.spec.objective().loss
        loss, _ = LOSSES[kind](logits, b.arrays["y"])
        value, _ = self.net.penalty(self.params, logits.shape[0])
        return metrics(kind, logits, b.arrays["y"], loss + value)

    def _predict(self, b):
        return self.net.forward_cache(self.params, *self.net.inputs(b.arrays), train=False,
                                      masks=None)[0]

    def _state(self):
        return self.params, self.opt_state


NumpyNetwork.Trainer = NumpyTrainer


def environment() -> dict:
    """What a timing of this backend depends on: NumPy's version and its BLAS threads."""
    import importlib.metadata as md

    info = {"backend": "numpy", "numpy": np.__version__, "numpy_dist": md.version("numpy")}
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
    except ImportError:  # pragma: no cover
        pass
    return info
