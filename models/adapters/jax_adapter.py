"""The JAX/Flax backend: an ``nnx.Module`` run functionally, optax for training.

The module is split once into its graph definition; every call merges that graph with a
nested dict of canonical params (``"dense1.kernel"`` -> ``{"dense1": {"kernel": ...}}``),
so the same jitted function serves any params of the same dtype.  Where nnx names a
variable differently from the canonical table (batch norm's ``scale``/``mean``), the
network lists it in ``NAMES = {canonical: nnx path}``; where nnx holds the canonical
array with its axes permuted (``nnx.Linear``'s kernel (in, out) for a table in torch's
(out, in)), in ``LAYOUT = {canonical: permutation}``: applied once when params go in,
undone when params, gradients or optimizer state come out, so a step never transposes.
A tied copy (``spec.tied()``) has no variable of its own: the module uses the source
where the copy is used (JAX's autodiff then sums both uses), and the copy comes out
equal to its source.  Train mode is nnx's own
``module.train()`` (dropout active, batch statistics); the updated ``nnx.BatchStat``
values come back from the loss as auxiliary output, since the merged module is
temporary.

:class:`JaxTrainer` is the one training step: a pure function (value_and_grad of the
spec's objective, the optax update) under ``jax.jit`` with the params, batch statistics
and optimizer state donated; a full-batch run, or a run of equal-shaped batches, is one
``lax.scan`` of that step (no host round trip per step).  Data-parallel (``devices=N``)
is the same program under ``jax.sharding``: the batch sharded over a one-axis device
mesh ``"data"``, params and optimizer state replicated, XLA's SPMD partitioner inserting
the all-reduces; across processes the mesh spans every process's devices
(``jax.distributed``).  Since the program is the single-device one, batch norm's
statistics and the dropout masks are the global batch's.  A kernel set
(:mod:`models.adapters.jax_accel`) changes how the objective's gradient is computed
(:meth:`JaxNetwork.grad_fn`) and which device arrays a batch holds
(:meth:`JaxNetwork.device_arrays`), and nothing else.
"""

from __future__ import annotations

import numpy as np

from kernels import schedules
from models.frameworks import load_flax
from models._network import Network, Trainer
from models._spec import ContractError

jax, jnp, nnx, optax = load_flax()


def nest(flat: dict) -> dict:
    """``{"a.b": x}`` -> ``{"a": {"b": x}}``."""
    out: dict = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def flatten(tree: dict, prefix: str = "") -> dict:
    """Inverse of :func:`nest`."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def conv_relu(conv, x):
    """``relu(conv(x))``: a conv network's block as Flax users write it (the default of
    the modules' ``block=``; :func:`kernels.accel.conv.conv_relu` is the fused one)."""
    return nnx.relu(conv(x))


class Dropout(nnx.Dropout):
    """``nnx.Dropout`` that uses an injected 0/1 mask (or key) when the adapter sets one;
    the kept units are scaled by ``1/(1 - rate)`` as nnx does with its own mask."""

    def __call__(self, inputs, *, deterministic=None, rngs=None):
        injected = getattr(self, "_injected", None)
        det = self.deterministic if deterministic is None else deterministic
        if det or injected is None or self.rate == 0.0:
            return super().__call__(inputs, deterministic=deterministic, rngs=rngs)
        if isinstance(injected, dict):  # {"key": key}: nnx's own mask from this key
            return super().__call__(inputs, deterministic=False, rngs=injected["key"])
        return inputs * injected.astype(inputs.dtype) / (1.0 - self.rate)


