"""NumPy trainer: the reference's hand-derived forward/backward and ``kernels.optim``."""

from __future__ import annotations

import numpy as np

from kernels import optim
from kernels.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from mlsandbox.engine import trainer


class Trainer(trainer.Trainer):
    backend = "numpy"

    def __init__(self, net, params, optimizer, hyper, opt_state, seed=0):
        super().__init__(net, params, optimizer, hyper, opt_state, seed)
        self.params = {k: np.array(v) for k, v in params.items()}
        self.opt_state = {k: np.array(v) for k, v in opt_state.items()}

    def train_step(self, x, y):
        logits, cache = self.net._forward_cache(self.params, x, True, None)
        loss, loss_cache = softmax_cross_entropy_forward(logits, y)
        grads = self.net.backward(softmax_cross_entropy_backward(1.0, loss_cache), cache)
        names = self.spec.trainable()
        new, self.opt_state = optim.update(self.optimizer, {k: self.params[k] for k in names},
                                           {k: grads[k] for k in names}, self.opt_state,
                                           self.hyper)
        self.params = {**self.params, **self.net.state_update(cache), **new}
        return float(loss), int((logits.argmax(axis=1) == y).sum())

    def eval_step(self, x, y):
        logits, _ = self.net._forward_cache(self.params, x, False, None)
        loss, _ = softmax_cross_entropy_forward(logits, y)
        return float(loss), int((logits.argmax(axis=1) == y).sum())

    def state(self):
        return dict(self.params), dict(self.opt_state)
