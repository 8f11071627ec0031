"""The PyTorch backend: an ``nn.Module``, autograd, ``torch.optim``.

Canonical params are (in, out) for dense kernels and HWIO for convolutions; torch keeps
(out, in) and OIHW.  Each network's torch file lists its transposed parameters in one
table, ``LAYOUT = {canonical name: (torch name, permutation or None)}``, and this adapter
applies it both ways.

Data-parallel training (``devices=N``) is ``DistributedDataParallel`` in a process group
of N ranks (gloo on CPU; ``torchrun`` or :mod:`mlsandbox.engine.launch`
starts them): every rank holds the global batch and trains on its contiguous shard, DDP
averages the gradients.  So that the average is the single-device gradient, each rank's
loss is weighted by its share of the global batch and per-example penalties are scaled
by the global batch size (:meth:`TorchNetwork.objective`).  Two things differ from one
device, by torch's design: batch norm normalizes with each replica's statistics
(``SyncBatchNorm`` needs a GPU) and rank 0's running statistics are kept; dropout
without injected masks draws each rank's masks from ``(seed, step, rank)``.
"""

from __future__ import annotations

import numpy as np

from kernels import schedules
from models.frameworks import load_torch, torch_device
from models._network import Network, Trainer, step_seed

torch = load_torch()
nn = torch.nn

#: (in, out) -> (out, in), and HWIO -> OIHW.
DENSE_T = (1, 0)
CONV_T = (3, 2, 0, 1)


def _inverse(perm):
    return tuple(np.argsort(perm))


F = torch.nn.functional

#: loss kind (models.Objective) -> torch's own loss on ``(logits, y)``, a mean
LOSSES = {
    "softmax_cross_entropy": F.cross_entropy,
    "sigmoid_cross_entropy": lambda z, y: F.binary_cross_entropy_with_logits(
        z[:, 0], y.to(z.dtype)),
    # the mean over the labels kept; 0 when none is (torch's mean would give 0/0 = NaN)
    "masked_cross_entropy": lambda z, y: F.cross_entropy(
        z.flatten(0, -2), y.flatten(), ignore_index=-100, reduction="sum") / (
        (y != -100).sum().clamp(min=1)),
}