class JaxNetwork(Network):
    """Subclasses set ``module``: an ``nnx.Module`` class built as
    ``module(spec, dtype=..., rngs=...)``, and ``NAMES`` where nnx's variable paths
    differ from the canonical names."""

    backend = "jax"
    #: optax computes torch's momentum form and eps outside sqrt(nu_hat) (Adam);
    #: optax.rmsprop takes ``eps_in_sqrt`` (its default: inside)
    FORMS = {"momentum_form": ("torch",), "eps_hat": (False,), "eps_in_sqrt": (True, False)}
    DATA_PARALLEL = "jax.sharding"
    module: type = None
    NAMES: dict[str, str] = {}
    #: canonical name -> the axis permutation nnx's variable holds (module docstring; the
    #: Keras adapter's LAYOUT is the same table)
    LAYOUT: dict[str, tuple[int, ...]] = {}

    def __init__(self, spec):
        super().__init__(spec)
        self._graphs: dict = {}
        self._fns: dict = {}

    def build(self, dtype, rngs):
        return self.module(self.spec, dtype=dtype, rngs=rngs)

    # -- the functional core ---------------------------------------------------------
    def graphdef(self, dtype: str):
        if dtype not in self._graphs:
            module = self.build(jnp.dtype(dtype), nnx.Rngs(0))
            self._graphs[dtype] = nnx.split(module)[0]
        return self._graphs[dtype]

    def apply(self, tree, inputs, train=False, masks=None, key=None):
        """Logits of the module holding ``tree`` (nested params) on the tuple ``inputs``;
        traceable."""
        return self.apply_state(tree, inputs, train, masks, key)[0]

    def apply_state(self, tree, inputs, train=False, masks=None, key=None):
        """``(logits, new nested batch stats)`` of the module holding ``tree``.

        In train mode each :class:`Dropout` takes ``masks[<its path>]`` when given, else
        a mask drawn by nnx from ``key`` folded with the layer's index.
        """
        dtype = jnp.dtype(jax.tree.leaves(tree)[0].dtype).name   # the params' dtype
        module = nnx.merge(self.graphdef(dtype), tree)
        if train:
            module.train()
        else:
            module.eval()
        dropouts = [(".".join(map(str, path)), m) for path, m in nnx.iter_modules(module)
                    if isinstance(m, Dropout)]
        if key is None:
            key = jax.random.PRNGKey(0)
        try:
            for i, (name, m) in enumerate(dropouts):
                inj = (masks[name] if masks is not None and name in masks
                       else {"key": jax.random.fold_in(key, i)})
                object.__setattr__(m, "_injected", inj)
            logits = module(*inputs)
        finally:
            for _, m in dropouts:
                object.__setattr__(m, "_injected", None)
        stats = nnx.to_pure_dict(nnx.state(module, nnx.BatchStat)) if self.spec.state_names() \
            else {}
        return logits, stats

    # -- the objective, once for every network ------------------------------------------
    def objective(self, logits, y, ptree):
        """The spec's loss (optax's losses) plus its penalties on the nested params."""
        obj = self.spec.objective()
        loss = LOSSES[obj.loss](logits, y)
        n = logits.shape[0]
        for p in obj.penalties:
            for k in p.params:
                w = _leaf(ptree, self.NAMES.get(k, k))
                loss = loss + p.scale(n) * (jnp.sum(w * w) if p.kind == "l2"
                                            else jnp.sum(jnp.abs(w)))
        return loss

    def loss_state(self, ptree, stree, arrays, train=False, masks=None, key=None):
        """``(objective, (new batch stats, logits))`` of the batch ``arrays`` (its inputs
        and ``"y"``); differentiate w.r.t. ``ptree``."""
        inputs = tuple(arrays[k] for k in self.spec.inputs())
        logits, stats = self.apply_state(_merge(ptree, stree), inputs, train, masks, key)
        return self.objective(logits, arrays["y"], ptree), (stats, logits)

    def grad_fn(self, ptree, stree, arrays, train, masks, key):
        """``((objective, (stats, logits)), grads)``: the gradient of :meth:`loss_state`
        (``jax.value_and_grad``).  A kernel set computes the same by hand."""
        return jax.value_and_grad(self.loss_state, has_aux=True)(ptree, stree, arrays, train,
                                                                 masks, key)

    def device_arrays(self, arrays: dict) -> dict:
        """The device arrays of a checked batch (a kernel set may add layouts)."""
        return {k: jnp.asarray(v) for k, v in arrays.items()}

    def check_parallel(self) -> None:
        """Refuse data-parallel training where the network's step cannot be sharded (a
        kernel set overrides this)."""

    def _jitted(self, key, make):
        if key not in self._fns:
            self._fns[key] = make()
        return self._fns[key]

    def to_native(self, params):
        module = self.build(jnp.dtype(self.spec.check_params(params)), nnx.Rngs(0))
        graphdef, state = nnx.split(module)
        nnx.replace_by_pure_dict(state, self._tree(params))
        return nnx.merge(graphdef, state)

    def from_native(self, native):
        pure = nnx.to_pure_dict(nnx.state(native, nnx.Any(nnx.Param, nnx.BatchStat)))
        return self._flat(pure)

    def _tree(self, params):
        """Nested nnx variables of canonical ``params`` (renamed, permuted; tied copies
        dropped, the module reads their sources)."""
        tied = self.spec.tied()
        return nest({self.NAMES.get(k, k): self._native_array(k, v)
                     for k, v in params.items() if k not in tied})

    def _native_array(self, k, v):
        v = jnp.asarray(v)
        return jnp.transpose(v, self.LAYOUT[k]) if k in self.LAYOUT else v

    def _flat(self, tree, names=None) -> dict:
        """Canonical arrays of ``names`` (default: the whole table) found in the nested
        ``tree``; a tied copy is read from its source."""
        flat = flatten(tree)
        tied = self.spec.tied()
        out = {}
        for k in (names or self.spec.param_shapes()):
            src = tied.get(k, k)
            path = self.NAMES.get(src, src)
            if path in flat:
                v = flat[path]
                out[k] = jnp.transpose(v, np.argsort(self.LAYOUT[src])) if src in self.LAYOUT \
                    else v
        return out

    def _split(self, params):
        """Nested trainable params and nested state (batch stats)."""
        state = self.spec.state_names()
        return (self._tree({k: params[k] for k in self.spec.trainable()}),
                self._tree({k: params[k] for k in state}))

    # -- contract -----------------------------------------------------------------------
    def _forward(self, params, batch, *, train=False, masks=None):
        fwd = self._jitted(("forward", train), lambda: jax.jit(
            lambda t, xs, m: self.apply(t, xs, train, m)))
        inputs = tuple(jnp.asarray(a) for a in self.inputs(batch))
        return fwd(self._tree(params), inputs, _jnp_masks(masks))

    def _loss_and_grads(self, params, batch, *, train=False, masks=None):
        vg = self._jitted(("vg", train), lambda: jax.jit(
            lambda p, s, a, m: self.grad_fn(p, s, a, train, m, None)))
        ptree, stree = self._split(params)
        arrays = self.device_arrays({**{k: batch[k] for k in self.spec.inputs()},
                                     "y": np.asarray(batch["y"], np.int64)})
        (loss, _), grads = vg(ptree, stree, arrays, _jnp_masks(masks))
        return loss, self._flat(grads, self.spec.trainable())

    # -- optimizers ---------------------------------------------------------------------
    def optimizer(self, name: str, hyper: dict):
        """The optax transformation for canonical optimizer ``name``."""
        h = hyper
        lr = self.schedule(h["lr"])
        if name == "sgd":
            return optax.sgd(lr, momentum=h["momentum"] or None, nesterov=h["nesterov"])
        if name == "adam":
            tx = optax.adam(lr, b1=h["beta1"], b2=h["beta2"], eps=h["eps"])
            if h["weight_decay"]:  # torch's coupled L2: λ·p added to the gradient first
                tx = optax.chain(optax.add_decayed_weights(h["weight_decay"]), tx)
            return tx
        if name == "adamw":
            return optax.adamw(lr, b1=h["beta1"], b2=h["beta2"], eps=h["eps"],
                               weight_decay=h["weight_decay"])
        if name == "rmsprop":
            eps_in_sqrt = True if h["eps_in_sqrt"] is None else h["eps_in_sqrt"]
            return optax.rmsprop(lr, decay=h["rho"], eps=h["eps"], eps_in_sqrt=eps_in_sqrt)
        raise ValueError(f"optimizer {name!r} has no optax mapping")

    #: optax.exponential_decay divides the int32 step count by ``transition_steps``; an
    #: integer there makes the whole schedule float32 even under x64.  True passes it as
    #: a float64 scalar (set False to measure the difference).
    exact_schedules = True

    def schedule(self, lr):
        """The optax schedule for a :mod:`kernels.schedules` schedule (or the float)."""
        f = np.float64 if self.exact_schedules else int
        if isinstance(lr, schedules.StepDecay):
            return optax.exponential_decay(lr.lr0, f(lr.step_size), lr.gamma, staircase=True)
        if isinstance(lr, schedules.Exponential):
            return optax.exponential_decay(lr.lr0, f(lr.decay_steps), lr.rate,
                                           staircase=lr.staircase)
        if isinstance(lr, schedules.Cosine):
            return optax.cosine_decay_schedule(lr.lr0, lr.decay_steps, alpha=lr.alpha)
        if isinstance(lr, schedules.Schedule):
            raise ValueError(f"schedule {type(lr).__name__} has no optax mapping")
        return lr

    #: optax state field -> canonical prefix ("nu" depends on the optimizer)
    FIELDS = {"trace": "momentum/", "mu": "adam/mu/"}

    def _prefix(self, field, name):
        if field == "nu":
            return "rmsprop/nu/" if name == "rmsprop" else "adam/nu/"
        return self.FIELDS.get(field)

    def set_opt_state(self, opt_state, name: str, state: dict):
        """A fresh optax state with every buffer and count taken from canonical ``state``."""
        names = self.spec.trainable()

        def walk(node):
            if isinstance(node, tuple) and hasattr(node, "_fields"):
                new = {}
                for f in node._fields:
                    v = getattr(node, f)
                    prefix = self._prefix(f, name)
                    if f == "count":
                        new[f] = jnp.asarray(state["step"], dtype=v.dtype)
                    elif prefix is not None:
                        new[f] = self._tree({k: state[prefix + k] for k in names})
                    else:
                        new[f] = walk(v)
                return type(node)(**new)
            if isinstance(node, (tuple, list)):
                return type(node)(walk(v) for v in node)
            return node

        return walk(opt_state)

    def get_opt_state(self, opt_state, name: str) -> dict:
        """The canonical state read from an optax state."""
        out = {}

        def walk(node):
            if isinstance(node, tuple) and hasattr(node, "_fields"):
                for f in node._fields:
                    v = getattr(node, f)
                    prefix = self._prefix(f, name)
                    if f == "count":
                        out["step"] = np.array(v, dtype=np.int64)
                    elif prefix is not None:
                        for k, a in self._flat(v, self.spec.trainable()).items():
                            out[prefix + k] = np.asarray(a)
                    else:
                        walk(v)
            elif isinstance(node, (tuple, list)):
                for v in node:
                    walk(v)

        walk(opt_state)
        return out

    def step_fn(self, name: str, hyper: dict):
        """``(tx, step)``: the optax transformation and the pure training step
        ``step(ptree, stree, opt_state, arrays, masks, key) -> (ptree, stree, opt_state,
        metrics)`` (``stree``: batch stats; ``masks`` may be None)."""
        tx = self.optimizer(name, hyper)
        kind = self.spec.objective().loss
        has_stats = bool(self.spec.state_names())

        def step(ptree, stree, opt_state, arrays, masks, key):
            (loss, (stats, logits)), grads = self.grad_fn(ptree, stree, arrays, True, masks,
                                                          key)
            updates, opt_state = tx.update(grads, opt_state, ptree)
            return (optax.apply_updates(ptree, updates), stats if has_stats else stree,
                    opt_state, metrics(kind, logits, arrays["y"], loss))

        return tx, step

    def compiled(self, name: str, hyper: dict, what: str, steps: int | None = None):
        """``(tx, fn)`` for the trainer, jitted once per network, optimizer and run shape:
        ``what`` is ``"step"`` (one update), ``"repeat"`` (``steps`` updates on one
        batch, one ``lax.scan`` over the keys) or ``"scan"`` (one update per batch of a
        stacked run).  Params, batch stats and optimizer state are donated."""
        key = (what, name, tuple(sorted((k, repr(v)) for k, v in hyper.items())), steps)

        def make():
            tx, step = self.step_fn(name, hyper)
            if what == "step":
                return tx, jax.jit(step, donate_argnums=(0, 1, 2))

            def run(ptree, stree, opt_state, arrays, masks, keys):
                if what == "repeat":
                    def body(carry, k):
                        p, s, o, m = step(*carry, arrays, masks, k)
                        return (p, s, o), m["loss"]
                    carry, losses = jax.lax.scan(body, (ptree, stree, opt_state), keys)
                else:
                    def body(carry, amk):
                        p, s, o, m = step(*carry, *amk)
                        return (p, s, o), m["loss"]
                    carry, losses = jax.lax.scan(body, (ptree, stree, opt_state),
                                                 (arrays, masks, keys))
                return (*carry, losses)

            return tx, jax.jit(run, donate_argnums=(0, 1, 2))

        return self._jitted(key, make)


