"""The PyTorch backend: an ``nn.Module``, autograd, ``torch.optim``.

Canonical params are (in, out) for dense kernels and HWIO for convolutions; torch keeps
(out, in) and OIHW.  Each network's torch file lists its transposed parameters in one
table, ``LAYOUT = {canonical name: (torch name, permutation or None)}``, and this adapter
applies it both ways.
"""

from __future__ import annotations

import numpy as np

from models._frameworks import load_torch
from models._network import Network, Repeat

torch = load_torch()
nn = torch.nn

#: (in, out) -> (out, in), and HWIO -> OIHW.
DENSE_T = (1, 0)
CONV_T = (3, 2, 0, 1)


def _inverse(perm):
    return tuple(np.argsort(perm))


class TorchNetwork(Network):
    """Subclasses set ``module`` (an ``nn.Module`` class built as
    ``module(spec, dtype=...)``) and ``LAYOUT``."""

    backend = "torch"
    module: type = None
    LAYOUT: dict[str, tuple[str, tuple[int, ...] | None]] = {}

    def __init__(self, spec):
        super().__init__(spec)
        self._modules: dict = {}

    def build(self, dtype):
        return self.module(self.spec, dtype=dtype)

    def cached(self, dtype: str):
        """A cached module of ``dtype`` (its weights are overwritten on every call)."""
        if dtype not in self._modules:
            self._modules[dtype] = self.build(getattr(torch, dtype))
        return self._modules[dtype]

    def state_dict(self, params) -> dict:
        """Canonical params -> a torch ``state_dict`` (tensors share no memory with input)."""
        out = {}
        for k, v in params.items():
            name, perm = self.LAYOUT[k]
            a = np.asarray(v)
            out[name] = torch.from_numpy(np.ascontiguousarray(
                a.transpose(perm) if perm else a))
        return out

    def to_native(self, params):
        module = self.build(getattr(torch, self.spec.check_params(params)))
        module.load_state_dict(self.state_dict(params), strict=True)
        return module

    def from_native(self, native):
        sd = {k: v.detach().cpu().numpy() for k, v in native.state_dict().items()}
        out = {}
        for k in self.spec.param_shapes():
            name, perm = self.LAYOUT[k]
            out[k] = np.array(sd[name].transpose(_inverse(perm)) if perm else sd[name])
        return out

    def _load(self, params):
        module = self.cached(np.asarray(next(iter(params.values()))).dtype.name)
        module.load_state_dict(self.state_dict(params), strict=True)
        return module

    def _grads(self, module):
        named = dict(module.named_parameters())
        out = {}
        for k in self.spec.param_shapes():
            name, perm = self.LAYOUT[k]
            g = named[name].grad.detach().numpy()
            out[k] = np.array(g.transpose(_inverse(perm)) if perm else g)
        return out

    # -- contract -----------------------------------------------------------------------
    def _forward(self, params, x):
        module = self._load(params)
        with torch.no_grad():
            return module(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    def loss(self, logits, y):
        return torch.nn.functional.cross_entropy(logits, y)

    def _loss_and_grads(self, params, x, y):
        module = self._load(params)
        module.zero_grad(set_to_none=True)
        loss = self.loss(module(torch.from_numpy(np.ascontiguousarray(x))),
                         torch.from_numpy(np.asarray(y, np.int64)))
        loss.backward()
        return loss.item(), self._grads(module)

    def optimizer(self, name: str, hyper: dict, parameters):
        if name == "sgd":
            return torch.optim.SGD(parameters, lr=hyper["lr"], momentum=hyper["momentum"],
                                        nesterov=hyper["nesterov"])
        raise ValueError(f"optimizer {name!r} has no torch.optim mapping yet")

    def _train(self, params, source, optimizer, hyper):
        module = self._load(params)
        opt = self.optimizer(optimizer, hyper, module.parameters())
        losses = []

        def tensors(b):
            return (torch.from_numpy(np.ascontiguousarray(b["x"])),
                    torch.from_numpy(np.asarray(b["y"], np.int64)))

        fixed = tensors(source.batch) if isinstance(source, Repeat) else None
        for b in source:
            x, y = fixed or tensors(b)
            opt.zero_grad(set_to_none=True)
            loss = self.loss(module(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        return self.from_native(module), torch.stack(losses).numpy()