def metrics(kind: str, logits, y, loss) -> dict:
    """``{"loss", "correct", "count"}`` as torch scalars (no synchronization)."""
    if kind == "sigmoid_cross_entropy":
        return {"loss": loss.detach(), "correct": ((logits[:, 0] > 0) == y).sum(),
                "count": y.shape[0]}
    if kind == "masked_cross_entropy":
        keep = y != -100
        return {"loss": loss.detach(), "correct": ((logits.argmax(-1) == y) & keep).sum(),
                "count": keep.sum()}
    return {"loss": loss.detach(), "correct": (logits.argmax(-1) == y).sum(),
            "count": y.shape[0]}


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
    #: torch.optim computes torch's momentum form, eps outside sqrt(v_hat) (Adam) and
    #: outside the square root (RMSprop) only
    FORMS = {"momentum_form": ("torch",), "eps_hat": (False,), "eps_in_sqrt": (False,)}
    DATA_PARALLEL = "torch.nn.parallel.DistributedDataParallel"
    DATA_PARALLEL_PROCESSES = True
    module: type = None
    LAYOUT: dict[str, tuple[str, tuple[int, ...] | None]] = {}

    def __init__(self, spec):
        super().__init__(spec)
        self._modules: dict = {}
        #: where the modules and tensors live (:func:`models.frameworks.torch_device`)
        self.device = torch_device()

    def build(self, dtype):
        return self.module(self.spec, dtype=dtype).to(self.device)

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
            g = named[name].grad.detach().cpu().numpy()
            out[k] = np.array(g.transpose(_inverse(perm)) if perm else g)
        return out

    def _call(self, module, inputs, train: bool, masks, runner=None):
        """``module(*inputs)`` in train or eval mode with ``masks`` injected into the
        :class:`Dropout` layers named like the canonical mask keys; ``runner`` (the DDP
        wrapper of ``module``) makes the call when given."""
        module.train(train)
        dropouts = {n: m for n, m in module.named_modules() if isinstance(m, Dropout)}
        try:
            for n, m in dropouts.items():
                m.injected = None if masks is None or n not in masks else masks[n]
            return (runner or module)(*inputs)
        finally:
            for m in dropouts.values():
                m.injected = None

    def tensors(self, arrays: dict, masks) -> tuple:
        """``(inputs, y, masks)`` as torch tensors on :attr:`device` (no copies on the
        CPU where NumPy allows)."""
        def tensor(a):
            return torch.from_numpy(a).to(self.device)

        inputs = tuple(tensor(np.ascontiguousarray(arrays[k])) for k in self.spec.inputs())
        y = tensor(np.asarray(arrays["y"], np.int64)) if "y" in arrays else None
        m = None if masks is None else {k: tensor(np.ascontiguousarray(v))
                                        for k, v in masks.items()}
        return inputs, y, m

    def seed_dropout(self, masks, seed: int, step: int, *rank: int) -> None:
        """Seed torch's global generator at ``(seed, step)`` (a data-parallel replica:
        ``(seed, step, rank)``) when a dropout layer will draw its own mask (the rule of
        :mod:`models._network`); nothing otherwise."""
        rates = self.spec.dropout()
        if rates and (masks is None or len(masks) < len(rates)):
            torch.manual_seed(step_seed(seed, step, *rank))

    # -- the objective, once for every network ------------------------------------------
    def objective(self, module, logits, y, share: float = 1.0, n: int | None = None):
        """The spec's loss on ``logits`` plus its penalties on ``module``'s weights.

        A data-parallel rank passes ``share`` (world size x its share of the global
        batch's predictions) and ``n`` (the global batch size): the mean of the ranks'
        gradients is then the gradient of the global batch's objective."""
        obj = self.spec.objective()
        loss = LOSSES[obj.loss](logits, y)
        if share != 1.0:
            loss = loss * share
        if obj.penalties:
            named = dict(module.named_parameters())
            n = logits.shape[0] if n is None else n
            for p in obj.penalties:
                for k in p.params:
                    w = named[self.LAYOUT[k][0]]
                    loss = loss + p.scale(n) * (w.square().sum() if p.kind == "l2"
                                                else w.abs().sum())
        return loss

    # -- contract -----------------------------------------------------------------------
    def _forward(self, params, batch, *, train=False, masks=None):
        module = self._load(params)
        inputs, _, m = self.tensors({k: batch[k] for k in self.spec.inputs()}, masks)
        if train:
            self.seed_dropout(m, 0, 0)
        with torch.no_grad():
            return self._call(module, inputs, train, m).cpu().numpy()

    def _loss_and_grads(self, params, batch, *, train=False, masks=None):
        module = self._load(params)
        module.zero_grad(set_to_none=True)
        inputs, y, m = self.tensors(batch, masks)
        if train:
            self.seed_dropout(m, 0, 0)
        loss = self.objective(module, self._call(module, inputs, train, m), y)
        loss.backward()
        return loss.item(), self._grads(module)

    # -- optimizers ---------------------------------------------------------------------
    def optimizer(self, name: str, hyper: dict, parameters):
        """The ``torch.optim`` optimizer for canonical ``name``/``hyper`` (lr: the
        schedule's initial value; :meth:`scheduler` does the rest)."""
        h = dict(hyper)
        lr = h["lr"].lr0 if isinstance(h["lr"], schedules.Schedule) else h["lr"]
        if name == "sgd":
            return torch.optim.SGD(parameters, lr=lr, momentum=h["momentum"],
                                   nesterov=h["nesterov"])
        if name in ("adam", "adamw"):
            cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
            return cls(parameters, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                       weight_decay=h["weight_decay"])
        if name == "rmsprop":
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

    def opt_parameters(self, module) -> dict:
        """Canonical name -> the module's parameter, for the trainable ones."""
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
        for k, p in self.opt_parameters(module).items():
            entry = {}
            for prefix, key in self.STATE_KEYS.items():
                if prefix + k in state:
                    entry[key] = self._native(k, state[prefix + k]).to(p.device)
            if not isinstance(opt, torch.optim.SGD):
                entry["step"] = torch.tensor(float(step), dtype=torch.float32)
            opt.state[p] = entry

    def get_opt_state(self, opt, module, names, step: int) -> dict:
        """The canonical optimizer state (``names``) read back from ``opt``."""
        out = {"step": np.array(step, dtype=np.int64)}
        params = self.opt_parameters(module)
        for prefix, key in self.STATE_KEYS.items():
            for k, p in params.items():
                if prefix + k in names:
                    a = opt.state[p][key].detach().cpu().numpy()
                    perm = self.LAYOUT[k][1]
                    out[prefix + k] = np.array(a.transpose(_inverse(perm)) if perm else a)
        return out