#: loss kind (models.Objective) -> optax's loss on ``(logits, y)``, the mean
def _masked_ce(z, y):
    keep = y != -100
    per = optax.softmax_cross_entropy_with_integer_labels(z, jnp.where(keep, y, 0))
    return jnp.sum(jnp.where(keep, per, 0)) / jnp.maximum(jnp.sum(keep), 1)  # none kept: 0


LOSSES = {
    "softmax_cross_entropy": lambda z, y: optax.softmax_cross_entropy_with_integer_labels(
        z, y).mean(),
    "sigmoid_cross_entropy": lambda z, y: optax.sigmoid_binary_cross_entropy(
        z[:, 0], y.astype(z.dtype)).mean(),
    "masked_cross_entropy": _masked_ce,
}


def metrics(kind: str, logits, y, loss) -> dict:
    """``{"loss", "correct", "count"}`` as JAX scalars (traceable)."""
    if kind == "sigmoid_cross_entropy":
        return {"loss": loss, "correct": jnp.sum((logits[:, 0] > 0) == (y == 1)),
                "count": jnp.asarray(y.shape[0])}
    keep = y != -100 if kind == "masked_cross_entropy" else jnp.ones(y.shape, bool)
    return {"loss": loss, "correct": jnp.sum((jnp.argmax(logits, -1) == y) & keep),
            "count": jnp.sum(keep)}


