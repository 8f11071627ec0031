"""PyTorch trainer: ``module.train()``, ``zero_grad``, ``backward``, ``opt.step()``;
evaluation under ``module.eval()`` and ``torch.inference_mode()``."""

from __future__ import annotations

import numpy as np

from mlsandbox.engine import trainer
from models._frameworks import load_torch

torch = load_torch()
F = torch.nn.functional


class Trainer(trainer.Trainer):
    backend = "torch"

    def __init__(self, net, params, optimizer, hyper, opt_state, seed=0):
        super().__init__(net, params, optimizer, hyper, opt_state, seed)
        torch.manual_seed(seed)                     # dropout's RNG
        self.module = net.to_native(params)
        self.opt = net.optimizer(optimizer, self.hyper,
                                 list(net._named_for_opt(self.module).values()))
        net.set_opt_state(self.opt, self.module, opt_state)
        self.scheduler = net.scheduler(self.hyper["lr"], self.opt)
        self.step0, self.steps, self.names = int(opt_state["step"]), 0, set(opt_state)
        for _ in range(self.step0 if self.scheduler else 0):
            self.scheduler.step()

    def train_step(self, x, y):
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        self.module.train()
        self.opt.zero_grad(set_to_none=True)
        logits = self.module(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        self.opt.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.steps += 1
        return loss.detach(), (logits.argmax(1) == y).sum()

    def eval_step(self, x, y):
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        self.module.eval()
        with torch.inference_mode():
            logits = self.module(x)
            return F.cross_entropy(logits, y), (logits.argmax(1) == y).sum()

    def state(self):
        params = self.net.from_native(self.module)
        opt_state = self.net.get_opt_state(self.opt, self.module, self.names,
                                           self.step0 + self.steps)
        return params, opt_state
