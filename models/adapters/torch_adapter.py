"""The PyTorch backend: an ``nn.Module``, autograd, ``torch.optim``.

Canonical params are (in, out) for dense kernels and HWIO for convolutions; torch keeps
(out, in) and OIHW.  Each network's torch file lists its transposed parameters in one
table, ``LAYOUT = {canonical name: (torch name, permutation or None)}``, and this adapter
applies it both ways.
"""

from __future__ import annotations

import numpy as np

from kernels import schedules
from models._frameworks import load_torch
from models._network import Network, Repeat

torch = load_torch()
nn = torch.nn

#: (in, out) -> (out, in), and HWIO -> OIHW.
DENSE_T = (1, 0)
CONV_T = (3, 2, 0, 1)


def _inverse(perm):
    return tuple(np.argsort(perm))


class Dropout(nn.Dropout):
    """``nn.Dropout`` that uses an injected 0/1 mask when the adapter sets one
    (``mask / (1 - p)`` is the inverted scaling ``F.dropout`` applies to its own mask)."""

    injected = None

    def forward(self, x):
        if self.training and self.injected is not None:
            return x * self.injected / (1.0 - self.p)
        return super().forward(x)


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
        sd = self.state_dict(params)
        # batch norm's num_batches_tracked only matters for momentum=None: not canonical
        for k, v in module.state_dict().items():
            if k.endswith("num_batches_tracked"):
                sd.setdefault(k, v)
        module.load_state_dict(sd, strict=True)
        return module

    def _grads(self, module):
        named = dict(module.named_parameters())
        out = {}
        for k in self.spec.trainable():
            name, perm = self.LAYOUT[k]
            g = named[name].grad.detach().numpy()
            out[k] = np.array(g.transpose(_inverse(perm)) if perm else g)
        return out

    def _call(self, module, x, train: bool, masks):
        """``module(x)`` in train or eval mode with ``masks`` injected into the
        :class:`Dropout` layers named like the canonical mask keys."""
        module.train(train)
        dropouts = {n: m for n, m in module.named_modules() if isinstance(m, Dropout)}
        try:
            for n, m in dropouts.items():
                m.injected = None if masks is None or n not in masks else \
                    torch.from_numpy(np.ascontiguousarray(masks[n]))
            return module(x)
        finally:
            for m in dropouts.values():
                m.injected = None

    # -- contract -----------------------------------------------------------------------
    def _forward(self, params, x, *, train=False, masks=None):
        module = self._load(params)
        with torch.no_grad():
            return self._call(module, torch.from_numpy(np.ascontiguousarray(x)), train,
                              masks).numpy()

    def loss(self, logits, y):
        return torch.nn.functional.cross_entropy(logits, y)

    def penalty(self, module):
        """A term added to the loss (an L2 penalty on ``module``'s weights); None here."""
        return None

    def _objective(self, module, logits, y):
        loss = self.loss(logits, y)
        extra = self.penalty(module)
        return loss if extra is None else loss + extra

    def _loss_and_grads(self, params, x, y, *, train=False, masks=None):
        module = self._load(params)
        module.zero_grad(set_to_none=True)
        loss = self._objective(module, self._call(
            module, torch.from_numpy(np.ascontiguousarray(x)), train, masks),
            torch.from_numpy(np.asarray(y, np.int64)))
        loss.backward()
        return loss.item(), self._grads(module)

    # -- optimizers ---------------------------------------------------------------------
    def optimizer(self, name: str, hyper: dict, parameters):
        """The ``torch.optim`` optimizer for canonical ``name``/``hyper`` (lr: the
        schedule's initial value; :meth:`scheduler` does the rest)."""
        h = dict(hyper)
        lr = h["lr"].lr0 if isinstance(h["lr"], schedules.Schedule) else h["lr"]
        if name == "sgd":
            if h["momentum_form"] == "keras":
                raise ValueError("torch.optim.SGD computes the torch momentum form only "
                                 "(b = μb + g, p -= lr·b); momentum_form='keras' is Keras's")
            return torch.optim.SGD(parameters, lr=lr, momentum=h["momentum"],
                                   nesterov=h["nesterov"])
        if name in ("adam", "adamw"):
            if h["eps_hat"]:
                raise ValueError("torch.optim.Adam adds eps to sqrt(v_hat); eps_hat=True "
                                 "(Keras's form) has no torch setting")
            cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
            return cls(parameters, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                       weight_decay=h["weight_decay"])
        if name == "rmsprop":
            if h["eps_in_sqrt"]:
                raise ValueError("torch.optim.RMSprop adds eps outside the square root; "
                                 "eps_in_sqrt=True has no torch setting")
            return torch.optim.RMSprop(parameters, lr=lr, alpha=h["rho"], eps=h["eps"])
        raise ValueError(f"optimizer {name!r} has no torch.optim mapping")

    def scheduler(self, lr, opt):
        """The ``torch.optim.lr_scheduler`` for a :mod:`kernels.schedules` schedule
        (stepped once per update), or None for a constant learning rate."""
        sched = torch.optim.lr_scheduler
        if isinstance(lr, schedules.StepDecay):
            return sched.StepLR(opt, step_size=lr.step_size, gamma=lr.gamma)
        if isinstance(lr, schedules.Exponential):
            if lr.staircase:
                return sched.StepLR(opt, step_size=lr.decay_steps, gamma=lr.rate)
            return sched.ExponentialLR(opt, gamma=lr.rate ** (1.0 / lr.decay_steps))
        if isinstance(lr, schedules.Cosine):
            return sched.CosineAnnealingLR(opt, T_max=lr.decay_steps, eta_min=lr.alpha * lr.lr0)
        if isinstance(lr, schedules.Schedule):
            raise ValueError(f"schedule {type(lr).__name__} has no torch mapping")
        return None

    #: canonical state prefix -> torch per-parameter state key
    STATE_KEYS = {"momentum/": "momentum_buffer", "adam/mu/": "exp_avg",
                  "adam/nu/": "exp_avg_sq", "rmsprop/nu/": "square_avg"}

    def _named_for_opt(self, module):
        named = dict(module.named_parameters())
        return {k: named[self.LAYOUT[k][0]] for k in self.spec.trainable()}

    def _native(self, k, a):
        perm = self.LAYOUT[k][1]
        return torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(perm) if perm
                                                     else np.asarray(a)))

    def set_opt_state(self, opt, module, state: dict):
        """Write a canonical optimizer state into ``opt`` (nothing to write at step 0)."""
        step = int(state["step"])
        if step == 0:
            return
        for k, p in self._named_for_opt(module).items():
            entry = {}
            for prefix, key in self.STATE_KEYS.items():
                if prefix + k in state:
                    entry[key] = self._native(k, state[prefix + k])
            if not isinstance(opt, torch.optim.SGD):
                entry["step"] = torch.tensor(float(step), dtype=torch.float32)
            opt.state[p] = entry

    def get_opt_state(self, opt, module, names, step: int) -> dict:
        """The canonical optimizer state (``names``) read back from ``opt``."""
        out = {"step": np.array(step, dtype=np.int64)}
        params = self._named_for_opt(module)
        for prefix, key in self.STATE_KEYS.items():
            for k, p in params.items():
                if prefix + k in names:
                    a = opt.state[p][key].detach().numpy()
                    perm = self.LAYOUT[k][1]
                    out[prefix + k] = np.array(a.transpose(_inverse(perm)) if perm else a)
        return out

    def _train(self, params, source, optimizer, hyper, opt_state):
        module = self._load(params)
        opt = self.optimizer(optimizer, hyper, list(self._named_for_opt(module).values()))
        self.set_opt_state(opt, module, opt_state)
        step0 = int(opt_state["step"])
        scheduler = self.scheduler(hyper["lr"], opt)
        for _ in range(step0 if scheduler else 0):  # resume a schedule where it was
            scheduler.step()
        losses = []

        def tensors(b):
            return (torch.from_numpy(np.ascontiguousarray(b["x"])),
                    torch.from_numpy(np.asarray(b["y"], np.int64)), b.get("masks"))

        fixed = tensors(source.batch) if isinstance(source, Repeat) else None
        for b in source:
            x, y, masks = fixed or tensors(b)
            opt.zero_grad(set_to_none=True)
            loss = self._objective(module, self._call(module, x, True, masks), y)
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.detach())
        new_state = self.get_opt_state(opt, module, set(opt_state), step0 + len(losses))
        return self.from_native(module), torch.stack(losses).numpy(), new_state