class Shards:
    """Where a data-parallel run's arrays live: a one-axis mesh ``"data"`` over the first
    ``n`` devices of every process (``jax.devices()``).  Host arrays become global arrays
    through ``make_array_from_callback``, so each process places only the shards it holds
    (one process or several under ``jax.distributed``)."""

    def __init__(self, n: int):
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        devices = jax.devices()
        if len(devices) < n:
            raise ContractError(
                f"devices={n}: JAX sees {len(devices)} {devices[0].platform} device(s); on "
                f"CPU simulate more with MLSANDBOX_CPU_DEVICES={n} (models.frameworks."
                f"cpu_devices) before JAX starts, or join processes with jax.distributed")
        self.n = n
        self.mesh = Mesh(np.array(devices[:n]), ("data",))
        self._sharding = lambda *axes: NamedSharding(self.mesh, PartitionSpec(*axes))

    def split(self, x, axis: int = 0):
        """``x`` (host) sharded along ``axis``."""
        x = np.asarray(x)
        sharding = self._sharding(*([None] * axis), "data")
        return jax.make_array_from_callback(x.shape, sharding, lambda i: x[i])

    def replicate(self, tree):
        """Every leaf of ``tree`` copied to every device of the mesh."""
        sharding = self._sharding()

        def put(v):
            a = np.asarray(v)
            return jax.make_array_from_callback(a.shape, sharding, lambda i: a[i])
        return jax.tree.map(put, tree)

    @staticmethod
    def local(tree):
        """``tree`` readable in this process: a replicated leaf's local copy."""
        return jax.tree.map(lambda v: v.addressable_data(0) if isinstance(v, jax.Array)
                            and not v.is_fully_addressable else v, tree)