class TorchTrainer(Trainer):
    """torch's step as its users write it: ``module.train()``, ``opt.zero_grad()``, the
    loss, ``loss.backward()``, ``opt.step()``, the scheduler stepped once per update."""

    def _setup(self, params, opt_state):
        net = self.net
        self.module = net.to_native(params)
        self.ddp, self.rank = None, 0
        if self.devices > 1:
            self.ddp, self.rank = _data_parallel(self.module, self.devices)
        self.opt = net.optimizer(self.optimizer, self.hyper,
                                 list(net.opt_parameters(self.module).values()))
        net.set_opt_state(self.opt, self.module, opt_state)
        self.scheduler = net.scheduler(self.hyper["lr"], self.opt)
        for _ in range(self.step0 if self.scheduler else 0):  # resume a schedule
            self.scheduler.step()
        self.kind = self.spec.objective().loss

    def _native(self, arrays, masks):
        return self.net.tensors(arrays, masks)

    def _step(self, b, step):
        if self.ddp is not None:
            return self._ddp_step(b, step)
        inputs, y, masks = b.native
        self.net.seed_dropout(masks, self.seed, step)
        self.opt.zero_grad(set_to_none=True)
        logits = self.net._call(self.module, inputs, True, masks)
        loss = self.net.objective(self.module, logits, y)
        loss.backward()
        self.opt.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return metrics(self.kind, logits.detach(), y, loss)

    def _ddp_step(self, b, step):
        """One rank's part of a data-parallel step: its shard of the global batch, the
        loss weighted by its share, DDP's gradient average in ``backward``; the metrics
        summed over the ranks (the global batch's)."""
        inputs, y, masks = b.native
        lo, hi = self.rank * b.n // self.devices, (self.rank + 1) * b.n // self.devices
        inputs = tuple(t[lo:hi] for t in inputs)
        ys = y[lo:hi]
        masks = None if masks is None else {k: m[lo:hi] for k, m in masks.items()}
        share = self.devices * self.spec.objective().shares(b.arrays["y"],
                                                            self.devices)[self.rank]
        self.net.seed_dropout(masks, self.seed, step, self.rank)
        self.opt.zero_grad(set_to_none=True)
        logits = self.net._call(self.module, inputs, True, masks, runner=self.ddp)
        loss = self.net.objective(self.module, logits, ys, share, b.n)
        loss.backward()
        self.opt.step()
        if self.scheduler is not None:
            self.scheduler.step()
        m = metrics(self.kind, logits.detach(), ys, loss)
        f64 = {"dtype": torch.float64, "device": loss.device}
        total = torch.stack([m["loss"].to(torch.float64) / self.devices,
                             torch.as_tensor(m["correct"], **f64),
                             torch.as_tensor(m["count"], **f64)])
        torch.distributed.all_reduce(total)
        return {"loss": total[0].to(loss.dtype), "correct": int(total[1]),
                "count": int(total[2])}

    def _run_list(self, batches, step):
        return torch.stack([self._step(b, step + i)["loss"]
                            for i, b in enumerate(batches)]).cpu().numpy()

    def _run_repeat(self, b, steps, step):
        return torch.stack([self._step(b, step + i)["loss"]
                            for i in range(steps)]).cpu().numpy()

    def _evaluate(self, b):
        inputs, y, _ = b.native
        self.module.eval()
        with torch.inference_mode():
            logits = self.module(*inputs)
            return metrics(self.kind, logits, y, self.net.objective(self.module, logits, y))

    def _predict(self, b):
        self.module.eval()
        with torch.inference_mode():
            out = self.module(*b.native[0])
        if out.is_cuda:   # kernels run asynchronously on a GPU: wait for them
            torch.cuda.synchronize(out.device)
        return out

    def _state(self):
        return (self.net.from_native(self.module),
                self.net.get_opt_state(self.opt, self.module, set(self.state_names),
                                       self.step_count))


TorchNetwork.Trainer = TorchTrainer


def _data_parallel(module, devices: int):
    """``(DDP wrapper of module, rank)`` in the process group of ``devices`` ranks."""
    from models._spec import ContractError

    dist = torch.distributed
    if not dist.is_available() or not dist.is_initialized():
        raise ContractError(
            f"devices={devices}: torch trains data-parallel in {devices} processes, one "
            f"per rank; start them with torchrun --nproc-per-node {devices} (the process "
            f"group initialized, gloo on CPU) or through mlsandbox.engine.fit(devices="
            f"{devices}), which launches them")
    if dist.get_world_size() != devices:
        raise ContractError(f"devices={devices}, but the torch process group has "
                            f"{dist.get_world_size()} ranks")
    return nn.parallel.DistributedDataParallel(module), dist.get_rank()


def environment() -> dict:
    """What a timing of this backend depends on: version, intra-op threads, device."""
    return {"backend": "torch", "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "torch_device": str(torch_device()),
            **({"gpu": torch.cuda.get_device_name()} if torch_device().type == "cuda"
               else {})}