class JaxTrainer(Trainer):
    """The JAX step: :meth:`JaxNetwork.step_fn` under ``jax.jit`` (state donated),
    dropout keys ``fold_in(PRNGKey(seed), step)``; full-batch runs and runs of
    equal-shaped batches fused in one ``lax.scan``.  With ``devices=N`` the same step
    runs on :class:`Shards`."""

    def _setup(self, params, opt_state):
        net = self.net
        self.shards = None
        if self.devices > 1:
            net.check_parallel()
            self.shards = Shards(self.devices)
        self.ptree, self.stree = net._split(params)
        tx, self._step_fn = net.compiled(self.optimizer, self.hyper, "step")
        self.opt = net.set_opt_state(tx.init(self.ptree), self.optimizer, opt_state)
        if self.shards is not None:
            self.ptree, self.stree, self.opt = self.shards.replicate(
                (self.ptree, self.stree, self.opt))
        self.key = jax.random.PRNGKey(self.seed)
        self._eval = net._jitted(("eval",), lambda: jax.jit(self._eval_fn))
        self._fwd = net._jitted(("predict",), lambda: jax.jit(
            lambda p, s, xs: net.apply(_merge(p, s), xs, False)))

    def _eval_fn(self, ptree, stree, arrays):
        loss, (_, logits) = self.net.loss_state(ptree, stree, arrays, False)
        return metrics(self.spec.objective().loss, logits, arrays["y"], loss)

    def _native(self, arrays, masks):
        if self.shards is None:
            return self.net.device_arrays(arrays), _jnp_masks(masks)
        n = next(iter(arrays.values())).shape[0]
        # a training batch is split; one that cannot be (evaluation) is replicated
        place = self.shards.split if n % self.devices == 0 else self.shards.replicate
        return ({k: place(v) for k, v in arrays.items()},
                None if masks is None else {k: place(v) for k, v in masks.items()})

    def _keys(self, step: int, n: int):
        return jax.vmap(lambda t: jax.random.fold_in(self.key, t))(jnp.arange(step, step + n))

    def _local(self, tree):
        return tree if self.shards is None else self.shards.local(tree)

    def _step(self, b, step):
        arrays, masks = b.native
        self.ptree, self.stree, self.opt, m = self._step_fn(
            self.ptree, self.stree, self.opt, arrays, masks, jax.random.fold_in(self.key, step))
        return self._local(m)

    def _run_repeat(self, b, steps, step):
        _, run = self.net.compiled(self.optimizer, self.hyper, "repeat", steps)
        arrays, masks = b.native
        self.ptree, self.stree, self.opt, losses = run(self.ptree, self.stree, self.opt,
                                                       arrays, masks, self._keys(step, steps))
        return np.asarray(self._local(losses))

    def _run_list(self, batches, step):
        if len({b.signature() for b in batches}) > 1:  # ragged: one jitted step each
            return np.asarray(jnp.stack([self._step(b, step + i)["loss"]
                                         for i, b in enumerate(batches)]))
        _, run = self.net.compiled(self.optimizer, self.hyper, "scan")
        stack = {k: np.stack([b.arrays[k] for b in batches]) for k in batches[0].arrays}
        mstack = None if batches[0].masks is None else {
            k: np.stack([b.masks[k] for b in batches]) for k in batches[0].masks}
        if self.shards is None:
            arrays, masks = self.net.device_arrays(stack), _jnp_masks(mstack)
        else:   # step axis first, then the sharded batch axis
            arrays = {k: self.shards.split(v, axis=1) for k, v in stack.items()}
            masks = None if mstack is None else {k: self.shards.split(v, axis=1)
                                                 for k, v in mstack.items()}
        self.ptree, self.stree, self.opt, losses = run(
            self.ptree, self.stree, self.opt, arrays, masks, self._keys(step, len(batches)))
        return np.asarray(self._local(losses))

    def _evaluate(self, b):
        return self._local(self._eval(self.ptree, self.stree, b.native[0]))

    def _predict(self, b):
        arrays = b.native[0]
        out = self._fwd(self.ptree, self.stree, tuple(arrays[k] for k in self.spec.inputs()))
        return self._local(out.block_until_ready())

    def _state(self):
        params = self.net._flat(self._local(_merge(self.ptree, self.stree)))
        return ({k: jax.device_get(v) for k, v in params.items()},
                self.net.get_opt_state(self._local(self.opt), self.optimizer))


JaxNetwork.Trainer = JaxTrainer


def _leaf(tree: dict, path: str):
    node = tree
    for part in path.split("."):
        node = node[part]
    return node


def _merge(a: dict, b: dict) -> dict:
    """Deep union of two nested dicts (trainable params and batch stats)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if k in out and isinstance(v, dict) else v
    return out


def _jnp_masks(masks):
    return None if masks is None else {k: jnp.asarray(v) for k, v in masks.items()}


def environment() -> dict:
    """What a timing of this backend depends on: versions, the device, XLA's flags."""
    import os

    import flax

    return {"backend": "jax", "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "jax_device": str(jax.devices()[0]),
            "xla_flags": os.environ.get("XLA_FLAGS", "")}
